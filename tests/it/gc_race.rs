//! `gc` running in a loop beside `install` + `use` in a loop: no command fails (they only
//! wait for the lock), and no entry a generation references is ever deleted.

use crate::common;

use crate::common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ITERATIONS: usize = 200;

fn must(t: &Env, args: &[&str]) -> String {
    let o = t.run(args);
    assert!(
        o.success(),
        "berth {args:?} failed ({}): {}",
        o.code,
        o.stderr
    );
    // Anything on stderr must be a lock wait (or the test build's missing shim binary).
    for line in o.stderr.lines() {
        assert!(
            line.starts_with("waiting for the lock") || line.contains("no berth-shim next to"),
            "berth {args:?}: {line}"
        );
    }
    o.stdout
}

/// Rewrites an entry's install time (atomically: the gc loop may be reading it).
fn backdate(t: &Env, entry: &str) {
    let origin = t.store().join(entry).join(".berth/origin.toml");
    common::root::rewrite_key(
        &origin,
        "installed_at",
        "installed_at = \"2025-01-01T00:00:00Z\"",
    );
}

#[test]
fn gc_beside_install_and_use_never_deletes_a_referenced_entry_nor_fails() {
    let t = Arc::new(Env::new());
    // Packages written up front so the loop is only berth commands.
    let tars: Vec<String> = (0..ITERATIONS)
        .map(|i| {
            t.tarball(
                "app",
                &format!("{i}"),
                &[
                    ("share/app/version", format!("{i}\n").into_bytes()),
                    ("share/app/common", b"same in every release\n".to_vec()),
                ],
            )
            .to_string_lossy()
            .into_owned()
        })
        .collect();
    let junk: Vec<String> = (0..ITERATIONS)
        .map(|i| {
            t.tarball(
                "junk",
                &format!("{i}"),
                &[("share/junk", format!("{i}\n").into_bytes())],
            )
            .to_string_lossy()
            .into_owned()
        })
        .collect();
    // Another profile, so gc has old generations to prune while the loop runs.
    must(&t, &["install", &tars[0]]);
    must(&t, &["use", "other", "app@0"]);

    let done = Arc::new(AtomicBool::new(false));
    let gc = {
        let t = t.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut runs, mut deleted) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                let out = must(&t, &["--json", "gc", "--keep", "3"]);
                let r: serde_json::Value = serde_json::from_str(&out).unwrap();
                deleted += r["entries"].as_array().unwrap().len();
                // Under the lock, nothing a generation references may be missing.
                let o = t.run(&["--json", "check", "--quick"]);
                let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
                for p in v["problems"].as_array().unwrap() {
                    assert_ne!(p["kind"], "missing-entry", "{p}");
                    assert_ne!(p["kind"], "bad-package-link", "{p}");
                }
                runs += 1;
            }
            (runs, deleted)
        })
    };
    for (i, tar) in tars.iter().enumerate() {
        // An unreferenced entry made to look a year old, so the concurrent gc deletes
        // entries (past its grace period) while installs and switches go on.
        let out = must(&t, &["--json", "install", &junk[i]]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        backdate(&t, &format!("junk-{i}-{}", v[0]["id"].as_str().unwrap()));
        must(&t, &["install", tar]);
        must(&t, &["use", "site", &format!("app@{i}")]);
        let cur = std::fs::read_link(t.root().join("profiles/site")).unwrap();
        assert!(t
            .root()
            .join("profiles")
            .join(cur)
            .join("pkgs/app/share/app/version")
            .is_file());
    }
    done.store(true, Ordering::Relaxed);
    let (runs, deleted) = gc.join().unwrap();
    assert!(runs > 0);
    // The concurrent gc did delete (backdated) entries while the loop ran.
    assert!(deleted > 0, "{runs} gc runs deleted nothing");
    // Once the grace period is waived, exactly the referenced entries remain.
    must(&t, &["gc", "--keep", "3", "--grace", "0"]);
    let n = ITERATIONS as u64;
    assert_eq!(t.generations("site"), vec![n - 2, n - 1, n]);
    let want: std::collections::BTreeSet<String> = t
        .generations("site")
        .iter()
        .map(|n| {
            let g = std::fs::read_to_string(
                t.root()
                    .join(format!("generations/site/{n}/generation.toml")),
            )
            .unwrap();
            let v = g.lines().find(|l| l.starts_with("version")).unwrap();
            v.split('"').nth(1).unwrap().to_string()
        })
        .chain(["0".to_string()])
        .collect();
    let have: std::collections::BTreeSet<String> = t
        .entries()
        .iter()
        .inspect(|e| assert!(!e.starts_with("junk-"), "{e} survived"))
        .map(|e| e.split('-').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(have, want);
    must(&t, &["check"]);
}
