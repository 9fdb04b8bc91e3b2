//! `berth gc`, `pin`/`unpin`, `keep`: what goes, what stays, and the bytes it frees.

use crate::common::*;
use std::time::{Duration, SystemTime};

fn small(t: &Env, name: &str, version: &str) -> String {
    t.install_tar(
        name,
        version,
        &[("share/readme", format!("{name} {version}\n").into_bytes())],
    )
}

/// Makes `n` generations of `profile`, each with a new version of `pkg`; returns entry names.
fn generations(t: &Env, profile: &str, pkg: &str, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| {
            let e = small(t, pkg, &format!("{i}.0"));
            t.ok(&["use", profile, &format!("{pkg}@{i}.0")]);
            e
        })
        .collect()
}

#[test]
fn gc_removes_unreferenced_entries_and_keeps_referenced_ones() {
    let t = Env::new();
    let a1 = small(&t, "a", "1");
    let a2 = small(&t, "a", "2");
    let b1 = small(&t, "b", "1");
    t.ok(&["use", "site", "a@2"]);
    let r = t.json(&["gc", "--grace", "0"]);
    assert_eq!(r["entries"].as_array().unwrap().len(), 2);
    let left = t.entries();
    assert!(left.contains(&a2));
    assert!(!left.contains(&a1));
    assert!(!left.contains(&b1));
    t.ok(&["check"]);
}

#[test]
fn gc_keeps_entries_installed_within_the_grace_period() {
    let t = Env::new();
    let x = small(&t, "x", "1");
    let r = t.json(&["gc"]);
    assert!(r["entries"].as_array().unwrap().is_empty());
    assert_eq!(r["kept_recent"][0], "x@1");
    assert!(t.entries().contains(&x));
    let out = t.ok(&["gc"]);
    assert!(out.contains("--grace"), "{out}");
}

#[test]
fn pin_keeps_an_unused_entry_and_unpin_releases_it() {
    let t = Env::new();
    let x = small(&t, "x", "1");
    t.ok(&["pin", "x@1"]);
    assert!(t.ok(&["pin"]).contains(&x));
    t.ok(&["gc", "--grace", "0"]);
    assert!(t.entries().contains(&x));
    t.ok(&["unpin", "x@1"]);
    t.ok(&["gc", "--grace", "0"]);
    assert!(!t.entries().contains(&x));
    // Pinning what is not installed names the problem.
    let o = t.run(&["pin", "nope@1"]);
    assert_eq!(o.code, 3);
}

#[test]
fn remove_refuses_a_pinned_entry_until_it_is_unpinned() {
    let t = Env::new();
    let x = small(&t, "x", "1");
    t.ok(&["pin", "x@1"]);
    let o = t.run(&["remove", "x@1"]);
    assert_eq!(o.code, 4);
    let err = o.stderr;
    assert!(
        err.contains("x@1 is pinned") && err.contains("berth unpin x@1"),
        "{err}"
    );
    assert!(t.entries().contains(&x));
    t.ok(&["unpin", "x@1"]);
    t.ok(&["remove", "x@1"]);
    assert!(!t.entries().contains(&x));
}

