//! The fuzz corpus on stable Rust (issue 8: a fuzz target run for a bounded time in CI, where
//! only stable may exist): every file of `fuzz/corpus/<target>/` goes through the same
//! harness as the cargo-fuzz targets, then a deterministic mutation loop (seeded xorshift:
//! bit flips, truncation, splicing, byte insertion, interesting values) runs over the
//! corpus for a bounded time. No input may panic; every one must end in Ok or a refusal.
//!
//! BERTH_FUZZ_SECS sets the mutation budget per target (default 10, so 20 s in all);
//! BERTH_FUZZ_SEED changes the seed. A failing input is written to
//! `target/fuzz-replay-failures/` and named in the failure, with its seed and iteration.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let out: Vec<(PathBuf, Vec<u8>)> = files
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(out.len() >= 10, "{target}: corpus has {} files", out.len());
    out
}

/// Runs one input; on a panic, saves it and returns where.
fn run_one(target: &str, data: &[u8], scratch: &Path) -> Result<(), String> {
    let r = catch_unwind(AssertUnwindSafe(|| match target {
        "archive" => harness::archive(data, scratch),
        _ => harness::manifest(data),
    }));
    if r.is_ok() {
        return Ok(());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-replay-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{target}-{}", harness_sha(data)));
    std::fs::write(&file, data).unwrap();
    Err(file.display().to_string())
}

fn harness_sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(data)[..8])
}

fn replay(target: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut accepted = 0;
    for (path, data) in corpus(target) {
        if let Err(saved) = run_one(target, &data, scratch.path()) {
            failures.push(format!("{} (saved as {saved})", path.display()));
        }
        if target == "archive" && harness::archive_as(&data, scratch.path(), "fuzz-1.0.tar") {
            accepted += 1;
        }
    }
    assert!(failures.is_empty(), "{target}: panics on {failures:#?}");
    if target == "archive" {
        // The corpus must reach past the refusals into real extraction.
        assert!(
            accepted >= 3,
            "only {accepted} corpus archives are accepted"
        );
    }
}

#[test]
fn archive_corpus_replays_without_panic() {
    replay("archive");
}

#[test]
fn manifest_corpus_replays_without_panic() {
    replay("manifest");
}

/// xorshift64*: deterministic, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that sit on the edges parsers care about (tar octal fields, lengths, magic).
const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"0",
    b"7",
    b"\n",
    b" ",
    b"=",
    b"/",
    b"..",
    b"\\",
    b"\x1b[2J",
    b"77777777777",
    b"99999999999",
    b"x",
    b"L",
    b"K",
    b"S",
    b"g",
    b"GNU.sparse.map=",
    b"size=",
    b"path=",
    b"linkpath=",
    b"\x28\xb5\x2f\xfd",
    b"\x50\x2a\x4d\x18",
    b"\x1f\x8b\x08",
    b"\xfd7zXZ\0",
    b"BZh9",
    b"\"",
    b"[",
    b"]",
    b"[[config]]\n",
    b"\\u001b",
];

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let n = rng.below(b.len());
                b.truncate(n);
            }
            2 if !other.is_empty() => {
                // Splice: our head, the other input's tail.
                let at = rng.below(b.len() + 1);
                let from = rng.below(other.len());
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
            3 => {
                let at = rng.below(b.len() + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            4 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let at = rng.below(b.len() + 1);
                let end = (at + v.len()).min(b.len());
                b.splice(at..end, v.iter().copied());
            }
            _ if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
    b
}

fn budget() -> Duration {
    let secs = std::env::var("BERTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

fn mutation_loop(target: &str, salt: u64) {
    let seed = std::env::var("BERTH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6265_7274_6866_757a_u64);
    let mut rng = Rng(seed ^ salt | 1);
    let inputs = corpus(target);
    let scratch = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let budget = budget();
    let mut n = 0u64;
    let mut failures = Vec::new();
    while start.elapsed() < budget {
        let a = &inputs[rng.below(inputs.len())].1;
        let b = &inputs[rng.below(inputs.len())].1;
        let m = mutate(&mut rng, a, b);
        if let Err(saved) = run_one(target, &m, scratch.path()) {
            failures.push(format!("iteration {n} (seed {seed}): {saved}"));
            if failures.len() >= 5 {
                break;
            }
        }
        n += 1;
    }
    println!(
        "{target}: {n} mutated inputs in {:?}, seed {seed}",
        start.elapsed()
    );
    assert!(failures.is_empty(), "{target}: panics on {failures:#?}");
    assert!(n > 0);
}

#[test]
fn archive_mutations_never_panic() {
    mutation_loop("archive", 1);
}

#[test]
fn manifest_mutations_never_panic() {
    mutation_loop("manifest", 2);
}
