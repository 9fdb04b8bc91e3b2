//! Real Debian services side by side (issue 22, points 1, 2 and 5): `berth run --isolate P`
//! with no command runs the systemd unit a profile's .deb ships, with its state directories
//! bound per profile, its runtime directory in the profile's own /run and its users in the
//! view's /etc/passwd. Two versions of nginx serve at once with only nginx.conf edited; two
//! versions of redis keep their data across an upgrade and a rollback and stop cleanly on
//! SIGTERM. A hostile unit or tmpfiles.d line is one error line, and nothing is made.

use crate::common::have;
use crate::common::isolate::needs_root;
use crate::common::native::{build_deb, debian_deb, Deb};
use crate::common::nginx::free_port;
use crate::common::Env;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const NGINX: [&str; 2] = ["1.22.1-9+deb12u9", "1.22.1-9+deb12u12"];
const REDIS: [&str; 2] = ["5:7.0.15-1~deb12u7", "5:7.0.15-1~deb12u10"];

/// The .debs, fetched once into the shared cache; None (a skip) when the mirror has none.
fn debs(test: &str, wanted: &[(&str, &str)]) -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (n, v) in wanted {
        match debian_deb(n, v) {
            Ok(p) => out.push(p),
            Err(why) => {
                eprintln!("SKIP {test}: cannot `apt-get download {n}={v}`: {why}");
                return None;
            }
        }
    }
    Some(out)
}

/// `berth [-v] run --isolate PROFILE` with no command, in the background.
fn service(env: &Env, profile: &str) -> Child {
    env.cmd(&["-v", "run", "--isolate", profile])
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth run")
}