#[test]
fn keep_prunes_each_profile_to_its_newest_generations() {
    let t = Env::new();
    let es = generations(&t, "p", "app", 5);
    let r = t.json(&["gc", "--keep", "2", "--grace", "0"]);
    let gens: Vec<u64> = r["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(gens, vec![1, 2, 3]);
    assert_eq!(t.generations("p"), vec![4, 5]);
    let left = t.entries();
    assert!(!left.contains(&es[0]) && !left.contains(&es[2]));
    assert!(left.contains(&es[3]) && left.contains(&es[4]));
    t.ok(&["check"]);
}

#[test]
fn pruning_never_removes_the_current_generation_or_the_future_after_a_rollback() {
    let t = Env::new();
    let es = generations(&t, "p", "app", 5);
    t.ok(&["switch", "p", "2"]);
    t.ok(&["gc", "--keep", "1", "--grace", "0"]);
    assert_eq!(t.generations("p"), vec![2, 3, 4, 5]);
    let left = t.entries();
    assert!(!left.contains(&es[0]));
    for e in &es[1..] {
        assert!(left.contains(e), "{e} was deleted");
    }
    // Even --keep 0 keeps the current one.
    t.ok(&["gc", "--keep", "0", "--grace", "0"]);
    assert_eq!(t.generations("p"), vec![2, 3, 4, 5]);
}

#[test]
fn older_than_keeps_the_generation_that_was_live_at_the_cutoff() {
    let t = Env::new();
    let es = generations(&t, "p", "app", 4);
    let now = SystemTime::now();
    let days = |d: u64| now - Duration::from_secs(d * 86400);
    t.set_created("p", 1, days(40));
    t.set_created("p", 2, days(35));
    t.set_created("p", 3, days(31));
    t.set_created("p", 4, days(1));
    t.ok(&["gc", "--older-than", "30d", "--grace", "0"]);
    // 3 was current 30 days ago: it stays, with the current one.
    assert_eq!(t.generations("p"), vec![3, 4]);
    let left = t.entries();
    assert!(!left.contains(&es[0]) && !left.contains(&es[1]));
    assert!(left.contains(&es[2]) && left.contains(&es[3]));
    // Nothing older than 30 days but the live one remains: a second run changes nothing.
    let r = t.json(&["gc", "--older-than", "30d", "--grace", "0"]);
    assert!(r["generations"].as_array().unwrap().is_empty());
}

#[test]
fn older_than_and_keep_together_delete_only_what_both_allow() {
    let t = Env::new();
    generations(&t, "p", "app", 5);
    let old = SystemTime::now() - Duration::from_secs(90 * 86400);
    for n in 1..=5 {
        t.set_created("p", n, old);
    }
    t.ok(&["gc", "--older-than", "30d", "--keep", "3", "--grace", "0"]);
    assert_eq!(t.generations("p"), vec![3, 4, 5]);
}

#[test]
fn a_profile_keep_policy_overrides_the_flag() {
    let t = Env::new();
    generations(&t, "p", "app", 4);
    generations(&t, "q", "tool", 4);
    t.ok(&["keep", "p", "3"]);
    assert!(t.ok(&["keep", "p"]).contains('3'));
    t.ok(&["gc", "--keep", "1", "--grace", "0"]);
    assert_eq!(t.generations("p"), vec![2, 3, 4]);
    assert_eq!(t.generations("q"), vec![4]);
    // The policy applies on every gc, flag or not.
    t.install_tar("extra", "1", &[("share/extra", b"x".to_vec())]);
    t.ok(&["use", "p", "extra@1"]);
    t.ok(&["gc", "--grace", "0"]);
    assert_eq!(t.generations("p"), vec![3, 4, 5]);
    t.ok(&["keep", "p", "--unset"]);
    assert!(t.ok(&["keep", "p"]).contains("no policy"));
    // "no such profile" exits 3 everywhere.
    assert_eq!(t.run(&["keep", "nosuch", "2"]).code, 3);
    assert_eq!(t.run(&["keep", "p", "0"]).code, 2);
}

#[test]
fn dry_run_reports_exactly_what_the_real_run_does_and_changes_nothing() {
    let t = Env::new();
    generations(&t, "p", "app", 4);
    let shared = bytes("shared", 50_000);
    for v in 1..=3 {
        t.install_tar(
            "lib",
            &format!("{v}"),
            &[
                ("lib/common", shared.clone()),
                ("lib/own", bytes(&format!("own{v}"), 9_000 * v)),
            ],
        );
    }
    t.ok(&["use", "p", "lib@3"]);
    // A leftover of a crashed install, to be swept as well.
    std::fs::create_dir_all(t.root().join("store/.staging/txn-1/tree")).unwrap();
    std::fs::write(
        t.root().join("store/.staging/txn-1/tree/f"),
        bytes("x", 5000),
    )
    .unwrap();
    let before = t.snapshot();
    let mut dry = t.json(&["gc", "--dry-run", "--keep", "2", "--grace", "0"]);
    let human_dry = t.ok(&["gc", "--dry-run", "--keep", "2", "--grace", "0"]);
    assert_eq!(t.snapshot(), before, "dry run changed the root");
    let mut real = t.json(&["gc", "--keep", "2", "--grace", "0"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(real["dry_run"], false);
    dry["dry_run"] = serde_json::Value::Null;
    real["dry_run"] = serde_json::Value::Null;
    assert_eq!(dry, real);
    assert_eq!(real["generations"].as_array().unwrap().len(), 3);
    assert_eq!(real["entries"].as_array().unwrap().len(), 5);
    assert_eq!(real["leftovers"], 1);
    assert!(real["bytes"].as_u64().unwrap() > 0);
    assert!(
        human_dry.contains("would remove generation p/1"),
        "{human_dry}"
    );
    assert!(human_dry.contains("would free"), "{human_dry}");
    t.ok(&["check"]);
}

#[test]
fn freed_bytes_count_released_blocks_and_shared_objects_once() {
    let t = Env::new();
    let shared = bytes("shared", 200_000);
    let e1 = t.install_tar(
        "a",
        "1",
        &[("lib/s", shared.clone()), ("lib/p", bytes("p1", 70_000))],
    );
    let e2 = t.install_tar(
        "a",
        "2",
        &[("lib/s", shared.clone()), ("lib/p", bytes("p2", 30_000))],
    );
    let store = t.root().join("store");
    t.ok(&["use", "site", "a@2"]);
    // Only a@1 goes: its directories, metadata and private object, not the shared one.
    let i1 = inodes(&store.join(&e1));
    let i2 = inodes(&store.join(&e2));
    let want: u64 = i1
        .iter()
        .filter(|(ino, _)| !i2.contains_key(ino))
        .map(|(_, b)| b)
        .sum();
    let r = t.json(&["gc", "--grace", "0"]);
    assert_eq!(r["bytes"].as_u64().unwrap(), want);
    assert_eq!(r["objects"], 1);
}

#[test]
fn freed_bytes_count_a_shared_object_once_when_every_user_goes() {
    let t = Env::new();
    let shared = bytes("shared", 200_000);
    let store = t.root().join("store");
    let mut all = std::collections::BTreeMap::new();
    for v in 1..=3 {
        let e = t.install_tar(
            "a",
            &format!("{v}"),
            &[
                ("lib/s", shared.clone()),
                ("lib/p", bytes(&format!("p{v}"), 10_000 * v)),
            ],
        );
        all.extend(inodes(&store.join(e)));
    }
    let want: u64 = all.values().sum();
    let r = t.json(&["gc", "--grace", "0"]);
    assert_eq!(r["bytes"].as_u64().unwrap(), want);
    // Counting the shared object per user would exceed this.
    assert!(r["bytes"].as_u64().unwrap() < 3 * 200_000);
    // One shared object and three private ones.
    assert_eq!(r["objects"], 4);
    assert!(children(&store.join(".objects"))
        .iter()
        .all(|s| children(&store.join(".objects").join(s)).is_empty()));
}

#[test]
fn gc_sweeps_leftovers_of_interrupted_runs() {
    let t = Env::new();
    generations(&t, "p", "app", 2);
    let staging = t.root().join("store/.staging/txn-9");
    let trash = t.root().join("store/.trash/app-0-dead.1");
    let gtrash = t.root().join("generations/p/.1.tmp.77.0");
    for d in [&staging, &trash, &gtrash] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), b"data").unwrap();
        std::fs::set_permissions(
            d.join("sub"),
            std::os::unix::fs::PermissionsExt::from_mode(0o555),
        )
        .unwrap();
    }
    let r = t.json(&["gc"]);
    assert_eq!(r["leftovers"], 3);
    for d in [&staging, &trash, &gtrash] {
        assert!(!d.exists(), "{} survived", d.display());
    }
    t.ok(&["check"]);
}

