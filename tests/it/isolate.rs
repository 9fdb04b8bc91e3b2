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
    // berth exec'd: the shell is the process berth started, so it gets signals directly.
    assert_eq!(a.pid, a.child.id());
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
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(a.finish().signal(), Some(15));
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
    let args = ["a", "--user", "nobody", "--cap", "NET_BIND_SERVICE", "--"];
    let mut a = args.to_vec();
    a.extend(["cat", "/proc/self/status"]);
    let r = isolated(&e, &a).ok();
    let bit = 1u64 << 10; // CAP_NET_BIND_SERVICE
    for f in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&r.stdout, f), bit, "{f}:\n{}", r.stdout);
    }
    // The kept capability is real: nobody may bind a privileged port with it, not without.
    let port = (900..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap();
    let script =
        format!("import socket; socket.socket().bind(('127.0.0.1', {port})); print('bound')");
    let mut with = args.to_vec();
    with.extend(["python3", "-c", &script]);
    assert_eq!(isolated(&e, &with).ok().stdout, "bound\n");
    let without = isolated(
        &e,
        &["a", "--user", "nobody", "--", "python3", "-c", &script],
    );
    assert_ne!(without.code, 0);
    assert!(without.stderr.contains("Permission denied"), "{without}");
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
    assert_eq!(r.stderr.matches("Read-only file system").count(), 5, "{r}");
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
        .all(|n| n == "mnt"));
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
