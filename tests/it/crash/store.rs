//! Crash safety of `install` and `remove` (DESIGN.md invariants 1 and 3): both are killed
//! with SIGKILL at moments spread over their whole run, commit phases included. After each
//! kill every entry on disk is complete and verifies and `check` finds only leftovers; the
//! next command (the same install again, or the remove again) works and leaves no staging or
//! trash; `check` is then clean (or clean after `check --repair` of leftovers).
//!
//! One root serves every round, so a round costs one install and one remove instead of a
//! fresh root: a release that shares 80% of its files with an installed one (new objects
//! written, old ones linked) is installed, then removed (which frees its own objects again,
//! so the next round writes them anew). A few rounds kill the very first install into an
//! empty root.

use crate::common::crash::*;
use crate::common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files in the release (`BERTH_CRASH_FILES` overrides, for quick local runs).
fn files() -> usize {
    std::env::var("BERTH_CRASH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
}

/// Kills that must interrupt a running install into the shared root, at stratified
/// moments of a measured install; every seventh waits for the commit phase instead.
const INSTALL_KILLS: usize = 24;
/// Kills that must interrupt the first install into an empty root (root, store and pool
/// are created by it).
const FRESH_KILLS: usize = 4;
/// Kills that must interrupt a running remove; every fifth waits until the entry is in
/// the trash (its deletion under way).
const REMOVE_KILLS: usize = 20;

/// Writes a `.tar.zst` of the release: `salt` 0 is the base; any other salt changes every
/// fifth file (new objects) and keeps the rest (shared objects). Mostly small files, some
/// larger, a few empty, executables and symlinks.
fn release(path: &Path, salt: u64) {
    let out = std::fs::File::create(path).unwrap();
    let zst = zstd::Encoder::new(out, 1).unwrap().auto_finish();
    let mut tar = ::tar::Builder::new(zst);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..files() {
        let size = match i % 100 {
            0 => 64 * 1024 + (rng.next() % (64 * 1024)) as usize,
            1..=9 => 4 * 1024 + (rng.next() % (8 * 1024)) as usize,
            _ => (rng.next() % 1024) as usize,
        };
        let mut data = vec![0u8; if i % 97 == 0 { 0 } else { size }];
        rng.fill(&mut data);
        if i % 5 == 0 && salt != 0 && !data.is_empty() {
            data[0] ^= salt as u8 | 1;
            data.extend_from_slice(&salt.to_le_bytes());
        }
        let name = format!("lib/d{:02}/f{i:05}", i % 40);
        let mut h = ::tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(if i % 41 == 0 { 0o755 } else { 0o644 });
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, &name, data.as_slice()).unwrap();
        if i % 307 == 0 {
            let mut h = ::tar::Header::new_gnu();
            h.set_entry_type(::tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_cksum();
            let link = format!("lib/d{:02}/l{i:05}", i % 40);
            tar.append_link(&mut h, &link, format!("f{i:05}")).unwrap();
        }
    }
    tar.into_inner().unwrap().flush().unwrap();
}

/// True once a staging tree has its `.berth/`: extraction is over and the commit (metadata,
/// sealing, syncfs, pool links, rename) has begun.
fn in_commit_phase(root: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(root.join("store/.staging")) else {
        return false;
    };
    rd.flatten().any(|t| t.path().join("tree/.berth").exists())
}

/// True once an entry is in the trash: the remove has passed its commit point.
fn in_trash(root: &Path) -> bool {
    !children(&root.join("store/.trash")).is_empty()
}

/// An install of `file` as big@`version`.
fn install_args<'a>(file: &'a str, version: &'a str) -> [&'a str; 7] {
    ["-q", "install", file, "--name", "big", "--version", version]
}

/// The next install after a kill works and cleans what the kill left.
fn install_again(env: &Env, args: &[&str], what: &str) -> Duration {
    let took = timed(env, args);
    assert_no_leftovers(env, &format!("{what}, after the next install"));
    assert_clean_or_repaired(env, what);
    took
}

/// Kills of the first install into an empty root: every directory of the root is created
/// by the command being killed.
fn fresh_root_rounds(pkg: &Path, tally: &mut Tally) {
    let probe = Env::new();
    let args = ["-q", "install", pkg.to_str().unwrap()];
    // The probe can be slow (cold caches, a filesystem still freeing the previous test's
    // files): a kill that finds the install finished lowers the span, as in the rounds below.
    let mut span = Span(timed(&probe, &args));
    let mut moments = Moments::new(7, FRESH_KILLS);
    let mut round = 0;
    while tally.hits("fresh install") < FRESH_KILLS {
        assert!(round < 3 * FRESH_KILLS, "{}", tally.summary());
        let env = Env::new();
        let at = KillAt::After(span.at(moments.fraction(round)));
        let k = kill_at(&env, &args, at);
        tally.add("fresh install", k);
        span.observe(k);
        let what = format!("fresh-root install killed at {:?} of {:?}", k.at, span.0);
        if env.root().exists() {
            assert_sound(&env, &what);
        }
        install_again(&env, &args, &what);
        assert_eq!(env.entries().len(), 1, "{what}");
        round += 1;
    }
}

