//! Issue 8, classes 1, 3 and 9: berth never acts through a symlinked part of its root (an
//! operator's files in the link's target survive every command), files it did not make in
//! `shims/` are reported and left alone, permissions are set rather than inherited from the
//! umask, a root others can write is refused, and the lock is neither stale nor lockable by
//! other users.

use crate::common;

use crate::common::harden::*;
use crate::common::Env;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A root with history: tool@1 and tool@2 installed, profile `p` at generation 2 (tool@2,
/// after tool@1), `p` the default, spare@1 installed and unused.
fn fixture() -> Env {
    let env = Env::new();
    let t1 = tool_package(&env, "tool", "1", "tool");
    let t2 = tool_package(&env, "tool", "2", "tool");
    let spare = tool_package(&env, "spare", "1", "spare");
    for p in [&t1, &t2, &spare] {
        env.install(p, &[]);
    }
    berth(&env, &["use", "p", "tool@1"]).ok();
    berth(&env, &["use", "p", "tool@2"]).ok();
    berth(&env, &["default", "p"]).ok();
    env
}

/// An operator's directory with a backup script and a deploy script.
fn operator_dir(env: &Env) -> PathBuf {
    let op = env.dir().join("operator");
    common::write_tree(
        &op,
        &[
            (
                "backup.sh*",
                b"#!/bin/sh\ntar czf /backup/site.tgz /srv/site\n",
            ),
            ("deploy*", b"#!/bin/sh\nrsync -a build/ /srv/site/\n"),
        ],
    );
    op
}

/// Replaces the part `rel` of the root by a symlink to `target` (the real part, if any, is
/// moved out of the root).
fn symlink_part(env: &Env, rel: &str, target: &Path) {
    let part = env.root().join(rel);
    if std::fs::symlink_metadata(&part).is_ok() {
        common::make_writable(&part);
        let aside = env.dir().join(format!("aside-{}", rel.replace('/', "_")));
        std::fs::rename(&part, &aside).unwrap();
    }
    std::os::unix::fs::symlink(target, &part).unwrap();
}

/// The commands of a root's life, in an order where each has something to do.
fn life(env: &Env) -> Vec<Vec<String>> {
    let other = tool_package(env, "other", "1", "other");
    vec![
        vec!["install".into(), s(&other).into()],
        vec!["use".into(), "p".into(), "tool@1".into()],
        vec!["rollback".into(), "p".into()],
        vec!["remove".into(), "spare@1".into()],
        vec!["gc".into(), "--grace".into(), "0s".into()],
        vec!["check".into(), "--repair".into()],
    ]
}

/// For each part berth owns: replace it by a symlink to an operator's directory, run every
/// command of a root's life, and require that (a) the operator's files are intact and
/// nothing was added there, (b) every command that failed exited 1 naming the link as a
/// symlink berth refuses to follow, (c) the commands that must go through that part did fail.
#[test]
fn symlinked_parts_of_the_root_are_never_followed() {
    // part -> commands (by verb) that cannot do their job without it.
    let cases: &[(&str, &[&str])] = &[
        ("shims", &["use", "rollback", "check"]),
        (
            "store",
            &["install", "use", "rollback", "remove", "gc", "check"],
        ),
        ("store/.staging", &["install", "gc", "check"]),
        ("store/.trash", &["remove", "gc", "check"]),
        (
            "generations/p",
            &["use", "rollback", "remove", "gc", "check"],
        ),
        ("store/.objects", &["install", "remove", "gc", "check"]),
        ("libexec", &["install", "use", "rollback", "check"]),
    ];
    for (part, must_fail) in cases {
        let env = fixture();
        let op = operator_dir(&env);
        let op_before = listing(&op);
        symlink_part(&env, part, &op);
        let link = env.root().join(part);
        let mut failed = Vec::new();
        for args in life(&env) {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = berth(&env, &a);
            assert_same(&op_before, &listing(&op), &format!("{part}: after {a:?}"));
            if out.code != 0 {
                // check reports a symlinked part as a problem (5) or cannot go on (1).
                let ok_code = if a[0] == "check" { [1, 5] } else { [1, 1] };
                assert!(ok_code.contains(&out.code), "{part}: {a:?}:\n{out}");
                if out.code == 5 {
                    // `check` lists the link among its problems.
                    assert!(
                        out.stdout
                            .lines()
                            .any(|l| l.contains(&format!("{}: ", link.display()))),
                        "{part}: {a:?} does not report the link:\n{out}"
                    );
                } else {
                    let want = format!(
                        "{} is a symlink; berth refuses to follow it",
                        link.display()
                    );
                    assert!(
                        out.error_line().contains(&want),
                        "{part}: {a:?} does not name the link:\n{out}"
                    );
                }
                if out.code == 1 {
                    assert!(out.hint_line().is_some(), "{part}: {a:?}: no hint\n{out}");
                }
                failed.push(a[0].to_string());
            }
        }
        for verb in *must_fail {
            assert!(
                failed.iter().any(|f| f == verb),
                "{part}: `{verb}` succeeded through a symlinked part (failed: {failed:?})"
            );
        }
        // What profile p uses is still installed: a part berth cannot read must never make
        // gc or remove think nobody uses an entry.
        if *part != "store" {
            let have = installed(&env);
            assert!(
                have.contains(&"tool@1".to_string()) && have.contains(&"tool@2".to_string()),
                "{part}: entries in use were removed: {have:?}"
            );
        }
        // Still a link to the operator's directory, which holds exactly what it held.
        assert_eq!(std::fs::read_link(&link).unwrap(), op, "{part}");
        assert_same(&op_before, &listing(&op), part);
    }
}

/// The root itself may be a symlink: that is the operator's choice of where it lives.
#[test]
fn a_root_that_is_itself_a_symlink_works() {
    let env = Env::new();
    let real = env.dir().join("real-root");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&real, env.root()).unwrap();
    let t1 = tool_package(&env, "tool", "1", "tool");
    env.install(&t1, &[]);
    berth(&env, &["use", "p", "tool@1"]).ok();
    berth(&env, &["check"]).ok();
    assert!(real.join("shims/tool").exists());
}

