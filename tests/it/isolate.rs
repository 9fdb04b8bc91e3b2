//! `berth run --isolate`: each profile sees its own versions at their usual paths, with its
//! config and data, without privileges it did not ask for; the host never changes; gc
//! defers entries a running isolated process uses; every refusal is one clear error.

use crate::common;

use crate::common::isolate::*;
use crate::common::{Env, Run};
use std::path::Path;

#[test]
fn two_profiles_run_their_own_version_at_the_same_time_and_the_host_never_changes() {
    if needs_isolation("two_profiles_run_their_own_version_at_the_same_time") {
        return;
    }
    let usr = (names(Path::new("/usr/bin")), names(Path::new("/usr/share")));
    let mounts_before = mountinfo();
    let e = Env::new();
    two_profiles(&e);
    let mut a = Shell::start(&e, "a");
    // The shell is the command of its own PID namespace, whose PID 1 is berth's init.
    assert_eq!(a.inner_pid, 2);
    assert_eq!(a.ask("cat /usr/share/app/VERSION"), "1.0");
    assert_eq!(a.ask("app"), "app 1.0");
    let b = isolated(
        &e,
        &["b", "--", "sh", "-c", "cat /usr/share/app/VERSION; app"],
    )
    .ok();
    assert_eq!(b.stdout, "2.0\napp 2.0\n");
    // The first one still sees its own version while the second ran beside it.
    assert_eq!(a.ask("app"), "app 1.0");
    assert_eq!(a.ask("cat /etc/app/app.conf"), "setting = 1.0");
    // The host's own directories are visible below the packages.
    assert_eq!(a.ask("test -x /bin/sh && echo yes"), "yes");
    let hold = e.root().join("run").join(a.pid.to_string());
    let text = std::fs::read_to_string(&hold).unwrap();
    assert!(text.contains("app-1.0-"), "{text}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // berth passed the signal on, and exits as a shell reports a command killed by it.
    // (Waited for with its stdin still open: the signal, not the end of input, ends it.)
    assert_eq!(a.child.wait().unwrap().code(), Some(128 + 15));
    assert_eq!(
        (names(Path::new("/usr/bin")), names(Path::new("/usr/share"))),
        usr
    );
    for p in ["/usr/share/app", "/usr/bin/app", "/etc/app", "/var/lib/app"] {
        assert!(!Path::new(p).exists(), "{p} appeared on the host");
    }
    no_leftover_mounts(&e, &mounts_before);
}

#[test]
fn service_runs_when_no_command_is_given() {
    if needs_isolation("service_runs_when_no_command_is_given") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    assert_eq!(isolated(&e, &["b"]).ok().stdout, "app 2.0\n");
}

#[test]
fn as_nobody_every_capability_is_gone_and_no_new_privs_is_set() {
    if needs_root("as_nobody_every_capability_is_gone_and_no_new_privs_is_set") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let r = isolated(
        &e,
        &["a", "--user", "nobody", "--", "cat", "/proc/self/status"],
    )
    .ok();
    for f in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&r.stdout, f), 0, "{f}:\n{}", r.stdout);
    }
    assert_eq!(status_field(&r.stdout, "NoNewPrivs"), 1);
    let line = |f: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(f))
            .unwrap()
            .to_string()
    };
    assert!(line("Uid:")
        .split_whitespace()
        .skip(1)
        .all(|v| v == "65534"));
    // Supplementary groups are nobody's own, none of root's.
    let groups = line("Groups:");
    assert!(!groups.split_whitespace().any(|g| g == "0"), "{groups}");
}

