//! Shims: dispatch by profile (BERTH_PROFILE > .berth-profile > default), exec in place with
//! argv[0], exit code, stdin and pid kept, and every error with its message and exit 127.

use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

fn two_sites() -> Env {
    let e = Env::new();
    e.probe_package("drush", "7.59", "drush");
    e.probe_package("drush", "10.1.0", "drush");
    e.script_package("php", "8.2.7", "php");
    e.ok(&["use", "site-a", "drush@7.59", "php"]);
    e.ok(&["use", "site-b", "drush@10.1.0"]);
    e
}

fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
        .to_string()
}

#[test]
fn two_profiles_run_two_versions_of_one_package_at_once() {
    let e = two_sites();
    let a = e
        .shim("drush")
        .env("BERTH_PROFILE", "site-a")
        .output()
        .unwrap();
    let b = e
        .shim("drush")
        .env("BERTH_PROFILE", "site-b")
        .output()
        .unwrap();
    assert!(a.status.success() && b.status.success());
    assert!(
        field(&stdout(&a), "exe").contains("/store/drush-7.59-"),
        "{}",
        stdout(&a)
    );
    assert!(
        field(&stdout(&b), "exe").contains("/store/drush-10.1.0-"),
        "{}",
        stdout(&b)
    );
    // Both at the same time: two children alive together.
    let mut ca = e
        .shim("drush")
        .arg("cat")
        .env("BERTH_PROFILE", "site-a")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cb = e
        .shim("drush")
        .arg("cat")
        .env("BERTH_PROFILE", "site-b")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(ca.stdin.take());
    drop(cb.stdin.take());
    let oa = ca.wait_with_output().unwrap();
    let ob = cb.wait_with_output().unwrap();
    assert!(stdout(&oa).contains("drush-7.59-") && stdout(&ob).contains("drush-10.1.0-"));
}

#[test]
fn argv0_exit_code_pid_and_profile_pass_through() {
    let e = two_sites();
    let shim = e.root().join("shims/drush");
    let child = e
        .shim("drush")
        .args(["one", "two words"])
        .env("BERTH_PROFILE", "site-b")
        .env("EXIT_WITH", "42")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(42));
    let s = stdout(&out);
    assert_eq!(
        field(&s, "argv0"),
        shim.display().to_string(),
        "argv[0] as typed"
    );
    assert_eq!(field(&s, "pid"), pid.to_string(), "exec in place: same pid");
    assert_eq!(
        field(&s, "profile"),
        "site-b",
        "BERTH_PROFILE set for children"
    );
    let args: Vec<&str> = s.lines().filter_map(|l| l.strip_prefix("arg=")).collect();
    assert_eq!(args, ["one", "two words"]);
    // A bare name typed through PATH keeps its bare argv[0].
    let path = format!("{}:/usr/bin:/bin", e.root().join("shims").display());
    let mut sh = std::process::Command::new("sh");
    let out = clean_env(&mut sh)
        .args(["-c", "drush"])
        .env("PATH", path)
        .env("BERTH_PROFILE", "site-a")
        .output()
        .unwrap();
    assert_eq!(field(&stdout(&out), "argv0"), "drush");
}

#[test]
fn stdin_streams_through_a_shim() {
    let e = two_sites();
    let mut child = e
        .shim("drush")
        .arg("cat")
        .env("BERTH_PROFILE", "site-a")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Skip the probe's header (argv0, arg, profile, exe, pid).
    for l in lines.by_ref() {
        if l.unwrap().starts_with("pid=") {
            break;
        }
    }
    // Each line comes back before the next is sent: streaming, not buffering to EOF.
    for i in 0..50 {
        writeln!(input, "line {i}").unwrap();
        input.flush().unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), format!("line {i}"));
    }
    drop(input);
    assert!(child.wait().unwrap().success());
}

#[test]
fn berth_profile_file_is_found_from_a_nested_directory() {
    let e = two_sites();
    let site = e.dir().join("srv/site-b");
    let deep = site.join("web/modules/x");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(site.join(".berth-profile"), "site-b\n").unwrap();
    let out = e.shim("drush").current_dir(&deep).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(field(&stdout(&out), "exe").contains("drush-10.1.0-"));
    assert_eq!(field(&stdout(&out), "profile"), "site-b");
    // BERTH_PROFILE beats the file.
    let out = e
        .shim("drush")
        .current_dir(&deep)
        .env("BERTH_PROFILE", "site-a")
        .output()
        .unwrap();
    assert!(field(&stdout(&out), "exe").contains("drush-7.59-"));
}