/// Files berth did not make in `shims/` (an operator's script, a directory, a link of
/// their own) are reported by `check`, survive `use` and `check --repair`, and a command a
/// package provides under the same name is left without a shim, with a warning.
#[test]
fn foreign_files_in_shims_are_reported_and_left_alone() {
    let env = fixture();
    let shims = env.root().join("shims");
    common::write_tree(
        &shims,
        &[
            ("backup.sh*", b"#!/bin/sh\necho backup\n"),
            ("deploy/README", b"the operator's deploy notes\n"),
        ],
    );
    std::os::unix::fs::symlink("/bin/true", shims.join("mytrue")).unwrap();
    let foreign = |l: &std::collections::BTreeMap<String, String>| {
        l.iter()
            .filter(|(k, _)| {
                ["backup.sh", "deploy", "deploy/README", "mytrue"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let before = foreign(&listing(&shims));
    assert_eq!(before.len(), 4);

    let out = berth(&env, &["check"]).code(5);
    for name in ["backup.sh", "deploy", "mytrue"] {
        let line = format!("{}", shims.join(name).display());
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(&line) && l.contains("not a shim berth made")),
            "check does not report {name}:\n{out}"
        );
    }

    // A package providing `deploy`: the operator's directory keeps the name.
    let dep = tool_package(&env, "deployer", "1", "deploy");
    env.install(&dep, &[]);
    let out = berth(&env, &["use", "p", "deployer"]).ok();
    assert!(
        out.stderr.contains("is not a berth shim; left alone"),
        "no warning for the blocked command:\n{out}"
    );
    berth(&env, &["rollback", "p"]).ok();
    berth(&env, &["check", "--repair"]).code(5);
    berth(&env, &["gc", "--grace", "0s"]).ok();
    assert_eq!(foreign(&listing(&shims)), before, "foreign files changed");
    // berth's own shims are still there and work.
    let out = run_bounded(shim(&env, "tool", env.dir()), BOUND);
    assert_eq!(out.stdout.trim(), "tool 2", "{out}");
}

/// Every path in the root that is not a symlink, with its mode, when group or others can
/// write it.
fn loose_paths(root: &Path) -> Vec<String> {
    common::walk(root)
        .into_iter()
        .filter(|(_, m)| !m.file_type().is_symlink() && m.permissions().mode() & 0o022 != 0)
        .map(|(p, m)| format!("{p} {:o}", m.permissions().mode() & 0o7777))
        .collect()
}

fn full_run_under_umask(mask: u32) {
    let env = Env::new();
    let t1 = tool_package(&env, "tool", "1", "tool");
    let t2 = tool_package(&env, "tool", "2", "tool");
    let lib = env.small_package("lib", "1");
    for args in [
        vec!["install", s(&t1), s(&t2)],
        vec!["install", s(&lib)],
        vec!["use", "p", "tool@1", "lib"],
        vec!["use", "p", "tool@2"],
        vec!["use", "q", "tool@1"],
        vec!["pin", "lib@1"],
        vec!["keep", "p", "5"],
        vec!["default", "p"],
        vec!["drop", "q", "tool"],
        vec!["gc", "--grace", "0s"],
        vec!["rollback", "p"],
        vec!["check", "--repair"],
        vec!["remove", "tool@2"],
    ] {
        let out = berth_umask(&env, mask, &args);
        assert!(
            out.code == 0 || (args[0] == "remove" && out.code == 4),
            "{args:?} under umask {mask:03o}:\n{out}"
        );
    }
    let loose = loose_paths(env.root());
    assert!(
        loose.is_empty(),
        "umask {mask:03o}: writable by group/others: {loose:?}"
    );
    let lock = std::fs::metadata(env.root().join(".lock")).unwrap();
    assert_eq!(lock.permissions().mode() & 0o077, 0, "lock file mode");
    // And the shim still runs the right version.
    let out = run_bounded(shim(&env, "tool", env.dir()), BOUND);
    assert_eq!(out.stdout.trim(), "tool 1", "{out}");
    berth(&env, &["check"]).ok();
}

#[test]
fn full_run_under_umask_000_leaves_nothing_writable_by_others() {
    full_run_under_umask(0o000);
}

#[test]
fn full_run_under_umask_002_leaves_nothing_writable_by_others() {
    full_run_under_umask(0o002);
}

/// A root (or one of its parts) that others can write is refused by every command, naming
/// the path and what is wrong, and nothing changes; --insecure-permissions goes on;
/// `check --repair` tightens the modes.
#[test]
fn a_root_writable_by_others_is_refused_until_repaired() {
    for (part, mode) in [
        ("", 0o777),
        ("store", 0o777),
        ("generations", 0o775),
        ("shims", 0o757),
    ] {
        let env = fixture();
        let path = if part.is_empty() {
            env.root().to_path_buf()
        } else {
            env.root().join(part)
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let before = listing(env.root());
        let other = tool_package(&env, "other", "1", "other");
        for args in [
            vec!["list"],
            vec!["install", s(&other)],
            vec!["use", "p", "tool@1"],
            vec!["gc"],
        ] {
            berth(&env, &args).refused(
                1,
                &[
                    &format!(
                        "{} is writable by group or others (mode {mode:o})",
                        path.display()
                    ),
                    "is not safe",
                ],
            );
            assert_same(&before, &listing(env.root()), &format!("{part}: {args:?}"));
        }
        let out = berth(&env, &["list"]).code(1);
        assert!(
            out.hint_line().unwrap().contains("--insecure-permissions"),
            "{out}"
        );
        berth(&env, &["--insecure-permissions", "list"]).ok();

        let out = berth(&env, &["check", "--repair"]).ok();
        assert!(out.stdout.contains(&format!("{}", path.display())), "{out}");
        let now = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(now & 0o022, 0, "{part}: still {now:o} after check --repair");
        berth(&env, &["install", s(&other)]).ok();
        berth(&env, &["check"]).ok();
    }
}

/// Deeper than the top level, `check` finds what others can write (a generation's
/// directory) and `check --repair` tightens it.
#[test]
fn check_finds_and_repairs_loose_modes_inside_the_root() {
    let env = fixture();
    let gen = env.root().join("generations/p/1");
    std::fs::set_permissions(&gen, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = berth(&env, &["check"]).code(5);
    assert!(
        out.stdout.contains(&format!("{}", gen.display()))
            && out.stdout.contains("writable by group or others"),
        "{out}"
    );
    berth(&env, &["check", "--repair"]).ok();
    assert_eq!(std::fs::metadata(&gen).unwrap().mode() & 0o022, 0);
    berth(&env, &["check"]).ok();
}

/// A root owned by another user is refused (it could change what root's shims run).
#[test]
fn a_root_owned_by_another_user_is_refused() {
    if !needs_root("chown the root to another user") {
        return;
    }
    let env = fixture();
    std::os::unix::fs::chown(env.root(), Some(65534), Some(65534)).unwrap();
    let before = listing(env.root());
    berth(&env, &["use", "p", "tool@1"]).refused(
        1,
        &[&format!("{} is owned by uid 65534", env.root().display())],
    );
    assert_same(&before, &listing(env.root()), "owned by another user");
    berth(&env, &["--insecure-permissions", "list"]).ok();
}

/// The lock file: 0600, empty once the holder is done, so a waiter names the real holder
/// (here: this test, holding it without a note) rather than a berth command long gone.
#[test]
fn the_lock_note_is_cleared_and_a_waiter_blames_the_real_holder() {
    let env = fixture();
    let lock = env.root().join(".lock");
    let m = std::fs::metadata(&lock).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(m.len(), 0, "holder note left after the command ended");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock)
        .unwrap();
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let before = listing(env.root());
    let out = berth(&env, &["--lock-timeout", "1", "use", "p", "tool@1"]).refused(
        7,
        &[
            "timed out after 1s waiting for the lock",
            "held by another process",
        ],
    );
    assert!(
        !out.stderr.contains("pid "),
        "blames a stale holder:\n{out}"
    );
    assert_same(&before, &listing(env.root()), "lock timeout");
    drop(f);
    berth(&env, &["use", "p", "tool@1"]).ok();
    assert_eq!(std::fs::metadata(&lock).unwrap().len(), 0);
}

/// Another local user can neither open nor lock a root-owned root's lock file.
#[test]
fn other_users_cannot_take_the_lock() {
    if !needs_root("run a process as another user") {
        return;
    }
    let env = fixture();
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lock = env.root().join(".lock");
    for redirect in ["3<", "3<>"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec {redirect}\"$1\" && flock -n 3 && echo LOCKED"
            ))
            .arg("sh")
            .arg(&lock)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "user 65534 opened the lock with {redirect}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("LOCKED"));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

use std::os::unix::process::CommandExt;