#[test]
fn cap_keeps_only_that_capability_and_it_works() {
    if needs_root("cap_keeps_only_that_capability_and_it_works") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let args = ["a", "--user", "nobody", "--cap", "CHOWN", "--"];
    let mut a = args.to_vec();
    a.extend(["cat", "/proc/self/status"]);
    let r = isolated(&e, &a).ok();
    let bit = 1u64; // CAP_CHOWN
    for f in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&r.stdout, f), bit, "{f}:\n{}", r.stdout);
    }
    // The kept capability is real inside: nobody may give its file to root with it, not
    // without.
    let script = |f: &str| format!("touch /tmp/{f} && chown 0 /tmp/{f} && stat -c %u /tmp/{f}");
    let mut with = args.to_vec();
    let s = script("with");
    with.extend(["sh", "-c", &s]);
    assert_eq!(isolated(&e, &with).ok().stdout, "0\n");
    let s = script("without");
    let without = isolated(&e, &["a", "--user", "nobody", "--", "sh", "-c", &s]);
    assert_ne!(without.code, 0);
    assert!(
        without.stderr.contains("Operation not permitted"),
        "{without}"
    );
    // NET_BIND_SERVICE cannot work in the instance's own user namespace: refused, saying
    // what does.
    let r = isolated(&e, &["a", "--cap", "NET_BIND_SERVICE", "--", "true"]);
    assert_eq!(r.code, 8, "{r}");
    assert!(r.stderr.contains("ip_unprivileged_port_start"), "{r}");
}

#[test]
fn the_package_tree_is_read_only_even_for_root() {
    if needs_isolation("the_package_tree_is_read_only_even_for_root") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let entry = common::children(&e.store())
        .into_iter()
        .find(|n| n.starts_with("app-1.0-"))
        .unwrap();
    let store_file = e.store().join(&entry).join("usr/share/app/VERSION");
    let script = format!(
        "echo x > /usr/share/app/VERSION; echo x > {f}; touch {d}/new; chmod u+w {d}; \
         rm /usr/bin/app; true",
        f = store_file.display(),
        d = e.store().join(&entry).display()
    );
    let r = isolated(&e, &["a", "--", "sh", "-c", &script]).ok();
    // The store is bound read-only at its path; here the root is under /tmp, so it is
    // behind the profile's private /tmp: not even visible.
    assert_eq!(r.stderr.matches("Read-only file system").count(), 2, "{r}");
    assert_eq!(
        r.stderr
            .matches(&store_file.parent().unwrap().display().to_string())
            .count(),
        1,
        "{r}"
    );
    assert_eq!(std::fs::read_to_string(&store_file).unwrap(), "1.0\n");
    assert!(!e.store().join(&entry).join("new").exists());
    e.run(&["verify"]).ok();
}

#[test]
fn config_and_data_persist_across_a_switch_and_back() {
    if needs_isolation("config_and_data_persist_across_a_switch_and_back") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let edit = "echo 'edited = yes' >> /etc/app/app.conf; cat /var/lib/app/seed; echo kept > /var/lib/app/data";
    assert_eq!(
        isolated(&e, &["a", "--", "sh", "-c", edit]).ok().stdout,
        "seed\n"
    );
    let conf = e.root().join("etc/a/app/etc/app/app.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "setting = 1.0\nedited = yes\n"
    );
    let data = e.root().join("var/a/app/var/lib/app/data");
    assert_eq!(std::fs::read_to_string(&data).unwrap(), "kept\n");
    let show = [
        "a",
        "--",
        "sh",
        "-c",
        "app; cat /etc/app/app.conf /var/lib/app/data",
    ];
    e.run(&["use", "a", "app@2.0"]).ok();
    assert_eq!(
        isolated(&e, &show).ok().stdout,
        "app 2.0\nsetting = 1.0\nedited = yes\nkept\n"
    );
    e.run(&["rollback", "a"]).ok();
    assert_eq!(
        isolated(&e, &show).ok().stdout,
        "app 1.0\nsetting = 1.0\nedited = yes\nkept\n"
    );
    // Profile b has its own, seeded from its own version.
    assert_eq!(
        isolated(&e, &["b", "--", "cat", "/etc/app/app.conf"])
            .ok()
            .stdout,
        "setting = 2.0\n"
    );
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&conf), 0o644);
    assert_eq!(mode(&e.root().join("var/a/app/var/lib/app")), 0o755);
}

