//! `berth run --isolate` refusals: each is one clear error with a hint and a documented exit
//! code, and leaves the root as it was. Also the unprivileged user-namespace path.

use crate::common;

use crate::common::isolate::*;
use crate::common::{Env, Run};
use std::process::Command;

/// Every path under the root, with sizes, except run/ (hold files come and go).
fn root_state(e: &Env) -> Vec<String> {
    common::walk(e.root())
        .into_iter()
        .filter(|(p, _)| !p.starts_with("run") && !p.starts_with(".lock"))
        .map(|(p, m)| format!("{p} {}", m.len()))
        .collect()
}

#[track_caller]
fn refused(e: &Env, args: &[&str], code: i32, says: &[&str]) -> Run {
    let before = root_state(e);
    let r = isolated(e, args).code(code);
    for s in says {
        assert!(r.stderr.contains(s), "expected {s:?} in:\n{r}");
    }
    assert!(r.stderr.contains("hint:"), "{r}");
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{r}"
    );
    assert_eq!(root_state(e), before, "the root changed");
    r
}

#[test]
fn unknown_user_group_and_capability_are_refused() {
    let e = Env::new();
    two_profiles(&e);
    refused(
        &e,
        &["a", "--user", "no-such-user-b", "--", "true"],
        3,
        &["unknown user `no-such-user-b`"],
    );
    refused(
        &e,
        &["a", "--user", "nobody:no-such-grp", "--", "true"],
        3,
        &["unknown group `no-such-grp`"],
    );
    refused(
        &e,
        &["a", "--cap", "NET_BIND", "--", "true"],
        2,
        &["unknown capability `NET_BIND`", "NET_BIND_SERVICE"],
    );
}

#[test]
fn a_profile_with_no_packages_is_refused() {
    let e = Env::new();
    two_profiles(&e);
    e.run(&["drop", "a", "app"]).ok();
    refused(
        &e,
        &["a", "--", "true"],
        3,
        &["profile a has no packages", "berth use a PACKAGE"],
    );
    refused(
        &e,
        &["ghost", "--", "true"],
        3,
        &["no profile named `ghost`"],
    );
}

#[test]
fn no_service_and_two_services_are_refused_naming_the_packages() {
    let e = Env::new();
    let plain = app(&e, "plain", "1", false);
    e.install(&plain, &[]);
    e.run(&["use", "p", "plain"]).ok();
    refused(
        &e,
        &["p"],
        3,
        &["has no service", "plain@1", "berth run p -- CMD"],
    );
    for n in ["one", "two"] {
        let f = app(&e, n, "1", true);
        e.install(&f, &[]);
    }
    e.run(&["use", "two", "one", "two"]).ok();
    refused(
        &e,
        &["two"],
        2,
        &[
            "more than one service: one ([service] of one@1), two ([service] of two@1)",
            "--service",
        ],
    );
}

#[test]
fn a_top_level_directory_the_host_lacks_or_must_keep_is_refused() {
    let e = Env::new();
    let src = e.source("odd", "1", &[("nosuchdir-berth/x", b"x" as &[u8])]);
    let f = e.pack(&src);
    e.install(&f, &[]);
    e.run(&["use", "odd", "odd"]).ok();
    refused(
        &e,
        &["odd", "--", "true"],
        1,
        &[
            "/nosuchdir-berth",
            "the host has no such directory",
            "mkdir",
        ],
    );
    let src = e.source("scratch", "1", &[("tmp/x", b"x" as &[u8])]);
    let f = e.pack(&src);
    e.install(&f, &[]);
    e.run(&["use", "t", "scratch"]).ok();
    refused(
        &e,
        &["t", "--", "true"],
        6,
        &["never overlays /dev, /proc, /sys, /run or /tmp"],
    );
    // Nor a [[config]] bound into /proc (it would cover the kernel's own files).
    let src = e.source("prox", "1", &[("usr/share/prox/x", b"x" as &[u8])]);
    std::fs::write(
        src.join("berth.toml"),
        "[package]\nname = \"prox\"\nversion = \"1\"\n\n[[config]]\npath = \"proc/sys/kernel/core_pattern\"\n",
    )
    .unwrap();
    let f = e.pack(&src);
    e.install(&f, &[]);
    e.run(&["use", "p", "prox"]).ok();
    refused(
        &e,
        &["p", "--", "true"],
        6,
        &[
            "config proc/sys/kernel/core_pattern of prox@1",
            "never overlays",
        ],
    );
}

#[test]
fn a_command_not_found_inside_exits_127_and_a_non_executable_126() {
    if needs_isolation("a_command_not_found_inside_exits_127_and_a_non_executable_126") {
        return;
    }
    let e = Env::new();
    two_profiles(&e);
    let r = isolated(&e, &["a", "--", "no-such-command-berth"]).code(127);
    assert!(
        r.stderr
            .contains("no-such-command-berth: command not found inside profile a"),
        "{r}"
    );
    assert!(r.stderr.contains("hint:"), "{r}");
    let r = isolated(&e, &["a", "--", "/usr/share/app/VERSION"]).code(126);
    assert!(r.stderr.contains("cannot execute inside profile a"), "{r}");
}

