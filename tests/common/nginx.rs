//! A real nginx for repository tests: serves one directory on 127.0.0.1 at a free port, with
//! a generated config, its own pid file, temp directories and access log; stopped on drop.
//! Works as root (`user root;`, so workers can read the test's private temp dirs) and as an
//! unprivileged user (no `user` directive, a high port, every path in the test's dir).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    /// The port it listens on.
    pub port: u16,
    scheme: &'static str,
}

/// The nginx binary (Debian installs it in /usr/sbin, which is not on every user's PATH).
fn binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("nginx")
}

/// A TCP port on 127.0.0.1 that nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

impl Nginx {
    /// Starts nginx serving `root` and waits until it accepts connections.
    pub fn serve(root: &Path) -> Nginx {
        Nginx::start(root, false, "")
    }

    /// As [`Nginx::serve`], with `extra` directives in the server block (`max_ranges 0;`
    /// makes it ignore Range headers and answer 200 with the whole file).
    pub fn serve_with(root: &Path, extra: &str) -> Nginx {
        Nginx::start(root, false, extra)
    }

    /// As [`Nginx::serve`], over TLS with a fresh self-signed certificate (made by openssl),
    /// which no client trusts.
    pub fn serve_tls(root: &Path) -> Nginx {
        Nginx::start(root, true, "")
    }

    fn start(root: &Path, tls: bool, extra: &str) -> Nginx {
        // A port found free can be taken by someone else before nginx binds it: retry.
        for _ in 0..5 {
            if let Some(n) = Nginx::try_serve(root, tls, extra) {
                return n;
            }
        }
        panic!("nginx did not start (see the error log printed above)");
    }

    fn try_serve(root: &Path, tls: bool, extra: &str) -> Option<Nginx> {
        let dir = tempfile::Builder::new()
            .prefix("berth-nginx-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let port = free_port();
        let user = if nix::unistd::geteuid().is_root() {
            "user root;"
        } else {
            ""
        };
        let listen = if tls {
            let ok = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(d.join("key.pem"))
                .arg("-out")
                .arg(d.join("cert.pem"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run openssl (apt-get install openssl)")
                .success();
            assert!(ok, "openssl could not make a certificate");
            format!(
                "listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;",
                d = d.display()
            )
        } else {
            format!("listen 127.0.0.1:{port};")
        };
        let conf = format!(
            r#"{user}
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format berth '$status $request_method $uri $body_bytes_sent range=$http_range';
    access_log {d}/access.log berth;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/octet-stream;
    types {{ application/json json; }}
    sendfile on;
    server {{
        {listen}
        root {root};
        {extra}
        location / {{ }}
    }}
}}
"#,
            d = d.display(),
            root = root.display(),
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let child = Command::new(binary())
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx (apt-get install nginx)");
        let scheme = if tls { "https" } else { "http" };
        let mut n = Nginx {
            child,
            dir,
            port,
            scheme,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = n.child.try_wait() {
                eprintln!("nginx exited:\n{}", n.error_log());
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(n);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("nginx did not listen in time:\n{}", n.error_log());
        None
    }

    /// `http://127.0.0.1:PORT/` (`https://` for [`Nginx::serve_tls`]).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/", self.scheme, self.port)
    }

    /// The error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Every logged request as (status, method, uri, body bytes sent).
    pub fn requests(&self) -> Vec<(u16, String, String, u64)> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[0].parse().unwrap(),
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].parse().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Logged requests whose URI ends with `suffix`, as (status, bytes sent, the Range
    /// header asked, if any).
    pub fn ranges(&self, suffix: &str) -> Vec<(u16, u64, Option<String>)> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f[2].ends_with(suffix))
            .map(|f| {
                let range = f
                    .get(4)
                    .and_then(|r| r.strip_prefix("range="))
                    .filter(|r| !r.is_empty() && *r != "-")
                    .map(str::to_string);
                (f[0].parse().unwrap(), f[3].parse().unwrap_or(0), range)
            })
            .collect()
    }

    /// Logged requests whose URI ends with `suffix`, as (status, bytes sent).
    pub fn hits(&self, suffix: &str) -> Vec<(u16, u64)> {
        self.requests()
            .into_iter()
            .filter(|r| r.2.ends_with(suffix))
            .map(|r| (r.0, r.3))
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        // SIGTERM: fast shutdown of the master and its workers.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