#[test]
fn gc_defers_the_entries_of_a_running_isolated_process() {
    if needs_isolation("gc_defers_the_entries_of_a_running_isolated_process") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let mut a = Shell::start(&e, "a");
    e.run(&["use", "a", "app@2.0"]).ok();
    e.run(&["generations", "a", "--delete", "1"]).ok();
    let human = e.run(&["gc", "--grace", "0", "--dry-run"]).ok();
    assert!(human.stdout.contains("deferred app@1.0"), "{human}");
    let r = e.json(&["gc", "--grace", "0"]);
    assert_eq!(r["entries"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["deferred"][0]["entry"], "app@1.0");
    assert_eq!(r["deferred"][0]["pids"][0], a.pid);
    let refused = e.run(&["remove", "app@1.0"]).code(4);
    assert!(
        refused.stderr.contains(&format!(
            "app@1.0 is used by running isolated process {}",
            a.pid
        )),
        "{refused}"
    );
    assert_eq!(a.ask("app"), "app 1.0");
    assert!(a.finish().success());
    let r = e.json(&["gc", "--grace", "0"]);
    assert_eq!(r["entries"][0]["version"], "1.0", "{r}");
    assert_eq!(r["deferred"].as_array().unwrap().len(), 0);
    // The hold file went with the process's lock (removed as stale by gc).
    assert!(common::children(&e.root().join("run"))
        .iter()
        .all(|n| n == "mnt" || n == "profiles"));
    e.run(&["check"]).ok();
}

#[test]
fn many_layers_mount_with_both_overlay_apis() {
    if needs_isolation("many_layers_mount_with_both_overlay_apis") {
        return;
    }
    let e = Env::new();
    let mut files = Vec::new();
    for i in 0..60 {
        let name = format!("layer{i}");
        let content = format!("{i}\n");
        let src = e.source(
            &name,
            "1",
            &[(&format!("usr/share/{name}/n"), content.as_bytes())],
        );
        files.push(e.pack(&src));
    }
    let mut args = vec!["install".to_string()];
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    e.run(&args).ok();
    let mut use_args = vec!["use".to_string(), "many".to_string()];
    use_args.extend((0..60).map(|i| format!("layer{i}")));
    let use_args: Vec<&str> = use_args.iter().map(String::as_str).collect();
    e.run(&use_args).ok();
    let script = "cat /usr/share/layer0/n /usr/share/layer59/n; ls /usr/share | grep -c '^layer'";
    for api in ["", "legacy"] {
        let out = e
            .cmd(&["run", "--isolate", "many", "--", "sh", "-c", script])
            .env("BERTH_OVERLAY_API", api)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "0\n59\n60\n",
            "api {api:?}"
        );
    }
}