/// Sends `request` to 127.0.0.1:`port` once it accepts, and returns the answer.
fn ask(port: u16, request: &str, child: &mut Child) -> String {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the service ended ({st}) before it answered on port {port}:\n{err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing answered on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM to berth (which passes it on); its exit status and stderr.
fn stop(child: Child) -> (i32, String) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn two_nginx_versions_serve_at_once_from_their_units_with_only_nginx_conf_edited() {
    let test = "two_nginx_versions_serve_at_once";
    // As a real operator runs them: as root, with the profile's own id range (a user
    // namespace of one uid cannot hold nginx's www-data or redis's own user).
    if needs_root(test) {
        return;
    }
    let wanted: Vec<(&str, &str)> = NGINX
        .iter()
        .flat_map(|v| [("nginx", *v), ("nginx-common", *v)])
        .collect();
    let Some(files) = debs(test, &wanted) else {
        return;
    };
    let env = Env::new();
    for f in &files {
        env.install(f, &[]);
    }
    let host_pid = Path::new("/run/nginx.pid").exists();
    let mut running = Vec::new();
    for (profile, v) in [("a", NGINX[0]), ("b", NGINX[1])] {
        env.run(&[
            "use",
            profile,
            &format!("nginx@{v}"),
            &format!("nginx-common@{v}"),
        ])
        .ok();
        let port = free_port();
        let conf = env
            .root()
            .join(format!("etc/{profile}/nginx-common/etc/nginx/nginx.conf"));
        edit(
            &conf,
            "include /etc/nginx/sites-enabled/*;",
            &format!(
                "server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"{v}\\n\"; }} }}"
            ),
        );
        running.push((profile, v, port, service(&env, profile)));
    }
    for (profile, v, port, child) in &mut running {
        let answer = ask(*port, "GET / HTTP/1.0\r\n\r\n", child);
        assert!(
            answer.contains("200 OK") && answer.ends_with(&format!("{v}\n")),
            "{profile}: {answer}"
        );
        let pid = env
            .root()
            .join(format!("run/profiles/{profile}/run/nginx.pid"));
        assert!(pid.is_file(), "{profile} has no /run/nginx.pid of its own");
        let state = env
            .root()
            .join(format!("var/{profile}/nginx-common/var/lib/nginx/body"));
        assert!(state.is_dir(), "nginx made no {}", state.display());
    }
    assert_eq!(
        Path::new("/run/nginx.pid").exists(),
        host_pid,
        "the host's /run/nginx.pid changed"
    );
    for (profile, _, port, child) in running {
        let (code, err) = stop(child);
        assert_eq!(code, 0, "{profile}: {err}");
        assert!(
            err.contains("unit nginx.service of nginx-common@"),
            "{profile}: -v says not where from:\n{err}"
        );
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{profile} still listens"
        );
    }

    // Upgrade a to b's release, then roll back: the operator's nginx.conf is kept through
    // both, and each time the release that runs is the profile's.
    let conf = env.root().join("etc/a/nginx-common/etc/nginx/nginx.conf");
    let edited = std::fs::read_to_string(&conf).unwrap();
    for (args, v) in [
        (
            vec![
                "use".to_string(),
                "a".into(),
                format!("nginx@{}", NGINX[1]),
                format!("nginx-common@{}", NGINX[1]),
            ],
            NGINX[1],
        ),
        (vec!["rollback".to_string(), "a".into()], NGINX[0]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run(&args).ok();
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), edited);
        let port = edited
            .split("listen 127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap();
        let mut child = service(&env, "a");
        let answer = ask(port, "GET / HTTP/1.0\r\n\r\n", &mut child);
        // The body is the version the edit names (a's first release); the running binary
        // is the profile's current one.
        assert!(answer.contains("200 OK"), "{answer}");
        let running = env
            .run(&["run", "--isolate", "a", "--", "nginx", "-v"])
            .ok();
        assert!(
            running.stderr.contains("nginx version: nginx/1.22.1"),
            "{running}"
        );
        let listed = env.run(&["list", "--json"]).ok().stdout;
        assert!(listed.contains(v), "{listed}");
        assert_eq!(stop(child).0, 0);
    }
}

#[test]
fn redis_keeps_its_data_across_upgrade_and_rollback_and_stops_on_sigterm() {
    let test = "redis_keeps_its_data_across_upgrade_and_rollback";
    // As a real operator runs them: as root, with the profile's own id range (a user
    // namespace of one uid cannot hold nginx's www-data or redis's own user).
    if needs_root(test) {
        return;
    }
    let mut wanted: Vec<(&str, &str)> = vec![("liblzf1", ""), ("libjemalloc2", "")];
    wanted.extend(
        REDIS
            .iter()
            .flat_map(|v| [("redis-server", *v), ("redis-tools", *v)]),
    );
    let Some(files) = debs(test, &wanted) else {
        return;
    };
    let env = Env::new();
    for f in &files {
        env.install(f, &[]);
    }
    let use_version = |v: &str| {
        env.run(&[
            "use",
            "r",
            "liblzf1",
            "libjemalloc2",
            &format!("redis-server@{v}"),
            &format!("redis-tools@{v}"),
        ])
        .ok();
    };
    use_version(REDIS[0]);
    let port = free_port();
    // Only redis.conf is edited; the user redis and its directories come from redis's own
    // maintainer scripts, run confined at `use` (no add-on package, no --cap).
    let conf = PathBuf::from(
        env.run(&["config", "path", "r", "/etc/redis/redis.conf"])
            .ok()
            .stdout
            .trim(),
    );
    edit(&conf, "\nport 6379\n", &format!("\nport {port}\n"));
    let mut child = service(&env, "r");
    assert!(ask(port, "SET greeting hello\r\n", &mut child).starts_with("+OK"));
    assert!(ask(port, "SAVE\r\n", &mut child).starts_with("+OK"));
    let (code, err) = stop(child);
    assert_eq!(code, 0, "redis did not stop cleanly on SIGTERM: {err}");
    assert!(
        err.contains("unit redis-server.service of redis-server@"),
        "{err}"
    );
    // redis-tools' postinst makes /var/lib/redis (redis:redis 0750): its state.
    let data = env.root().join("var/r/redis-tools/var/lib/redis");
    assert!(
        data.join("dump.rdb").is_file(),
        "no dump.rdb in {}",
        data.display()
    );

    use_version(REDIS[1]);
    let mut child = service(&env, "r");
    assert!(
        ask(port, "GET greeting\r\n", &mut child).contains("hello"),
        "data lost at the upgrade"
    );
    assert!(ask(port, "SET greeting again\r\n", &mut child).starts_with("+OK"));
    assert_eq!(stop(child).0, 0);

    env.run(&["rollback", "r"]).ok();
    let mut child = service(&env, "r");
    let answer = ask(port, "GET greeting\r\n", &mut child);
    assert!(
        answer.contains("again"),
        "data lost at the rollback: {answer}"
    );
    let info = ask(port, "INFO server\r\n", &mut child);
    assert!(info.contains("redis_version:7.0.15"), "{info}");
    assert_eq!(stop(child).0, 0);
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains(&format!("port {port}")));
}