/// Installs big@`version` from `file`, killing the install first if more kills are due;
/// the install run again after a kill must work and clean up. Returns how long the
/// uninterrupted install took.
fn install_round(env: &Env, file: &str, version: &str, span: Duration, r: &mut Rounds) -> Duration {
    let args = install_args(file, version);
    if r.tally.hits("install") < INSTALL_KILLS {
        let i = r.tally.tries("install");
        let at = if i % 7 == 6 {
            KillAt::Once(in_commit_phase, Duration::from_micros(200 * (i as u64 % 4)))
        } else {
            KillAt::After(span.mul_f64(r.install.fraction(i)))
        };
        let k = kill_at(env, &args, at);
        r.tally.add("install", k);
        let committed = env.entries().iter().any(|e| e.starts_with("big-2."));
        let phase = match (committed, env.staging_leftovers().is_empty()) {
            (true, _) => "install committed",
            (false, false) => "install mid-way",
            (false, true) => "install not started",
        };
        r.phases.add(phase, k);
        let what = format!("install {i} killed at {:?} ({at:?})", k.at);
        assert_sound(env, &what);
        install_again(env, &args, &what)
    } else {
        let took = timed(env, &args);
        assert_no_leftovers(env, "after an install");
        took
    }
}

/// Removes big@`version`, killing the remove first if more kills are due. Returns how
/// long the last uninterrupted remove took (or `span` if none ran).
fn remove_round(env: &Env, version: &str, span: Duration, r: &mut Rounds) -> Duration {
    let spec = format!("big@{version}");
    let args = ["-q", "remove", spec.as_str()];
    if r.tally.hits("remove") >= REMOVE_KILLS {
        return timed(env, &args);
    }
    let i = r.tally.tries("remove");
    let at = if i % 5 == 4 {
        KillAt::Once(in_trash, Duration::from_micros(500 * (i as u64 % 3)))
    } else {
        // Squared: a third of the kills fall in the first tenth of the run, where the
        // plan and the rename into the trash (the commit point) are.
        KillAt::After(span.mul_f64(r.remove.fraction(i).powi(2)))
    };
    let k = kill_at(env, &args, at);
    r.tally.add("remove", k);
    let what = format!("remove {i} killed at {:?} ({at:?})", k.at);
    assert_sound(env, &what);
    let listed = env.entries().iter().any(|e| e.starts_with("big-2."));
    r.phases.add(
        if listed {
            "remove not committed"
        } else {
            "remove committed"
        },
        k,
    );
    if !listed {
        // Killed after its commit point (the rename into the trash): the next install
        // must sweep the trash.
        return span;
    }
    // Killed before it: the entry is whole, and the remove runs again.
    let took = timed(env, &args);
    assert_no_leftovers(env, &format!("{what}, after the next remove"));
    assert_clean_or_repaired(env, &what);
    took
}

/// The kill moments and what the kills did so far.
struct Rounds {
    install: Moments,
    remove: Moments,
    tally: Tally,
    /// Kills by what they left: before, across or after the commit point.
    phases: Tally,
}

#[test]
fn sigkill_during_install_and_remove_keeps_the_store_sound() {
    let env = Env::new();
    let base: PathBuf = env.dir().join("base.tar.zst");
    let next: PathBuf = env.dir().join("next.tar.zst");
    release(&base, 0);
    release(&next, 0x5eed);
    let (base, next) = (base.to_str().unwrap(), next.to_str().unwrap());
    // The base stays installed and in use, so the release shares 80% of its objects.
    timed(&env, &install_args(base, "1"));
    env.ok(&["use", "p", "big@1"]);
    let mut r = Rounds {
        install: Moments::new(1, INSTALL_KILLS),
        remove: Moments::new(2, REMOVE_KILLS),
        tally: Tally::default(),
        phases: Tally::default(),
    };
    let small = env.small_package("small", "1.0");
    fresh_root_rounds(&small, &mut r.tally);

    // One uninterrupted install and remove tell how long each takes here; later rounds
    // use the last uninterrupted run.
    let mut install_span = timed(&env, &install_args(next, "0"));
    let mut remove_span = timed(&env, &["-q", "remove", "big@0"]);
    let mut round = 0;
    while r.tally.hits("install") < INSTALL_KILLS || r.tally.hits("remove") < REMOVE_KILLS {
        assert!(round < 2 * INSTALL_KILLS, "{}", r.tally.summary());
        let version = format!("2.{round}");
        install_span = install_round(&env, next, &version, install_span, &mut r);
        remove_span = remove_round(&env, &version, remove_span, &mut r);
        round += 1;
    }
    eprintln!("crash test: {}; {}", r.tally.summary(), r.phases.summary());
    // Whatever the last kill left, the next install sweeps it.
    install_again(&env, &install_args(next, "3"), "the end");
    env.ok(&["-q", "remove", "big@3"]);
    env.ok(&["verify"]);
    assert_eq!(env.entries().len(), 1, "only the base is left");
}
