//! Crash safety of `gc` (DESIGN.md invariant 3): a gc that prunes two generations and
//! deletes 10 entries is killed with SIGKILL at moments spread over its whole run. After
//! each kill every entry left is complete and verifies, every generation left is complete
//! and references only entries that exist, the profile link points to one, and `check`
//! finds only leftovers; a second gc finishes the job and `check` is then clean.
//!
//! Every round starts from a copy of one template root (`cp -a` keeps the pool's hard
//! links), which costs a fraction of the installs that made it.

use crate::common::crash::*;
use crate::common::*;
use std::path::Path;
use std::time::Duration;

/// Files per entry.
const FILES: usize = 16;
/// Kills that must interrupt a running gc; every fifth waits until an entry is in the
/// trash.
const GC_KILLS: usize = 16;

fn files(tag: &str, k: usize) -> Vec<(String, Vec<u8>)> {
    (0..FILES)
        .map(|i| {
            // Most files are shared between entries; every fourth is the entry's own.
            let seed = if i % 4 == 0 {
                format!("{tag}-{i}")
            } else {
                format!("common-{i}")
            };
            (
                format!("share/d{}/f{i}", i % 7),
                bytes(&seed, 2000 + k * 10 + i),
            )
        })
        .collect()
}

fn install(env: &Env, name: &str, version: &str, k: usize) -> String {
    let owned = files(&format!("{name}{version}"), k);
    let refs: Vec<(&str, Vec<u8>)> = owned.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    env.install_tar(name, version, &refs)
}

/// Profile `p` with generations 1..3 of `keep` (gc --keep 1 prunes 1 and 2 and their two
/// entries), a pinned entry, and 8 unreferenced entries: the gc deletes 10 entries.
fn template() -> (Env, String) {
    let env = Env::new();
    let mut current = String::new();
    for v in 1..=3 {
        current = install(&env, "keep", &format!("{v}"), v);
        env.ok(&["use", "p", &format!("keep@{v}")]);
    }
    install(&env, "pinned", "1", 0);
    env.ok(&["pin", "pinned@1"]);
    for u in 0..8 {
        install(&env, &format!("u{u}"), "1", u);
    }
    assert_eq!(env.entries().len(), 12);
    (env, current)
}

/// A fresh scratch directory whose root is a copy of `template`'s.
fn copy_of(template: &Path) -> Env {
    let env = Env::new();
    tool(
        env.dir(),
        "cp",
        &[
            "-a",
            template.to_str().unwrap(),
            env.root().to_str().unwrap(),
        ],
    );
    env
}

const GC: [&str; 6] = ["-q", "gc", "--keep", "1", "--grace", "0"];

/// An entry is in the trash: the sweep is under way.
fn in_trash(root: &Path) -> bool {
    !children(&root.join("store/.trash")).is_empty()
}

#[test]
fn sigkill_during_gc_keeps_the_root_sound_and_a_second_gc_finishes() {
    let (tpl, current) = template();
    // How long an uninterrupted gc takes here, to spread the kills over it.
    let mut span = Span(timed(&copy_of(tpl.root()), &GC));
    let mut moments = Moments::new(5, GC_KILLS);
    let mut tally = Tally::default();
    let mut round = 0;
    while tally.hits("gc") < GC_KILLS {
        assert!(round < 3 * GC_KILLS, "{}", tally.summary());
        let env = copy_of(tpl.root());
        let at = if round % 5 == 4 {
            KillAt::Once(in_trash, Duration::from_micros(300 * (round as u64 % 3)))
        } else {
            KillAt::After(span.at(moments.fraction(round)))
        };
        let k = kill_at(&env, &GC, at);
        tally.add("gc", k);
        span.observe(k);
        let what = format!(
            "gc {round} killed at {:?} ({at:?}, a gc takes {:?})",
            k.at, span.0
        );
        assert_sound(&env, &what);
        assert!(
            env.entries().contains(&current),
            "{what}: current entry gone"
        );
        // A second gc completes the job.
        timed(&env, &GC);
        let left: Vec<String> = env.entries().into_iter().collect();
        assert_eq!(left.len(), 2, "{what}: {left:?}");
        assert!(left.contains(&current) && left.iter().any(|e| e.starts_with("pinned-1-")));
        assert_eq!(env.generations("p"), vec![3], "{what}");
        assert_no_leftovers(&env, &what);
        assert_clean_or_repaired(&env, &what);
        round += 1;
    }
    eprintln!("crash test: {}", tally.summary());
}
