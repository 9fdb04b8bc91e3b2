//! Package-supplied text on human output and limits on what a package can make berth print
//! (issue 23, finding 12): control fields with escape sequences, NUL and bidi characters
//! are shown escaped by `info` (and `--json` keeps them exact); 50,000 unmet dependencies
//! make a counted list, not one endless line; a `--user` id the kernel cannot hold is bad
//! input (exit 2), not a question of root.

use crate::common::native::{ar, dpkg_status, Tar};
use crate::common::Env;

/// A handmade .deb of package `name` 1.0 with these extra control lines.
fn deb_with(env: &Env, name: &str, extra: &str) -> std::path::PathBuf {
    let control = format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n{extra}"
    );
    let ctl = Tar::default()
        .dir("./")
        .file("./control", 0o644, control.as_bytes())
        .finish();
    let data = Tar::default()
        .dir("./")
        .dir("./usr/")
        .dir("./usr/bin/")
        .file(&format!("./usr/bin/{name}"), 0o755, b"#!/bin/sh\necho hi\n")
        .finish();
    let bytes = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &ctl),
        ("data.tar", &data),
    ]);
    let p = env.dir().join(format!("{name}_1.0_all.deb"));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// What a terminal would act on or hide: ESC, BEL, NUL, CSI, bidi overrides, zero-width.
fn raw_controls(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}')
        })
        .collect()
}

#[test]
fn info_shows_escape_sequences_nul_and_bidi_of_control_fields_escaped() {
    let env = Env::new();
    let osc = "\u{1b}]0;pwned\u{7}";
    let deb = deb_with(
        &env,
        "demo",
        &format!(
            "Description: title{osc} end\n more\u{0}text\u{202e}gnp.exe\nX-Note: a\u{200b}b\u{9b}31m\n"
        ),
    );
    env.install(&deb, &[]);
    let out = env.ok(&["info", "demo"]);
    println!("{out}");
    assert_eq!(raw_controls(&out), Vec::<char>::new(), "raw in:\n{out:?}");
    assert!(out.contains("title\\u{1b}]0;pwned\\u{7} end"), "{out}");
    assert!(out.contains("more\\u{0}text\\u{202e}gnp.exe"), "{out}");
    assert!(out.contains("a\\u{200b}b\\u{9b}31m"), "{out}");
    // --json keeps the exact text (JSON escapes what it must).
    let j = env.json(&["info", "demo"]);
    let fields = j["native"]["fields"].as_array().unwrap();
    let note = fields.iter().find(|f| f["name"] == "X-Note").unwrap();
    assert_eq!(note["value"], "a\u{200b}b\u{9b}31m");
}

#[test]
fn use_strict_with_fifty_thousand_unmet_dependencies_prints_a_counted_list() {
    let env = Env::new();
    let depends: Vec<String> = (0..50_000).map(|i| format!("berth-missing-{i}")).collect();
    let deb = deb_with(&env, "many", &format!("Depends: {}\n", depends.join(", ")));
    env.install(&deb, &[]);
    let status = dpkg_status(env.dir(), &[("libc6", "2.36-9", "install ok installed")]);
    let with_status =
        |args: &[&str]| crate::common::Run::of(env.cmd(args).env("BERTH_DPKG_STATUS", &status));
    let r = with_status(&["use", "--strict", "p", "many@1.0"]).code(4);
    let err = r.stderr.clone();
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        line.starts_with("error: profile p: 50000 unmet dependencies: "),
        "{line}"
    );
    assert!(
        line.ends_with("… and 49980 more"),
        "{}",
        &line[line.len() - 200..]
    );
    assert!(line.len() < 4000, "one bounded line: {} bytes", line.len());
    assert!(!env.root().join("profiles/p").exists());
    // Without --strict: 20 warnings and a count on stderr; --json lists every one.
    let r = with_status(&["--json", "use", "p", "many@1.0"]).code(0);
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 21, "{}", r.stderr);
    assert!(
        warnings[20].contains("… and 49980 more unmet dependencies"),
        "{}",
        warnings[20]
    );
    assert_eq!(r.json()["unmet_depends"].as_array().unwrap().len(), 50_000);
}

#[test]
fn run_user_ids_the_kernel_cannot_hold_are_bad_input_not_a_root_question() {
    let env = Env::new();
    for (user, why) in [
        ("4294967295", "(uid_t)-1"),
        ("4294967296", "out of range"),
        ("0:4294967295", "group id 4294967295"),
        ("-1", "not a user name or id"),
    ] {
        let flag = format!("--user={user}");
        let r = env.run(&["run", &flag, "--", "true"]).code(2);
        println!("{}", r.stderr);
        assert!(r.stderr.contains(why), "{user}: {}", r.stderr);
        assert!(!r.stderr.contains("root"), "{user}: {}", r.stderr);
    }
}
