//! Helpers for the operations around a switch (tests/it/health.rs, service.rs, snapshot.rs):
//! profile files recorded with `use --spec`, a small real HTTP service packaged in
//! versions (one of them broken), its restart command, a guard that kills what the restart
//! command started (also when the test panics), and an HTTP client (curl).

use super::nginx::free_port;
use super::Env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter of the test service (the system's, so the unprivileged CI user has it).
pub const PYTHON: &str = "/usr/bin/python3";

impl Env {
    /// Writes the profile file `<scratch>/<name>` and returns its path.
    pub fn spec_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `berth use PROFILE REFS... --spec FILE`.
    pub fn use_with_spec(&self, profile: &str, refs: &[&str], spec: &Path) -> super::Run {
        let mut a = vec!["use", profile];
        a.extend_from_slice(refs);
        a.extend_from_slice(&["--spec", spec.to_str().unwrap()]);
        self.run(&a)
    }

    /// Installs `svc@<version>`: `bin/svc PORT` serves `GET /version` (the version) and
    /// `GET /health` (200 "ok", or 500 "broken" when `broken`) on 127.0.0.1.
    pub fn http_service(&self, version: &str, broken: bool) {
        let script = format!(
            "#!{PYTHON}\n\
             import http.server, sys\n\
             VERSION = {version:?}\n\
             BROKEN = {}\n\
             class H(http.server.BaseHTTPRequestHandler):\n\
             \x20   def do_GET(self):\n\
             \x20       if self.path == '/health':\n\
             \x20           code, body = (500, 'broken') if BROKEN else (200, 'ok')\n\
             \x20       elif self.path == '/version':\n\
             \x20           code, body = 200, VERSION\n\
             \x20       else:\n\
             \x20           code, body = 404, 'no such page'\n\
             \x20       self.send_response(code)\n\
             \x20       self.send_header('Content-Type', 'text/plain')\n\
             \x20       self.end_headers()\n\
             \x20       self.wfile.write((body + '\\n').encode())\n\
             \x20   def log_message(self, *args):\n\
             \x20       pass\n\
             http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n",
            if broken { "True" } else { "False" }
        );
        self.package("svc", version, &[("bin/svc*", script.as_bytes())]);
    }
}

/// The service a test runs: its port, and where its restart command keeps the pid. Kills
/// the running instance when dropped, so nothing outlives the test (also on a panic).
pub struct Service {
    /// The port it listens on.
    pub port: u16,
    pidfile: PathBuf,
    log: PathBuf,
}

impl Service {
    /// A service on a free port, with its pid file and log in the scratch directory.
    pub fn new(env: &Env) -> Service {
        Service {
            port: free_port(),
            pidfile: env.dir().join("svc.pid"),
            log: env.dir().join("svc.log"),
        }
    }

    /// The `[service] restart` command: stop the running instance (waiting until it is
    /// gone, so the port is free), start `svc PORT` from the profile (its `bin/` is first on
    /// PATH) in the background with its output in a log file, note its pid.
    pub fn restart_command(&self) -> String {
        let pf = self.pidfile.display();
        format!(
            "if [ -s {pf} ]; then old=$(cat {pf}); kill $old 2>/dev/null; i=0; \
             while kill -0 $old 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; fi; \
             svc {port} >>{log} 2>&1 & echo $! > {pf}",
            port = self.port,
            log = self.log.display()
        )
    }

    /// The `[service] health` command: curl fails on an HTTP error status.
    pub fn health_command(&self) -> String {
        format!("curl -fsS -m 2 http://127.0.0.1:{}/health", self.port)
    }

    /// A profile file for `profile` with this service, its restart and health check.
    pub fn spec(&self, profile: &str, health_timeout: &str) -> String {
        format!(
            "profile = \"{profile}\"\n\
             [service]\n\
             exec = \"svc {port}\"\n\
             restart = '{restart}'\n\
             health = '{health}'\n\
             health_timeout = \"{health_timeout}\"\n",
            port = self.port,
            restart = self.restart_command(),
            health = self.health_command(),
        )
    }

    /// `GET path` with curl: the body, or `None` when the request fails.
    pub fn get(&self, path: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-fsS", "-m", "5"])
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("run curl");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `GET path`, retried for a few seconds while the service starts.
    pub fn get_eventually(&self, path: &str) -> Option<String> {
        for _ in 0..100 {
            if let Some(b) = self.get(path) {
                return Some(b);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// `systemd-analyze verify UNIT`: exit status and what it printed.
pub fn systemd_verify(unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("run systemd-analyze");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
