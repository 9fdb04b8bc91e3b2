//! Concurrency: 8 processes each run 20 `use` calls on one profile; no generation is lost or
//! corrupt, numbers are dense, and the history is one a serial order could produce.

use crate::common::*;
use std::collections::BTreeMap;

const WRITERS: usize = 8;
const CALLS: usize = 20;

fn as_map(pkgs: &[String]) -> BTreeMap<String, String> {
    pkgs.iter()
        .map(|p| {
            let (n, v) = p.split_once('@').unwrap();
            (n.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn concurrent_use_calls_lose_no_update() {
    let e = Env::new();
    for w in 0..WRITERS {
        for v in ["1", "2"] {
            e.script_package(&format!("p{w}"), v, &format!("cmd{w}"));
        }
    }
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let e = &e;
            s.spawn(move || {
                for c in 0..CALLS {
                    let v = if c.is_multiple_of(2) { 1 } else { 2 };
                    e.ok(&["use", "shared", &format!("p{w}@{v}")]);
                }
            });
        }
    });

    // Every call changed the set, so every call made exactly one generation: 1..=160.
    let numbers = e.generations("shared");
    let expected: Vec<u64> = (1..=(WRITERS * CALLS) as u64).collect();
    assert_eq!(numbers, expected, "numbers are dense and none is lost");
    assert_eq!(e.current("shared"), Some((WRITERS * CALLS) as u64));

    // Serial history: each generation is its predecessor plus exactly one writer's next call.
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let mut calls_seen = vec![0usize; WRITERS];
    for n in numbers {
        let next = as_map(&e.gen_packages("shared", n));
        let changed: Vec<&String> = next
            .keys()
            .filter(|k| state.get(*k) != next.get(*k))
            .collect();
        assert_eq!(
            changed.len(),
            1,
            "generation {n} changes exactly one package: {changed:?}"
        );
        assert!(
            state.keys().all(|k| next.contains_key(k)),
            "generation {n} lost a package"
        );
        let w: usize = changed[0][1..].parse().unwrap();
        let want = if calls_seen[w].is_multiple_of(2) {
            "1"
        } else {
            "2"
        };
        assert_eq!(
            next[changed[0]], want,
            "generation {n}: writer {w}'s calls in order"
        );
        calls_seen[w] += 1;
        state = next;
    }
    assert_eq!(calls_seen, vec![CALLS; WRITERS]);
    // Final state: every writer's last call (version 2) and every command has its shim.
    for w in 0..WRITERS {
        assert_eq!(state[&format!("p{w}")], "2");
        assert!(e.root().join(format!("shims/cmd{w}")).exists());
    }
    e.ok(&["verify"]);
}
