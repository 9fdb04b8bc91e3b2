//! Crash safety of `use` and `rollback` (DESIGN.md invariant 2): both are killed with
//! SIGKILL at moments spread over their whole run, on a profile of 24 packages (48 commands,
//! a merged tree where they meet). After each kill the profile link points to a complete
//! generation whose packages exist and verify, every command of it has its shim, and
//! `check` finds only leftovers; the next `use` works, leaves no half-built generation or
//! temporary link, and `check` is clean afterwards (or after `check --repair`).

use crate::common::crash::*;
use crate::common::*;
use std::path::Path;
use std::time::Duration;

/// Packages in the profile, each in versions 1 and 2.
const PACKAGES: usize = 24;
/// Kills that must interrupt a running `use`.
const USE_KILLS: usize = 26;
/// Kills that must interrupt a running `rollback`.
const ROLLBACK_KILLS: usize = 16;

/// Packs every package (two commands each, a third one in version 2, files where the
/// packages meet in `share/` and `lib/`) and installs them all in one call.
fn packages(env: &Env) {
    let mut files = Vec::new();
    for i in 0..PACKAGES {
        for v in ["1", "2"] {
            let script = format!("#!/bin/sh\necho t{i} {v}\n");
            let mut members: Vec<(String, Vec<u8>)> = vec![
                (format!("bin/t{i}a*"), script.clone().into_bytes()),
                (format!("bin/t{i}b*"), script.clone().into_bytes()),
                (format!("share/t{i}/VERSION"), v.as_bytes().to_vec()),
                (format!("lib/t{i}/lib.so"), bytes(&format!("t{i}"), 4000)),
            ];
            if v == "2" {
                members.push((format!("bin/t{i}c*"), script.into_bytes()));
            }
            let refs: Vec<(&str, &[u8])> = members
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_slice()))
                .collect();
            let src = env.source(&format!("t{i}"), v, &refs);
            files.push(env.pack(&src).to_string_lossy().into_owned());
        }
    }
    let mut args = vec!["-q", "install"];
    args.extend(files.iter().map(String::as_str));
    env.ok(&args);
}

/// `use p` with every package at the version set `r` picks: consecutive sets differ in
/// a third of the packages or more, a different third each time.
fn use_args(r: usize) -> Vec<String> {
    let mut args = vec!["-q".to_string(), "use".to_string(), "p".to_string()];
    for i in 0..PACKAGES {
        let v = 1 + ((r * 7 + i) / 3) % 2;
        args.push(format!("t{i}@{v}"));
    }
    args
}

/// Every command of the profile's current generation has its shim.
#[track_caller]
fn assert_shims(env: &Env, what: &str) {
    let current = env.root().join("profiles/p/bin");
    for cmd in children(&current) {
        let shim = env.root().join("shims").join(&cmd);
        assert!(
            std::fs::symlink_metadata(&shim).is_ok(),
            "{what}: command {cmd} of the current generation has no shim"
        );
    }
}

/// The kill moments and what the kills did so far.
struct Rounds {
    use_moments: Moments,
    rollback_moments: Moments,
    tally: Tally,
    /// Kills by what they left: nothing yet, work in progress, or the switch done.
    phases: Tally,
}

/// A generation of `p` is being built.
fn building(root: &Path) -> bool {
    children(&root.join("generations/p"))
        .iter()
        .any(|n| n.starts_with(".build-"))
}

/// A temporary profile link exists: the switch's rename is next.
fn temporary_link(root: &Path) -> bool {
    children(&root.join("profiles"))
        .iter()
        .any(|n| n.starts_with('.'))
}

/// Where a kill landed, judged by what it left.
fn phase(env: &Env, before: Option<u64>) -> &'static str {
    if env.current("p") != before {
        "after the switch"
    } else if building(env.root()) || temporary_link(env.root()) {
        "mid-way"
    } else {
        "before or without a trace"
    }
}

/// Kills `use` or `rollback` (per round), checks, and runs the next `use`; returns how
/// long that `use` took.
fn round(env: &Env, n: usize, spans: (Duration, Duration), r: &mut Rounds) -> Duration {
    // Two rounds in five roll back, until one of the two has all its kills.
    let rollback = if r.tally.hits("use") >= USE_KILLS {
        true
    } else if r.tally.hits("rollback") >= ROLLBACK_KILLS {
        false
    } else {
        n % 5 == 2 || n % 5 == 4
    };
    let (op, args) = if rollback {
        (
            "rollback",
            vec!["-q".to_string(), "rollback".into(), "p".into()],
        )
    } else {
        ("use", use_args(2 * n + 1))
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let i = r.tally.tries(op);
    // Most kills fall at stratified moments of a measured run; some wait for the moment a
    // half-built generation or the temporary profile link appears, so the few
    // milliseconds around each commit point are hit every time.
    let at = match (rollback, i % 5) {
        (true, 4) => KillAt::Once(temporary_link, Duration::ZERO),
        (true, _) => KillAt::After(spans.1.mul_f64(r.rollback_moments.fraction(i))),
        (false, 4) => KillAt::Once(building, Duration::from_micros(300 * (i as u64 % 3))),
        (false, _) => KillAt::After(spans.0.mul_f64(r.use_moments.fraction(i))),
    };
    let before = env.current("p");
    let k = kill_at(env, &args, at);
    r.tally.add(op, k);
    let what = format!("{op} {i} killed at {:?} ({at:?})", k.at);
    r.phases.add(phase(env, before), k);
    assert_sound(env, &what);
    assert_shims(env, &what);
    // The next `use` works and cleans what the killed command left.
    // Another set than the killed `use` asked for, so the next round's `use` has work.
    let next = use_args(2 * n + 2);
    let next: Vec<&str> = next.iter().map(String::as_str).collect();
    let took = timed(env, &next);
    let mut want: Vec<String> = next[3..].iter().map(|s| s.to_string()).collect();
    let mut have = env.packages("p");
    want.sort();
    have.sort();
    assert_eq!(have, want, "{what}: the next use");
    assert_no_leftovers(env, &format!("{what}, after the next use"));
    assert_shims(env, &what);
    assert_clean_or_repaired(env, &what);
    took
}

#[test]
fn sigkill_during_use_and_rollback_keeps_every_profile_complete() {
    let env = Env::new();
    packages(&env);
    let first = use_args(0);
    env.ok(&first.iter().map(String::as_str).collect::<Vec<_>>());
    // How long one `use` and one `rollback` take here, to spread the kills over them.
    let second = use_args(1);
    let mut use_span = timed(&env, &second.iter().map(String::as_str).collect::<Vec<_>>());
    let rollback_span = timed(&env, &["-q", "rollback", "p"]);

    let mut r = Rounds {
        use_moments: Moments::new(3, USE_KILLS),
        rollback_moments: Moments::new(4, ROLLBACK_KILLS),
        tally: Tally::default(),
        phases: Tally::default(),
    };
    let mut n = 0;
    while r.tally.hits("use") < USE_KILLS || r.tally.hits("rollback") < ROLLBACK_KILLS {
        assert!(
            n < 4 * (USE_KILLS + ROLLBACK_KILLS),
            "{}",
            r.tally.summary()
        );
        use_span = round(&env, n, (use_span, rollback_span), &mut r);
        n += 1;
    }
    eprintln!("crash test: {}; {}", r.tally.summary(), r.phases.summary());
    env.ok(&["verify"]);
}