/// A .deb shipping `files` (a unit, a tmpfiles.d snippet) in profile `p`; `berth run
/// --isolate p` fails with one error line containing `needle`, and makes nothing.
fn refused(files: &[(&str, u32, &[u8])], needle: &str) {
    let env = Env::new();
    let deb = build_deb(
        env.dir(),
        "bad",
        "1.0",
        &Deb {
            compression: "xz",
            files,
            ..Deb::default()
        },
    );
    env.install(&deb, &[]);
    env.run(&["use", "p", "bad@1.0"]).ok();
    let before = crate::common::fs::walk(env.root())
        .into_keys()
        .collect::<Vec<_>>();
    let out = env
        .cmd(&["run", "--isolate", "p"])
        .current_dir("/")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "accepted: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(needle),
        "`{needle}` not in the error line: {err}"
    );
    let after = crate::common::fs::walk(env.root())
        .into_keys()
        .collect::<Vec<_>>();
    assert_eq!(before, after, "something was made");
}

const UNIT: &str = "lib/systemd/system/bad.service";

/// Files a test .deb ships: (path, mode, content).
type Files<'a> = &'a [(&'a str, u32, &'a [u8])];

#[test]
fn hostile_units_and_tmpfiles_are_one_error_line_and_nothing_is_made() {
    if !have("dpkg-deb", "hostile units") {
        return;
    }
    let cases: [(Files, &str); 7] = [
        (
            &[(UNIT, 0o644, b"[Service]\nExecStart=/bin/sh -c 'echo x'\n")],
            "ExecStart `/bin/sh` is not a program of the profile",
        ),
        (
            &[(UNIT, 0o644, b"[Service]\nExecStart=usr/bin/bad\n")],
            "bad.service:2: ExecStart=usr/bin/bad: the program must be absolute",
        ),
        (
            &[(UNIT, 0o644, b"[Service]\nExecStart=/usr/bin/../../bin/sh\n")],
            "`..`",
        ),
        (
            &[(
                UNIT,
                0o644,
                b"[Service]\nExecStart=/usr/bin/bad\nUser=no-such-user-berth\n",
            )],
            "unknown user `no-such-user-berth`",
        ),
        (
            &[(
                UNIT,
                0o644,
                b"[Service]\nExecStart=/usr/bin/bad\nRuntimeDirectory=../../etc\n",
            )],
            "bad.service:3: RuntimeDirectory=../../etc",
        ),
        (
            &[(
                "usr/lib/tmpfiles.d/bad.conf",
                0o644,
                b"d /etc/evil 0755 root root -\n",
            )],
            "bad.conf:1: tmpfiles.d path `/etc/evil` is outside /var and /run",
        ),
        (
            &[(
                "usr/lib/tmpfiles.d/bad.conf",
                0o644,
                b"d /var/../etc 0755\n",
            )],
            "bad.conf:1",
        ),
    ];
    for (files, needle) in cases {
        refused(files, needle);
    }
}

#[test]
fn several_units_need_service_to_pick_one_and_an_unknown_pick_lists_them() {
    if !have("dpkg-deb", "several units") {
        return;
    }
    let env = Env::new();
    let files: &[(&str, u32, &[u8])] = &[
        (
            "lib/systemd/system/one.service",
            0o644,
            b"[Service]\nExecStart=/usr/bin/two one\n",
        ),
        (
            "lib/systemd/system/two.service",
            0o644,
            b"[Service]\nExecStart=/usr/bin/two two\n",
        ),
    ];
    let deb = build_deb(
        env.dir(),
        "two",
        "1.0",
        &Deb {
            compression: "xz",
            files,
            ..Deb::default()
        },
    );
    env.install(&deb, &[]);
    env.run(&["use", "p", "two@1.0"]).ok();
    let err = env.fails(&["run", "p"], 2);
    assert!(
        err.contains("one (unit one.service of two@1.0)") && err.contains("two (unit two.service"),
        "{err}"
    );
    assert!(err.contains("--service"), "{err}");
    let err = env.fails(&["run", "p", "--service", "three"], 2);
    assert!(err.contains("no service `three`"), "{err}");
    // Picked by name, -v says which and from where (without --isolate the host has no
    // /usr/bin/two, so the command itself is not found: 127).
    let out = env.run(&["-v", "run", "p", "--service", "one"]);
    assert!(
        out.stderr
            .contains("runs the service one (unit one.service of two@1.0)"),
        "{}",
        out.stderr
    );
}