#[test]
fn default_profile_is_used_when_nothing_else_says() {
    let e = two_sites();
    e.ok(&["default", "site-a"]);
    let out = e.shim("drush").output().unwrap();
    assert!(field(&stdout(&out), "exe").contains("drush-7.59-"));
    // A .berth-profile beats the default.
    std::fs::write(e.dir().join(".berth-profile"), "site-b").unwrap();
    let out = e.shim("drush").output().unwrap();
    assert!(field(&stdout(&out), "exe").contains("drush-10.1.0-"));
}

#[test]
fn shims_follow_switches_without_a_rehash() {
    let e = two_sites();
    let run = || {
        stdout(
            &e.shim("drush")
                .env("BERTH_PROFILE", "site-a")
                .output()
                .unwrap(),
        )
    };
    assert!(run().contains("drush-7.59-"));
    e.ok(&["use", "site-a", "drush@10.1.0"]);
    assert!(run().contains("drush-10.1.0-"));
    e.ok(&["rollback", "site-a"]);
    assert!(run().contains("drush-7.59-"));
}

#[test]
fn no_profile_error_names_the_three_sources_and_the_fix() {
    let e = two_sites();
    let out = e.shim("drush").output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("BERTH_PROFILE")
            && err.contains(".berth-profile")
            && err.contains("default profile"),
        "{err}"
    );
    assert!(err.contains("berth default PROFILE"), "{err}");
}

#[test]
fn missing_profile_is_exit_127() {
    let e = two_sites();
    let out = e
        .shim("drush")
        .env("BERTH_PROFILE", "site-z")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("profile site-z") && err.contains("does not exist"),
        "{err}"
    );
    let out = e
        .shim("drush")
        .env("BERTH_PROFILE", "../etc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("invalid profile name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn profile_lacking_the_command_names_the_profiles_that_have_it() {
    let e = two_sites();
    let out = e
        .shim("php")
        .env("BERTH_PROFILE", "site-b")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("profile site-b") && err.contains("has no command php"),
        "{err}"
    );
    assert!(err.contains("profiles that have it: site-a"), "{err}");
}

#[test]
fn a_target_that_is_itself_a_shim_is_refused() {
    let e = two_sites();
    // Tamper with the current generation so that bin/drush leads back to the shim.
    let bin = e.root().join("profiles/site-a/bin/drush");
    std::fs::remove_file(&bin).unwrap();
    std::os::unix::fs::symlink("../../../../shims/drush", &bin).unwrap();
    let out = e
        .shim("drush")
        .env("BERTH_PROFILE", "site-a")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("itself a berth shim") && err.contains("recursion"),
        "{err}"
    );
}

#[test]
fn shims_exist_exactly_for_provided_commands() {
    let e = two_sites();
    let names = |e: &Env| {
        let mut v: Vec<String> = std::fs::read_dir(e.root().join("shims"))
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&e), ["drush", "php"]);
    for n in names(&e) {
        assert_eq!(
            std::fs::read_link(e.root().join("shims").join(n)).unwrap(),
            std::path::Path::new("../libexec/berth-shim")
        );
    }
    e.ok(&["drop", "site-a", "php"]);
    assert_eq!(names(&e), ["drush"]);
    e.ok(&["drop", "site-a", "drush"]);
    assert_eq!(names(&e), ["drush"], "site-b still provides drush");
    e.ok(&["drop", "site-b", "drush"]);
    assert!(names(&e).is_empty());
}

/// The shim berth installs is statically linked (no dynamic loader: one exec), and it
/// finds its root from its own location, so it works wherever the root is moved.
#[test]
fn the_static_shim_works_from_a_moved_root() {
    let e = two_sites();
    let moved = e.dir().join("elsewhere");
    std::fs::rename(e.root(), &moved).unwrap();
    assert!(is_static_elf(&moved.join("libexec/berth-shim")));
    let mut shim = std::process::Command::new(moved.join("shims/drush"));
    let out = clean_env(&mut shim)
        .env("BERTH_PROFILE", "site-b")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        field(&stdout(&out), "exe").contains(&format!("{}/store/drush-10.1.0-", moved.display()))
    );
}