/// Runs berth as nobody (uid 65534) through setpriv.
fn as_nobody(e: &Env, args: &[&str]) -> Run {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(common::BERTH)
        .arg("--root")
        .arg(e.root())
        .args(args)
        .current_dir("/")
        .env_remove("BERTH_PROFILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run setpriv");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A scratch directory that nobody owns, with app@1.0 in profile `a`, made by nobody.
fn nobody_env() -> Env {
    let e = Env::new();
    let f = app(&e, "app", "1.0", true);
    sh_chown(e.dir());
    as_nobody(&e, &["install", f.to_str().unwrap()]).ok();
    as_nobody(&e, &["use", "a", "app"]).ok();
    e
}

fn sh_chown(dir: &std::path::Path) {
    common::tool(dir, "chown", &["-R", "65534:65534", dir.to_str().unwrap()]);
}

#[test]
fn unprivileged_user_namespace_path_works_where_the_kernel_allows_it() {
    if needs_root("unprivileged_user_namespace_path (runs berth as nobody via setpriv)") {
        return;
    }
    let probe = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "-U",
            "-r",
            "-m",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !probe
        && skip(
            "unprivileged_user_namespace_path",
            "this kernel refuses unprivileged user namespaces",
        )
    {
        return;
    }
    let e = nobody_env();
    let script = "id -u; app; echo x > /var/lib/app/f && ls /var/lib/app; grep -E 'CapEff|CapBnd' /proc/self/status; echo y > /usr/share/app/VERSION";
    let r = as_nobody(
        &e,
        &["-v", "run", "--isolate", "a", "--", "sh", "-c", script],
    );
    assert_ne!(r.code, 0, "the write into /usr must fail:\n{r}");
    assert!(
        r.stderr.contains("isolation: user namespace (unprivileged"),
        "{r}"
    );
    assert_eq!(
        r.stdout,
        "65534\napp 1.0\nf\nseed\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
    );
    assert!(r.stderr.contains("Read-only file system"), "{r}");
    // Another user needs root.
    let r = as_nobody(
        &e,
        &["run", "--isolate", "a", "--user", "root", "--", "true"],
    )
    .code(8);
    assert!(r.stderr.contains("--user root needs root"), "{r}");
    let r = as_nobody(&e, &["run", "a", "--cap", "CHOWN", "--", "true"]).code(8);
    assert!(r.stderr.contains("--cap needs root"), "{r}");
}

#[test]
fn not_permitted_to_create_namespaces_says_what_is_needed() {
    if needs_root("not_permitted_to_create_namespaces_says_what_is_needed") {
        return;
    }
    // Root without CAP_SYS_ADMIN cannot make the instance's mounts (its idmapped layers).
    let e = Env::new();
    two_profiles(&e);
    let out = Command::new("setpriv")
        .args(["--bounding-set=-sys_admin", "--inh-caps=-all"])
        .arg(common::BERTH)
        .args([
            "--root",
            e.root().to_str().unwrap(),
            "run",
            "--isolate",
            "a",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(
        err.contains("not permitted to create idmapped package layers"),
        "{err}"
    );
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
    // No user namespace can be made from inside a chroot: an unprivileged user in one is
    // refused, and told about root and the sysctls.
    let e = nobody_env();
    let chroot = e.dir().join("chroot");
    std::fs::create_dir(&chroot).unwrap();
    let script = format!(
        "mount --rbind / {c} && exec chroot {c} setpriv --reuid=65534 --regid=65534 --clear-groups {b} --root {r} run --isolate a -- true",
        c = chroot.display(),
        b = common::BERTH,
        r = e.root().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(
        err.contains("not permitted to create a user namespace"),
        "{err}"
    );
    for s in [
        "run berth as root",
        "kernel.unprivileged_userns_clone",
        "user.max_user_namespaces",
    ] {
        assert!(err.contains(s), "{s}: {err}");
    }
}

#[test]
fn a_store_on_a_filesystem_overlayfs_refuses_is_a_clear_error() {
    if needs_root("a_store_on_a_filesystem_overlayfs_refuses_is_a_clear_error") {
        return;
    }
    // The root sits on an overlay of an overlay: one more layer exceeds the kernel's
    // stacking depth, so overlayfs refuses the store as a lower layer.
    let e = Env::new();
    let f = app(&e, "app", "1.0", false);
    let d = e.dir().display().to_string();
    let script = format!(
        "set -e; cd {d}; mkdir l0 u1 w1 m1 u2 w2 m2; \
         mount -t overlay o -o lowerdir={d}/l0,upperdir={d}/u1,workdir={d}/w1 {d}/m1; \
         mount -t overlay o -o lowerdir={d}/m1,upperdir={d}/u2,workdir={d}/w2 {d}/m2; \
         {b} --root {d}/m2/root -q install {f}; {b} --root {d}/m2/root -q use a app; \
         exec {b} --root {d}/m2/root run --isolate a -- true",
        b = common::BERTH,
        f = f.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot mount the overlay on"), "{err}");
    assert!(
        err.contains("may not support being an overlayfs lower layer"),
        "{err}"
    );
}

#[test]
fn a_package_layer_over_the_directory_holding_the_store_is_refused() {
    // The root is in /var/tmp; a package shipping var/ files that are neither config nor
    // writable needs a layer on /var, which would hold the store: overlayfs refuses that.
    let e = Env::new();
    let src = e.source("cachey", "1", &[("var/cache/cachey/index", b"x" as &[u8])]);
    let f = e.pack(&src);
    let under_var = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = under_var.path().join("root");
    let berth = |args: &[&str]| {
        let out = e.run_at(&root, args);
        (Some(out.code), out.stderr)
    };
    assert_eq!(berth(&["install", f.to_str().unwrap()]).0, Some(0));
    assert_eq!(berth(&["use", "c", "cachey"]).0, Some(0));
    let (code, err) = berth(&["run", "--isolate", "c", "--", "true"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("overlayfs refuses layers inside one another"),
        "{err}"
    );
    assert!(err.contains("hint: use a root outside /var"), "{err}");
    common::make_writable(under_var.path());
}