#[test]
fn gc_rejects_bad_durations_with_a_hint() {
    let t = Env::new();
    let o = t.run(&["gc", "--older-than", "30x"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("30d"));
}

#[test]
fn generations_delete_prunes_a_range_but_never_the_current_one_or_the_future() {
    let t = Env::new();
    let es = generations(&t, "p", "app", 6);
    t.ok(&["switch", "p", "4"]);
    let r = t.json(&["generations", "p", "--delete", "2..6"]);
    assert_eq!(r["deleted"], serde_json::json!([2, 3]));
    assert_eq!(r["kept"], serde_json::json!([4, 5, 6]));
    assert_eq!(t.generations("p"), vec![1, 4, 5, 6]);
    t.ok(&["gc", "--grace", "0"]);
    let left = t.entries();
    assert!(!left.contains(&es[1]) && !left.contains(&es[2]));
    assert!(left.contains(&es[0]) && left.contains(&es[3]));
    t.ok(&["check"]);
    assert_eq!(t.run(&["generations", "p", "--delete", "5..2"]).code, 2);
    // Without --delete it still lists.
    assert!(t.ok(&["generations", "p"]).contains("GEN"));
}

#[test]
fn dry_run_and_real_run_print_the_same_list() {
    let t = Env::new();
    generations(&t, "p", "app", 3);
    small(&t, "loose", "1");
    let dry = t.ok(&["gc", "--dry-run", "--keep", "1", "--grace", "0"]);
    let real = t.ok(&["gc", "--keep", "1", "--grace", "0"]);
    let as_real = dry
        .replace("would remove", "removed")
        .replace("would free", "freed");
    assert_eq!(as_real, real);
    assert!(real.contains("removed generation p/1"), "{real}");
    assert!(real.contains("removed loose@1"), "{real}");
}
