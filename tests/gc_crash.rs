//! A gc killed (SIGKILL) at 30 different moments leaves a root that `check` finds sound
//! apart from leftovers it can repair, whose referenced entries verify, and that a second
//! gc finishes cleaning.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod gc_common;

use gc_common::{bytes, T};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const FILES: usize = 80;

fn files(tag: &str, k: usize) -> Vec<(String, Vec<u8>)> {
    (0..FILES)
        .map(|i| {
            // Most files are shared between entries; every tenth is the entry's own.
            let seed = if i % 10 == 0 {
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

fn install(t: &T, name: &str, version: &str, k: usize) -> String {
    let owned = files(&format!("{name}{version}"), k);
    let refs: Vec<(&str, Vec<u8>)> = owned.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    t.install(name, version, &refs)
}

/// Profile `p` with generations 1..3 of `keep` (gc --keep 1 prunes 1 and 2 and their two
/// entries) and 18 unreferenced entries: the gc deletes 20 entries.
fn template() -> (T, String) {
    let t = T::new();
    let mut current = String::new();
    for v in 1..=3 {
        current = install(&t, "keep", &format!("{v}"), v);
        t.ok(&["use", "p", &format!("keep@{v}")]);
    }
    for u in 0..18 {
        install(&t, &format!("u{u}"), "1", u);
    }
    assert_eq!(t.entries().len(), 21);
    (t, current)
}

fn copy_root(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

fn gc_args(t: &T) -> Command {
    let mut c = t.cmd(&["gc", "--keep", "1", "--grace", "0"]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

#[test]
fn gc_killed_at_30_moments_leaves_a_sound_root_that_a_second_gc_finishes() {
    let (tpl, current) = template();
    // How long an uninterrupted gc takes here, to spread the kills over it.
    let probe = T::new();
    copy_root(&tpl.root, &probe.root);
    let start = Instant::now();
    assert!(gc_args(&probe).status().unwrap().success());
    let span = start.elapsed();
    assert_eq!(probe.entries().len(), 1);

    let mut kills = 0;
    let mut attempt = 0u32;
    while kills < 30 {
        attempt += 1;
        assert!(
            attempt <= 120,
            "could not kill 30 gc runs in time ({kills} kills)"
        );
        let t = T::new();
        copy_root(&tpl.root, &t.root);
        let delay = span.mul_f64(((attempt - 1) % 30) as f64 / 30.0 * 0.9);
        let mut child = gc_args(&t).spawn().unwrap();
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            kills += 1;
        }
        let _ = child.wait();

        // Only repairable leftovers, never a missing or damaged entry.
        let o = t.run(&["--json", "check"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for p in v["problems"].as_array().unwrap() {
            assert_eq!(p["repairable"], true, "after a kill at {delay:?}: {p}");
        }
        // Every entry a remaining generation references verifies.
        let mut referenced = Vec::new();
        for n in t.generations("p") {
            let g =
                std::fs::read_to_string(t.root.join(format!("generations/p/{n}/generation.toml")))
                    .unwrap();
            for line in g.lines().filter(|l| l.starts_with("version")) {
                referenced.push(format!("keep@{}", line.split('"').nth(1).unwrap()));
            }
        }
        assert!(!referenced.is_empty());
        let mut args = vec!["verify"];
        args.extend(referenced.iter().map(String::as_str));
        t.ok(&args);
        // A second gc completes the job.
        assert!(gc_args(&t).status().unwrap().success());
        assert_eq!(
            t.entries().into_iter().collect::<Vec<_>>(),
            vec![current.clone()]
        );
        assert_eq!(t.generations("p"), vec![3]);
        t.ok(&["check", "--quick"]);
        assert!(gc_common::names(&t.root.join("store/.trash")).is_empty());
    }
}
