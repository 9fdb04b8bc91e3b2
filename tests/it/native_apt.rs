//! `berth install --apt` (issue 22, point 6): Debian packages and the dependencies the host
//! lacks, through the host's apt, from Debian's mirror: the dry run lists them and why,
//! the install makes `use --strict` pass, and bad names, unknown versions and a missing apt
//! fail with one line and leave the root as it was.

use crate::common::native::{build_deb, tree_state, Deb};
use crate::common::tools::unavailable;
use crate::common::{have, Env};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const REDIS_TOOLS: &str = "redis-tools=5:7.0.15-1~deb12u10";

/// True when apt's lists know `spec` (else the rule of a missing tool: `apt-get update`).
fn apt_knows(spec: &str, test: &str) -> bool {
    if !have("apt-cache", test) || !have("apt-get", test) {
        return false;
    }
    let out = Command::new("apt-cache")
        .args(["show", spec])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    if out.status.success() && !out.stdout.is_empty() {
        return true;
    }
    unavailable(
        test,
        &format!("apt's lists do not have {spec} (run `apt-get update`)"),
    );
    false
}

/// The libraries redis-tools needs that the host's dpkg does not have (the test adapts to
/// the host: on this project's machines both are missing).
fn host_lacks() -> Vec<&'static str> {
    ["liblzf1", "libjemalloc2"]
        .into_iter()
        .filter(|p| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output();
            !out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).ends_with(" installed"))
        })
        .collect()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn apt_dry_run_lists_what_the_host_lacks_and_changes_nothing() {
    let test = "apt_dry_run_lists_what_the_host_lacks_and_changes_nothing";
    if !apt_knows(REDIS_TOOLS, test) {
        return;
    }
    let env = Env::new();
    let plan = env.json(&["install", "--apt", REDIS_TOOLS, "--dry-run"]);
    let got = names(&plan);
    assert_eq!(got[0], "redis-tools", "{plan:#}");
    assert_eq!(plan[0]["why"], "named");
    assert_eq!(plan[0]["version"], "5:7.0.15-1~deb12u10");
    for lib in host_lacks() {
        let row = plan
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == lib)
            .unwrap_or_else(|| panic!("{lib} missing from {plan:#}"));
        assert_eq!(row["why"], "dependency");
        assert_eq!(row["needed_by"], "redis-tools@5:7.0.15-1~deb12u10");
        assert!(row["relation"].as_str().unwrap().starts_with(lib), "{row}");
    }
    assert!(
        !got.iter().any(|n| n == "libc6"),
        "the host has libc6: {got:?}"
    );
    // Human form: one line per package with why; no root was made.
    let out = env.ok(&["install", "--apt", REDIS_TOOLS, "--dry-run"]);
    assert!(
        out.contains("redis-tools") && out.contains("named"),
        "{out}"
    );
    assert!(!env.root().exists(), "a dry run made the root");
}

#[test]
fn apt_install_makes_use_strict_of_redis_tools_pass() {
    let test = "apt_install_makes_use_strict_of_redis_tools_pass";
    if !apt_knows(REDIS_TOOLS, test) {
        return;
    }
    let env = Env::new();
    let rows = env.json(&["install", "--apt", REDIS_TOOLS]);
    let got = names(&rows);
    for lib in host_lacks() {
        assert!(
            got.iter().any(|n| n == lib),
            "{lib} not installed: {rows:#}"
        );
    }
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "installed"));
    // Every package it installed, in one profile: nothing unmet.
    let mut args = vec!["use", "--strict", "redis"];
    let refs: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r["name"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            )
        })
        .collect();
    args.extend(refs.iter().map(String::as_str));
    env.ok(&args);
    // (Running redis-cli needs the profile's libraries on the loader's path: `run --isolate`,
    // which the service tests cover; here the point is what was installed.)
    assert!(env.root().join("profiles/redis/bin/redis-cli").exists());
    // The download directory is gone; the root checks clean.
    let apt_dir = env.root().join("cache/apt");
    assert_eq!(std::fs::read_dir(&apt_dir).unwrap().count(), 0);
    env.ok(&["check"]);
    // Again: the same content, unchanged.
    let again = env.json(&["install", "--apt", REDIS_TOOLS]);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "unchanged"),
        "{again:#}"
    );
}

#[test]
fn apt_unknown_version_fails_with_one_line_and_changes_nothing() {
    let test = "apt_unknown_version_fails_with_one_line_and_changes_nothing";
    if !apt_knows("redis-tools", test) || !have("dpkg-deb", test) {
        return;
    }
    let env = Env::new();
    let deb = build_deb(env.dir(), "demo", "1.0-1", &Deb::default());
    env.ok(&["install", deb.to_str().unwrap()]);
    let before = tree_state(env.root());
    let err = env.fails(&["install", "--apt", "redis-tools=9.9.9-1"], 3);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("redis-tools") && errors[0].contains("9.9.9-1"),
        "{err}"
    );
    let err = env.fails(&["install", "--apt", "berth-no-such-package"], 3);
    assert!(
        err.starts_with("error: apt knows no package `berth-no-such-package`"),
        "{err}"
    );
    assert_eq!(tree_state(env.root()), before);
}

/// A directory holding `apt-cache` and `apt-get` stand-ins that leave a mark when run.
fn marking_apt(env: &Env) -> std::path::PathBuf {
    let bin = env.dir().join("fake-apt");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["apt-cache", "apt-get"] {
        let p = bin.join(tool);
        let mark = env.dir().join("apt-ran");
        std::fs::write(
            &p,
            format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn apt_names_with_shell_syntax_or_a_leading_dash_are_refused_before_apt_runs() {
    let env = Env::new();
    let bin = marking_apt(&env);
    for bad in [
        "redis-tools;touch x",
        "redis-tools=1$(id)",
        "-oDir::Etc=/tmp",
        "redis-tools=-1",
        "Redis",
        "redis tools",
    ] {
        let r = crate::common::Run::of(env.cmd(&["install", "--apt", "--", bad]).env("PATH", &bin));
        assert_eq!(r.code, 2, "{bad}: {r}");
        assert!(
            r.stderr.starts_with("error: `") && r.stderr.contains("is not NAME or NAME=VERSION"),
            "{bad}: {r}"
        );
    }
    assert!(!env.dir().join("apt-ran").exists(), "apt ran");
    assert!(!env.root().exists());
}

#[test]
fn apt_missing_is_one_clear_line() {
    let env = Env::new();
    let empty = env.dir().join("no-apt");
    std::fs::create_dir_all(&empty).unwrap();
    let r = crate::common::Run::of(
        env.cmd(&["install", "--apt", "redis-tools"])
            .env("PATH", &empty),
    );
    assert_eq!(r.code, 3, "{r}");
    assert!(
        r.stderr
            .starts_with("error: apt-cache is not installed or cannot run"),
        "{r}"
    );
    assert!(!env.root().exists());
}
