//! What `-q` leaves out and where the lock-wait line goes (issue 22, point 7): the
//! maintainer-script warning of `install` and the absolute-link warning of `use` are
//! silenced by `-q`; the "waiting for the lock" line goes to stderr only (stdout belongs to
//! the command `berth run` starts), and not at all under `-q`.

use crate::common::have;
use crate::common::isolate::{app, needs_isolation};
use crate::common::native::{build_deb, Deb};
use crate::common::{Env, Run};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn quiet_silences_the_maintainer_script_warning_of_install() {
    if !have("dpkg-deb", "a .deb with a postinst") {
        return;
    }
    let e = Env::new();
    let deb = build_deb(
        e.dir(),
        "scripted",
        "1.0",
        &Deb {
            postinst: true,
            ..Deb::default()
        },
    );
    let r = e.run(&["-q", "install", deb.to_str().unwrap()]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");
    // Without -q the same warning is there (another root: a second install is "unchanged").
    let e2 = Env::new();
    let r = e2.run(&["install", deb.to_str().unwrap()]).ok();
    assert!(r.stderr.contains("maintainer scripts"), "{r}");
}

#[test]
fn quiet_silences_the_absolute_link_warning_of_use() {
    if !have("dpkg-deb", "absolute symlinks in a .deb") {
        return;
    }
    let e = Env::new();
    let deb = build_deb(
        e.dir(),
        "linky",
        "1.0",
        &Deb {
            files: &[("usr/lib/tool/run", 0o755, b"#!/bin/sh\necho run\n")],
            symlinks: &[("usr/bin/tool", "/usr/lib/tool/run")],
            ..Deb::default()
        },
    );
    e.install(&deb, &[]);
    let r = e.run(&["-q", "use", "p", "linky@1.0"]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");
    let r = e.run(&["use", "q", "linky@1.0"]).ok();
    assert!(r.stderr.contains("goes through an absolute symlink"), "{r}");
}

/// `berth [-q] run --isolate p -- echo hi` while the test holds the root's lock, released
/// once berth waits (seen on stderr, or after a pause under -q).
fn run_while_locked(e: &Env, quiet: bool) -> (Run, Duration) {
    let lock = e.hold_lock();
    let mut args = vec!["run", "--isolate", "p", "--", "echo", "hi"];
    if quiet {
        args.insert(0, "-q");
    }
    let start = Instant::now();
    let mut child = e
        .cmd(&args)
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    if quiet {
        std::thread::sleep(Duration::from_millis(700));
    } else {
        stderr.read_line(&mut first).unwrap();
    }
    drop(lock);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: first + &rest,
    };
    (r, start.elapsed())
}

#[test]
fn the_lock_wait_line_goes_to_stderr_only_and_not_at_all_under_quiet() {
    if needs_isolation("the_lock_wait_line_goes_to_stderr_only_and_not_at_all_under_quiet") {
        return;
    }
    let e = Env::new();
    let pkg = app(&e, "app", "1.0", false);
    e.install(&pkg, &[]);
    e.ok(&["use", "p", "app@1.0"]);
    let (r, _) = run_while_locked(&e, false);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout, "hi\n", "the command's own output only: {r}");
    assert!(r.stderr.contains("waiting for the lock"), "{r}");
    let (r, took) = run_while_locked(&e, true);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout, "hi\n", "{r}");
    assert!(!r.stderr.contains("waiting for the lock"), "{r}");
    assert!(
        took >= Duration::from_millis(700),
        "it did wait for the lock"
    );
}
