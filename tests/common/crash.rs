//! SIGKILL tests: start a berth command, kill it at a chosen moment, and check the
//! invariants of DESIGN.md on what it left, then that the next command works and that the
//! root is clean afterwards. Shared by the crash tests of the store, profiles and gc.

use super::{children, Env};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Deterministic pseudo-random numbers (xorshift64*), so every run makes the same
/// fixtures and the same list of kill moments.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Kill moments spread over a whole run: round `i` of `n` falls at a random point of the
/// `i`-th of `n` equal slices of [0, 1) (stratified, so every part of the run gets its
/// share of kills and no two runs of the test differ).
pub struct Moments {
    rng: Rng,
    n: usize,
}

impl Moments {
    /// Moments for `n` rounds, from `seed`.
    pub fn new(seed: u64, n: usize) -> Moments {
        Moments { rng: Rng(seed), n }
    }

    /// The fraction of a run at which to kill in round `i`.
    pub fn fraction(&mut self, i: usize) -> f64 {
        let slice = (i % self.n) as f64;
        (slice + self.rng.unit()) / self.n as f64
    }
}

/// How long an uninterrupted run takes, as far as the test knows: measured once, then
/// lowered whenever a kill finds the command already finished (it ended before the kill).
#[derive(Debug, Clone, Copy)]
pub struct Span(pub Duration);

impl Span {
    /// The moment `fraction` of the way through a run.
    pub fn at(&self, fraction: f64) -> Duration {
        self.0.mul_f64(fraction)
    }

    /// Learns from a kill that came too late.
    pub fn observe(&mut self, k: Kill) {
        if !k.hit {
            self.0 = self.0.min(k.at);
        }
    }
}

/// When to send SIGKILL.
#[derive(Debug, Clone, Copy)]
pub enum KillAt {
    /// This long after the start.
    After(Duration),
    /// This long after `seen` first held (polled every 200 µs), so a kill lands just past
    /// a phase the timing alone rarely hits (a commit, the deletion of a trash entry).
    Once(fn(&Path) -> bool, Duration),
}

/// What one kill did.
#[derive(Debug, Clone, Copy)]
pub struct Kill {
    /// The command was still running when the signal went: a real interruption.
    pub hit: bool,
    /// How long after the start it was sent.
    pub at: Duration,
}

/// Starts berth with `args` on `env`'s root, output discarded.
pub fn spawn(env: &Env, args: &[&str]) -> Child {
    env.cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start berth")
}

/// Runs berth with `args` to the end, expects success, returns how long it took.
#[track_caller]
pub fn timed(env: &Env, args: &[&str]) -> Duration {
    let start = Instant::now();
    let r = env.run(args);
    let took = start.elapsed();
    assert!(r.success(), "berth {args:?} failed:\n{r}");
    took
}