#[test]
fn user_without_isolate_drops_privileges_too() {
    if needs_root("user_without_isolate_drops_privileges_too") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let out = e
        .cmd(&[
            "run",
            "a",
            "--user",
            "nobody",
            "--",
            "sh",
            "-c",
            "id -u; grep CapEff /proc/self/status",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "65534\nCapEff:\t0000000000000000\n"
    );
}

#[test]
fn a_root_under_an_overlaid_directory_still_binds_its_own_files() {
    if needs_isolation("a_root_under_an_overlaid_directory_still_binds_its_own_files") {
        return;
    }
    // The package ships var/, so /var is overlaid; the root lives in /var/tmp, beneath it.
    // Config, data and the read-only store must come from the real root, not the overlay.
    let e = Env::new();
    let pkg = app(&e, "app", "1.0", true);
    let under_var = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = under_var.path().join("root");
    let berth = |args: &[&str]| {
        let out = Run::of(e.cmd_at(&root, args).current_dir("/"));
        assert!(out.success(), "{args:?}: {out}");
        out.stdout
    };
    berth(&["install", pkg.to_str().unwrap()]);
    berth(&["use", "a", "app"]);
    let script = "app; cat /etc/app/app.conf; echo z > /var/lib/app/z; \
                  echo w > /usr/share/app/VERSION 2>/dev/null || echo read-only";
    let out = berth(&["run", "--isolate", "a", "--", "sh", "-c", script]);
    assert_eq!(out, "app 1.0\nsetting = 1.0\nread-only\n");
    assert_eq!(
        std::fs::read_to_string(root.join("var/a/app/var/lib/app/z")).unwrap(),
        "z\n"
    );
    common::make_writable(under_var.path());
}

// ---- issue 21: the instance is a boundary (each fails on a plain mount namespace) ----

#[test]
fn kernel_tunables_are_read_only_inside() {
    if needs_root("kernel_tunables_are_read_only_inside") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    // Writes the value it has (harmless even where it works).
    let script = "cat /proc/sys/kernel/core_pattern > /tmp/cp; \
                  cat /tmp/cp > /proc/sys/kernel/core_pattern && echo wrote; \
                  echo 1 > /sys/kernel/uevent_helper 2>/dev/null || echo sys-refused";
    let r = isolated(&e, &["a", "--", "sh", "-c", script]);
    assert!(!r.stdout.contains("wrote"), "{r}");
    assert!(r.stdout.contains("sys-refused"), "{r}");
    assert!(r.stderr.contains("Read-only file system"), "{r}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

#[test]
fn host_files_outside_the_view_are_read_only_even_for_root_inside() {
    if needs_root("host_files_outside_the_view_are_read_only_even_for_root_inside") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let host = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let file = host.path().join("owned-by-root");
    std::fs::write(&file, "host\n").unwrap();
    let script = format!(
        "echo inside >> {f} || echo refused; touch {d}/new || echo refused",
        f = file.display(),
        d = host.path().display()
    );
    let r = isolated(&e, &["a", "--", "sh", "-c", &script]);
    assert_eq!(r.stdout, "refused\nrefused\n", "{r}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "host\n");
    assert!(!host.path().join("new").exists());
}

#[test]
fn the_berth_root_is_neither_writable_nor_visible_inside() {
    if needs_root("the_berth_root_is_neither_writable_nor_visible_inside") {
        return;
    }
    // A root outside /tmp (which is private inside): hidden by a read-only tmpfs.
    let e = Env::new();
    let pkg = app(&e, "app", "1.0", true);
    let under_var = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = under_var.path().join("root");
    let berth = |args: &[&str]| {
        std::process::Command::new(common::BERTH)
            .args(["--root", root.to_str().unwrap()])
            .args(args)
            .current_dir("/")
            .env_remove("BERTH_PROFILE")
            .output()
            .unwrap()
    };
    assert!(berth(&["install", pkg.to_str().unwrap()]).status.success());
    assert!(berth(&["use", "a", "app"]).status.success());
    let shim = root.join("libexec/berth-shim");
    let shim_before = std::fs::read(&shim).unwrap();
    let script = format!(
        "ls {r}; echo x >> {s} || echo refused; touch {r}/profiles/x || echo refused; \
         test -e {r}/profiles || echo hidden; ls {r}/store | grep -c app-1.0",
        r = root.display(),
        s = shim.display()
    );
    let out = berth(&["run", "--isolate", "a", "--", "sh", "-c", &script]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "store\nrefused\nrefused\nhidden\n1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&shim).unwrap(), shim_before);
    assert!(!root.join("profiles/x").exists());
    common::make_writable(under_var.path());
}

#[test]
fn a_host_process_cannot_be_signalled_from_inside() {
    if needs_root("a_host_process_cannot_be_signalled_from_inside") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let mut sleep = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let script = format!(
        "kill -9 {} && echo killed; ls /proc | grep -c '^[0-9]'",
        sleep.id()
    );
    let r = isolated(&e, &["a", "--", "sh", "-c", &script]);
    assert!(!r.stdout.contains("killed"), "{r}");
    assert!(sleep.try_wait().unwrap().is_none(), "the host's sleep died");
    // Its own PID namespace: PID 1 (berth's init), the shell, ls, grep (at most).
    let n: u32 = r.stdout.trim().parse().unwrap();
    assert!(n <= 4, "{r}");
    sleep.kill().unwrap();
    sleep.wait().unwrap();
}

#[test]
fn gc_keeps_the_entries_until_a_daemonized_child_that_closed_every_descriptor_ends() {
    if needs_root("gc_keeps_the_entries_until_a_daemonized_child_ends") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    // The command starts a daemon (new session, every descriptor closed) and returns.
    let daemon = "setsid python3 -c 'import os, time; os.closerange(0, 65536); time.sleep(6)' & \
                  echo started";
    let mut berth = e
        .cmd(&["run", "--isolate", "a", "--", "sh", "-c", daemon])
        .current_dir("/")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // One line: berth itself keeps its stdout until the instance ends.
    let mut out = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(berth.stdout.take().unwrap()),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, "started\n");
    e.run(&["use", "a", "app@2.0"]).ok();
    e.run(&["generations", "a", "--delete", "1"]).ok();
    let r = e.json(&["gc", "--grace", "0"]);
    assert_eq!(r["entries"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["deferred"][0]["entry"], "app@1.0", "{r}");
    assert_eq!(r["deferred"][0]["pids"][0], berth.id());
    // The instance ends with its last process; then the entry goes.
    assert!(berth.wait().unwrap().success());
    let r = e.json(&["gc", "--grace", "0"]);
    assert_eq!(r["entries"][0]["version"], "1.0", "{r}");
}

#[test]
fn the_hold_is_out_of_reach_of_the_service() {
    if needs_root("the_hold_is_out_of_reach_of_the_service") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let mut a = Shell::start(&e, "a");
    let hold = e.root().join("run").join(a.pid.to_string());
    assert!(hold.exists());
    // No descriptor of the service leads to the hold (berth's was close-on-exec, and
    // closed in every process of the instance).
    assert_eq!(a.ask("ls -l /proc/$$/fd/ | grep -c /run/ || true"), "0");
    assert_eq!(
        a.ask(&format!(
            "echo x 2>/dev/null >> {} && echo wrote || echo refused",
            hold.display()
        )),
        "refused"
    );
    assert!(a.finish().success());
    assert!(!std::fs::read_to_string(&hold)
        .unwrap_or_default()
        .contains('x'));
}

#[test]
fn the_working_directory_is_inside_the_view() {
    if needs_root("the_working_directory_is_inside_the_view") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    // /usr/share exists on the host and inside: relative paths see the profile's files.
    let out = e
        .cmd(&[
            "run",
            "--isolate",
            "a",
            "--",
            "sh",
            "-c",
            "pwd; cat app/VERSION",
        ])
        .current_dir("/usr/share")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/usr/share\n1.0\n");
    // The scratch directory is under /tmp, private inside: the command starts in /.
    let out = e
        .cmd(&["run", "--isolate", "a", "--", "pwd"])
        .current_dir(e.dir())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/\n");
}

#[test]
fn a_service_started_as_root_inside_chowns_its_state_and_serves_as_nobody() {
    if needs_root("a_service_started_as_root_inside_chowns_its_state_and_serves_as_nobody") {
        return;
    }
    let e = Env::new();
    // nginx's pattern: the master binds as root, chowns its state, workers switch user.
    let script = r#"#!/usr/bin/python3
import http.server, os, sys
state = "/var/lib/svc/work"
os.makedirs(state, exist_ok=True)
os.chown(state, 65534, 65534)
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.BaseHTTPRequestHandler)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
with open(state + "/by", "w") as f:
    f.write(str(os.getuid()))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("uid %d wrote %s" % (os.getuid(), open(state + "/by").read())).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
srv.RequestHandlerClass = H
print("ready", flush=True)
srv.serve_forever()
"#;
    let src = e.source("svc", "1.0", &[("usr/bin/svc*", script.as_bytes())]);
    std::fs::write(
        src.join("berth.toml"),
        "[package]\nname = \"svc\"\nversion = \"1.0\"\n\n[[writable]]\npath = \"var/lib/svc\"\n",
    )
    .unwrap();
    let pkg = e.pack(&src);
    e.install(&pkg, &[]);
    e.run(&["use", "s", "svc"]).ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut berth = e
        .cmd(&["run", "--isolate", "s", "--", "/usr/bin/svc", &port])
        .current_dir("/")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(berth.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready\n");
    let curl = std::process::Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "uid 65534 wrote 65534"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(berth.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(berth.wait().unwrap().code(), Some(128 + 15));
    // On the host, the state belongs to the profile's range, not to a host user.
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(e.root().join("var/s/svc/var/lib/svc/work"))
        .unwrap()
        .uid();
    assert!(uid >= 524_288 + 65534, "{uid}");
}

#[test]
fn the_environment_is_clean_but_for_what_is_passed() {
    if needs_root("the_environment_is_clean_but_for_what_is_passed") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let out = e
        .cmd(&[
            "run",
            "--isolate",
            "a",
            "--env",
            "GIVEN=yes",
            "--",
            "sh",
            "-c",
            "echo ${BERTH_TEST_SECRET:-unset} $GIVEN $HOME $USER $BERTH_PROFILE",
        ])
        .env("BERTH_TEST_SECRET", "x")
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "unset yes /root root a\n"
    );
    // A uid without a passwd entry gets HOME=/.
    let out = e
        .cmd(&[
            "run",
            "--isolate",
            "a",
            "--user",
            "4242",
            "--",
            "sh",
            "-c",
            "echo $HOME",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/\n");
}
