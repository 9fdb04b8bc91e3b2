//! Snapshots (insta) of what berth prints for people: the tables and reports of `list`,
//! `info`, `generations`, `diff`, `gc --dry-run` and `check`, and the main error messages,
//! so wording and alignment never drift unnoticed. What varies between machines and runs is
//! filtered: the scratch directory, ids, dates, pids and the bytes a gc frees (disk blocks).
//! Placeholders keep the width of what they replace, so the alignment stays visible.
//!
//! To review a changed snapshot: `INSTA_UPDATE=always cargo test --release --test it
//! snapshots_cli`, then `git diff tests/it/snapshots/` (insta names each file after the
//! module path: `it__snapshots_cli__<name>.snap`).

use crate::common::*;

/// A placeholder of exactly `width` characters: `[label]` padded with dots.
pub(crate) fn placeholder(label: &str, width: usize) -> String {
    let mut s = format!("[{label}]");
    while s.len() < width {
        s.insert(s.len() - 1, '.');
    }
    s
}

/// `text` with every regex metacharacter escaped (paths as filters).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Runs `f` with the filters that make a snapshot of `env`'s output the same everywhere.
fn filtered(env: &Env, f: impl FnOnce()) {
    settings(env).bind(f);
}

/// The filters that make a snapshot of `env`'s output the same everywhere (the other
/// snapshot suites add their own to these).
pub(crate) fn settings(env: &Env) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_omit_expression(true);
    s.add_filter(&escape(&env.dir().display().to_string()), "[TMP]");
    s.add_filter(r"\b[0-9a-f]{64}\b", placeholder("sha256", 64));
    s.add_filter(r"\b[0-9a-f]{32}\b", placeholder("id", 32));
    s.add_filter(r"\b[0-9a-f]{12}\b", placeholder("id", 12));
    s.add_filter(
        r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        placeholder("date", 20),
    );
    s.add_filter(r"(free|freed) \d+(\.\d+)? (B|KiB|MiB|GiB)", "$1 [size]");
    s.add_filter(r"\bpid \d+", "pid [pid]");
    s
}

/// The command line, its exit code and what it printed, as one snapshot text.
pub(crate) fn shown(args: &[&str], r: &Run) -> String {
    format!(
        "$ berth {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        r.code,
        r.stdout,
        r.stderr
    )
}

/// Runs berth on `env`, snapshots the run as `name`, returns it.
#[track_caller]
fn snap(env: &Env, name: &str, args: &[&str]) -> Run {
    let r = env.run(args);
    let text = shown(args, &r);
    filtered(env, || insta::assert_snapshot!(name, text));
    r
}

/// Two versions of `app` and one of `tool`, from `.berth` packages.
fn installed() -> Env {
    let env = Env::new();
    for (name, version) in [("app", "1.0"), ("app", "2.0"), ("tool", "0.9")] {
        let files = [
            ("bin/{name}*", b"#!/bin/sh\necho run\n" as &[u8]),
            ("share/{name}/README", version.as_bytes()),
        ];
        let files: Vec<(String, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.replace("{name}", name), *c))
            .collect();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let src = env.source(name, version, &refs);
        env.install(&env.pack(&src), &[]);
    }
    env
}

/// `installed()` with profile `site` at generations 1 (app 1.0), 2 (app 2.0 + tool) and
/// 3 (tool dropped).
fn with_profile() -> Env {
    let env = installed();
    env.ok(&["use", "site", "app@1.0"]);
    env.ok(&["use", "site", "app@2.0", "tool"]);
    env.ok(&["drop", "site", "tool"]);
    env
}

#[test]
fn list_table() {
    let env = installed();
    snap(&env, "list", &["list"]).ok();
    snap(&env, "list_filtered", &["list", "app"]).ok();
    snap(&Env::new(), "list_empty", &["list"]).ok();
}

#[test]
fn info_report() {
    let env = installed();
    snap(&env, "info", &["info", "app@1.0"]).ok();
    snap(&env, "info_files", &["info", "tool", "--files"]).ok();
}

#[test]
fn generations_table() {
    let env = with_profile();
    env.ok(&["rollback", "site"]);
    snap(&env, "generations", &["generations", "site"]).ok();
}

#[test]
fn diff_report() {
    let env = with_profile();
    snap(&env, "diff", &["diff", "site"]).ok();
    snap(
        &env,
        "diff_range",
        &["diff", "site", "--from", "1", "--to", "2"],
    )
    .ok();
}

#[test]
fn gc_dry_run_report() {
    let env = with_profile();
    snap(
        &env,
        "gc_dry_run",
        &["gc", "--dry-run", "--keep", "1", "--grace", "0"],
    )
    .ok();
    snap(&env, "gc_dry_run_grace", &["gc", "--dry-run"]).ok();
}

#[test]
fn check_reports() {
    let env = with_profile();
    snap(&env, "check_clean", &["check"]).ok();
    // Damage of three kinds: a stray file, a leftover of a crashed install, a dangling
    // profile link.
    std::fs::write(env.root().join("notes.txt"), b"mine").unwrap();
    std::fs::create_dir_all(env.store().join(".staging/txn-1/tree")).unwrap();
    let link = env.root().join("profiles/site");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../generations/site/99", &link).unwrap();
    snap(&env, "check_problems", &["check"]).code(5);
}

#[test]
fn error_unknown_package() {
    let env = installed();
    snap(&env, "error_unknown_package_info", &["info", "nope"]).code(3);
    snap(
        &env,
        "error_unknown_package_use",
        &["use", "site", "app@9.9"],
    )
    .code(3);
}

#[test]
fn error_unknown_profile() {
    let env = with_profile();
    snap(&env, "error_unknown_profile", &["switch", "ghost", "1"]).code(3);
    snap(&env, "error_unknown_generation", &["switch", "site", "9"]).code(3);
}

#[test]
fn error_ambiguous_reference() {
    let env = installed();
    snap(&env, "error_ambiguous_reference", &["remove", "app"]).code(2);
}

#[test]
fn error_path_conflict() {
    let env = Env::new();
    env.package("a", "1", &[("share/doc/README", b"from a")]);
    env.package("b", "1", &[("share/doc/README", b"from b")]);
    env.ok(&["use", "p", "a"]);
    snap(&env, "error_path_conflict", &["use", "p", "b"]).code(4);
}

#[test]
fn error_refused_archive_member() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("../escape", b"x").finish();
    let err = env.refuse("evil-1.tar", &tar, &[], Some("../escape"), "");
    let args = [
        "install",
        "[TMP]/in/evil-1.tar",
        "--name",
        "hostile",
        "--version",
        "1",
    ];
    let text = format!("$ berth {}\nexit 6\n--- stderr\n{err}", args.join(" "));
    filtered(&env, || {
        insta::assert_snapshot!("error_refused_archive_member", text);
    });
}

#[test]
fn error_checksum_mismatch() {
    let env = installed();
    let pkg = env.small_package("sum", "1.0");
    let wrong = "0".repeat(64);
    let r = snap(
        &env,
        "error_checksum_mismatch",
        &["install", pkg.to_str().unwrap(), "--sha256", &wrong],
    );
    assert_eq!(r.code, 5, "{r}");
}

#[test]
fn error_lock_timeout() {
    let env = installed();
    let pkg = env.small_package("late", "1.0");
    let _lock = env.hold_lock();
    snap(
        &env,
        "error_lock_timeout",
        &["--lock-timeout", "0", "install", pkg.to_str().unwrap()],
    )
    .code(7);
}