/// Starts berth with `args`, SIGKILLs it at `at`, and reaps it.
pub fn kill_at(env: &Env, args: &[&str], at: KillAt) -> Kill {
    let start = Instant::now();
    let mut child = spawn(env, args);
    match at {
        KillAt::After(d) => std::thread::sleep(d),
        KillAt::Once(seen, d) => {
            while child.try_wait().unwrap().is_none() {
                if seen(env.root()) {
                    std::thread::sleep(d);
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    let hit = child.try_wait().unwrap().is_none();
    let at = start.elapsed();
    let _ = child.kill(); // SIGKILL: no destructor, no cleanup.
    let _ = child.wait();
    Kill { hit, at }
}

/// Counts kills per operation, for the final assertions and the summary line.
#[derive(Default)]
pub struct Tally {
    hits: BTreeMap<String, usize>,
    tries: BTreeMap<String, usize>,
}

impl Tally {
    /// Records one kill of `op`.
    pub fn add(&mut self, op: &str, k: Kill) {
        *self.tries.entry(op.to_string()).or_default() += 1;
        if k.hit {
            *self.hits.entry(op.to_string()).or_default() += 1;
        }
    }

    /// Kills of `op` that interrupted a running command.
    pub fn hits(&self, op: &str) -> usize {
        self.hits.get(op).copied().unwrap_or(0)
    }

    /// Kills of `op` sent, whether or not the command was still running.
    pub fn tries(&self, op: &str) -> usize {
        self.tries.get(op).copied().unwrap_or(0)
    }

    /// One line per operation: hits of tries.
    pub fn summary(&self) -> String {
        self.tries
            .iter()
            .map(|(op, t)| format!("{op}: {} of {t} kills hit", self.hits(op)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The invariants of DESIGN.md that must hold at any instant, checked right after a kill:
/// every store entry is complete and `list` shows exactly the entries on disk (1); every
/// generation is complete and every profile link points to one (2); every entry a
/// generation or a pin references exists (3); and a full `check`, which re-hashes every
/// entry as `verify` does (4), finds nothing but leftovers `check --repair` may remove.
#[track_caller]
pub fn assert_sound(env: &Env, what: &str) {
    let entries = env.entries();
    for e in &entries {
        for meta in ["manifest.toml", "files", "origin.toml"] {
            let p = env.store().join(e).join(".berth").join(meta);
            assert!(p.is_file(), "{what}: entry {e} is incomplete: no {meta}");
        }
    }
    let listed: BTreeSet<String> = env
        .listed()
        .into_iter()
        .map(|(n, v, id)| format!("{n}-{v}-{id}"))
        .collect();
    assert_eq!(listed, entries, "{what}: list and store disagree");
    let generations = generations_sound(env, &entries, what);
    profile_links_sound(env, &generations, what);
    for pin in children(&env.store().join(".pins")) {
        assert!(entries.contains(&pin), "{what}: pin of missing entry {pin}");
    }
    // A full check re-hashes every entry (what `verify` does) and every pool object.
    for p in problems(env, &[]) {
        assert_eq!(p["repairable"], true, "{what}: {p}");
    }
}

/// Every complete generation (profile, number); panics on an incomplete one or a package
/// link to a missing entry.
#[track_caller]
fn generations_sound(env: &Env, entries: &BTreeSet<String>, what: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for profile in children(&env.root().join("generations")) {
        for n in env.generations(&profile) {
            let toml = env.generation_toml(&profile, n);
            assert!(
                toml.is_file(),
                "{what}: generation {profile}/{n} incomplete"
            );
            let dir = toml.parent().unwrap();
            for pkg in env.gen_packages(&profile, n) {
                let name = pkg.split('@').next().unwrap();
                let link = std::fs::read_link(dir.join("pkgs").join(name))
                    .unwrap_or_else(|e| panic!("{what}: {profile}/{n}/pkgs/{name}: {e}"));
                let entry = link.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    entries.contains(&entry),
                    "{what}: {profile}/{n} references missing entry {entry}"
                );
            }
            out.insert(format!("{profile}/{n}"));
        }
    }
    out
}

/// Every profile link (not a temporary one) points to a complete generation.
#[track_caller]
fn profile_links_sound(env: &Env, generations: &BTreeSet<String>, what: &str) {
    for name in children(&env.root().join("profiles")) {
        if name.starts_with('.') {
            continue; // a temporary link of a killed switch: a leftover
        }
        let target = std::fs::read_link(env.root().join("profiles").join(&name))
            .unwrap_or_else(|e| panic!("{what}: profiles/{name}: {e}"));
        let target = target.to_string_lossy().into_owned();
        let gen = target
            .strip_prefix("../generations/")
            .unwrap_or_else(|| panic!("{what}: profiles/{name} -> {target}"));
        assert!(
            generations.contains(gen),
            "{what}: profiles/{name} -> {target}, not a complete generation"
        );
    }
}

/// The problems `check --json` (with `extra` flags) reports.
pub fn problems(env: &Env, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["--json", "check"];
    args.extend_from_slice(extra);
    let r = env.run(&args);
    assert!(r.code == 0 || r.code == 5, "check failed:\n{r}");
    r.json()["problems"].as_array().unwrap().clone()
}

/// After the command that follows a kill: `check` is clean, or finds only leftovers that
/// `check --repair` removes, after which it is clean. Returns the kinds repaired.
#[track_caller]
pub fn assert_clean_or_repaired(env: &Env, what: &str) -> Vec<String> {
    let found = problems(env, &[]);
    if found.is_empty() {
        return vec![];
    }
    let kinds: Vec<String> = found
        .iter()
        .map(|p| {
            assert_eq!(p["repairable"], true, "{what}: {p}");
            p["kind"].as_str().unwrap().to_string()
        })
        .collect();
    env.run(&["check", "--repair"]).ok();
    let left = problems(env, &[]);
    assert!(left.is_empty(), "{what}: left after repair: {left:?}");
    kinds
}

/// No staging or trash left in the store, no half-built generation or temporary link.
#[track_caller]
pub fn assert_no_leftovers(env: &Env, what: &str) {
    let staging = children(&env.store().join(".staging"));
    assert!(staging.is_empty(), "{what}: staging left: {staging:?}");
    let trash = children(&env.store().join(".trash"));
    assert!(trash.is_empty(), "{what}: trash left: {trash:?}");
    for profile in children(&env.root().join("generations")) {
        let dots: Vec<String> = children(&env.root().join("generations").join(&profile))
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(dots.is_empty(), "{what}: generations/{profile}: {dots:?}");
    }
    let temp: Vec<String> = children(&env.root().join("profiles"))
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(temp.is_empty(), "{what}: temporary profile links: {temp:?}");
}

/// A name berth's temporary-name scheme makes (`.<stem>.tmp.<pid>.<n>`, src/fsutil/temp.rs),
/// as a berth process killed midway leaves it: the pid is one no running process has.
pub fn stale_temp_name(stem: &str, n: u64) -> String {
    format!(".{stem}.tmp.4194999.{n}")
}
