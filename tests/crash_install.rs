//! Crash safety of `install` (DESIGN.md invariant 1): an install of a large package is
//! killed with SIGKILL at 30 moments spread over its whole run, commit phase included.
//! After each kill every listed entry verifies, the next install of the same package
//! succeeds, and that install leaves nothing in staging or trash.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Files in the generated package (`BERTH_CRASH_FILES` overrides, for quick local runs).
fn files() -> usize {
    std::env::var("BERTH_CRASH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000)
}
/// Kills of installs into a fresh root (every object new), at fractions of one measured
/// install's duration. Each costs a full install and the deletion of its root, so there
/// are only a few of them.
const FRESH_KILLS: usize = 4;
/// Kills of installs into a fresh root once the commit phase is visible in staging.
const COMMIT_KILLS: usize = 2;
/// Kills of installs into a root whose pool already holds every object (another version
/// of the same content is installed), at fractions of such an install's duration: the
/// same extraction and commit, but linking instead of writing, so they are cheap.
const DEDUP_KILLS: usize = 24;

/// Deterministic pseudo-random numbers (xorshift64*), so every run builds the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Writes a package source of ~15,000 files (a few tens of MB): mostly small files, some
/// medium and a few large ones, empty files, executables, duplicate contents and symlinks.
fn generate(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut previous: Vec<u8> = Vec::new();
    for i in 0..files() {
        let sub = dir.join(format!("lib/d{:03}/s{}", i % 150, (i / 150) % 5));
        if i < 750 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        let size = match i % 1000 {
            0 => 256 * 1024 + (rng.next() % (768 * 1024)) as usize,
            1..=19 => 8 * 1024 + (rng.next() % (56 * 1024)) as usize,
            20..=199 => 1024 + (rng.next() % (7 * 1024)) as usize,
            _ => (rng.next() % 1024) as usize,
        };
        let data = if i % 97 == 0 {
            Vec::new()
        } else if i % 53 == 0 {
            previous.clone() // duplicate content within the package
        } else {
            let mut d = vec![0u8; size];
            rng.fill(&mut d);
            d
        };
        let path = sub.join(format!("f{i:05}"));
        std::fs::write(&path, &data).unwrap();
        if i % 41 == 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if i % 307 == 0 {
            std::os::unix::fs::symlink(format!("f{i:05}"), sub.join(format!("l{i:05}"))).unwrap();
        }
        previous = data;
    }
    std::fs::write(
        dir.join("berth.toml"),
        "[package]\nname = \"big\"\nversion = \"1.0\"\ndescription = \"crash test\"\n",
    )
    .unwrap();
}

fn start_install(env: &Env, args: &[&str]) -> Child {
    let mut a = vec!["-q", "install"];
    a.extend_from_slice(args);
    env.cmd(&a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start berth install")
}

/// Runs one install to the end and returns how long it took.
fn timed_install(env: &Env, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = start_install(env, args).wait().unwrap();
    assert!(status.success(), "berth install {args:?} failed");
    start.elapsed()
}

/// True once some staging tree has its `.berth/` directory: extraction is over and the
/// commit (metadata, sealing, syncfs, pool links, rename) has begun.
fn in_commit_phase(staging: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(staging) else {
        return false;
    };
    rd.flatten().any(|t| t.path().join("tree/.berth").exists())
}

/// When to kill an install.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after it started.
    After(Duration),
    /// This long after its commit phase became visible.
    Commit(Duration),
}

/// Starts an install, SIGKILLs it at `at`, and tells whether it was still running then.
fn kill_install(env: &Env, args: &[&str], at: KillAt) -> bool {
    let mut child = start_install(env, args);
    match at {
        KillAt::After(d) => std::thread::sleep(d),
        KillAt::Commit(d) => {
            let staging = env.store().join(".staging");
            while child.try_wait().unwrap().is_none() {
                if in_commit_phase(&staging) {
                    std::thread::sleep(d);
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    running
}

/// Checks the invariants after a kill: every listed entry verifies, the next install of
/// the same package succeeds, and it leaves staging and trash empty.
fn check_after_kill(env: &Env, args: &[&str], what: &str) {
    eprintln!("crash test: checking after {what}");
    // `verify` with no argument checks every entry `list` shows.
    let r = env.run(&["verify"]);
    assert_eq!(
        r.code, 0,
        "after {what}: a listed entry does not verify:\n{r}"
    );
    let before = env.listed().len();
    let mut a = vec!["--json", "install"];
    a.extend_from_slice(args);
    let r = env.run(&a);
    assert_eq!(r.code, 0, "after {what}: the next install failed:\n{r}");
    let status = r.json()[0]["status"].as_str().unwrap().to_string();
    assert!(status == "installed" || status == "unchanged", "{status}");
    assert!(
        env.staging_leftovers().is_empty(),
        "after {what}: staging not empty after the next install: {:?}",
        env.staging_leftovers()
    );
    assert!(
        children(&env.store().join(".trash")).is_empty(),
        "after {what}: trash not empty"
    );
    let after = env.listed().len();
    assert!(
        after == before || after == before + 1,
        "after {what}: {before} -> {after} entries"
    );
}

#[test]
fn sigkill_at_any_moment_of_install_leaves_a_consistent_store() {
    let env = Env::new();
    let src = env.dir().join("big-src");
    generate(&src);
    let pkg: PathBuf = env.pack(&src);
    // The same content as a tarball, installed under other versions for the dedup rounds.
    std::fs::remove_file(src.join("berth.toml")).unwrap();
    let tarball = env.dir().join("big.tar.zst");
    sh(
        &src,
        "tar",
        &[
            "--zstd",
            "--sort=name",
            "-cf",
            tarball.to_str().unwrap(),
            "lib",
        ],
    );
    std::fs::remove_dir_all(&src).unwrap();
    let berth_args = [pkg.to_str().unwrap()];

    // The first install into an empty root tells how long a fresh install takes; that
    // root then serves the dedup rounds below.
    let shared = Env::new();
    let full = timed_install(&shared, &berth_args);

    // Fresh roots: every object is new, the commit links them all into the pool.
    let mut hits = 0;
    let mut rounds: Vec<KillAt> = (0..FRESH_KILLS)
        .map(|i| KillAt::After(full.mul_f64((i as f64 + 0.5) / FRESH_KILLS as f64)))
        .collect();
    rounds.extend(
        [0, 20_000][..COMMIT_KILLS]
            .iter()
            .map(|&us| KillAt::Commit(Duration::from_micros(us))),
    );
    let mut commit_hits = 0;
    for (i, at) in rounds.into_iter().enumerate() {
        let fresh = Env::new();
        let running = kill_install(&fresh, &berth_args, at);
        if running {
            hits += 1;
            if matches!(at, KillAt::Commit(_)) {
                commit_hits += 1;
            }
        }
        check_after_kill(
            &fresh,
            &berth_args,
            &format!("fresh-root kill {i} ({at:?}; a full install takes {full:?})"),
        );
    }

    // One root whose pool already has every object: kills while linking an install of
    // another version of the same content.
    let t = tarball.to_str().unwrap();
    let full = timed_install(&shared, &[t, "--name", "big", "--version", "2.0"]);
    for i in 0..DEDUP_KILLS {
        let version = format!("3.{i}");
        let args = [t, "--name", "big", "--version", &version];
        let at = KillAt::After(full.mul_f64((i as f64 + 0.5) / DEDUP_KILLS as f64));
        if kill_install(&shared, &args, at) {
            hits += 1;
        }
        check_after_kill(
            &shared,
            &args,
            &format!("dedup kill {i} ({at:?} of {full:?})"),
        );
        shared
            .run(&["-q", "remove", &format!("big@{version}")])
            .ok();
    }

    // The kills must really have interrupted installs, or the test proves nothing.
    let total = FRESH_KILLS + COMMIT_KILLS + DEDUP_KILLS;
    assert_eq!(total, 30);
    assert!(
        hits >= total / 2,
        "only {hits} of {total} kills hit a running install"
    );
    assert!(commit_hits >= 1, "no kill landed in the commit phase");
    shared.run(&["verify"]).ok();
    assert_eq!(shared.listed().len(), 2);
}
