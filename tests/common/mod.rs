//! Helpers shared by the integration tests: temporary roots, package source trees, running
//! the real `berth` binary and reading its `--json` output, and looking at the store on disk.

#![allow(dead_code)]

pub mod nginx;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A scratch directory holding a berth root (`<dir>/root`) and room for sources and
/// artifacts. The store's read-only directories are made writable again on drop, so the
/// temporary directory can be deleted even when the tests do not run as root.
pub struct Env {
    tmp: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        make_writable(self.tmp.path());
    }
}

/// What one run of berth did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "berth failed:\n{self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// stdout and stderr together, for message checks.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Env {
    /// A fresh scratch directory; the root itself is created by berth on first use.
    pub fn new() -> Env {
        Env {
            tmp: tempfile::Builder::new()
                .prefix("berth-test-")
                .tempdir()
                .expect("create temporary directory"),
        }
    }

    /// The scratch directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The berth root.
    pub fn root(&self) -> PathBuf {
        self.dir().join("root")
    }

    /// `<root>/store`.
    pub fn store(&self) -> PathBuf {
        self.root().join("store")
    }

    /// A berth command with `--root` set, run from the scratch directory, with a clean
    /// environment for the variables berth reads.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(self.root())
            .args(args)
            .current_dir(self.dir())
            .env_remove("BERTH_ROOT")
            .env_remove("BERTH_PROFILE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs berth with `--root` and `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("run berth"))
    }

    /// Runs berth with `--root --json` and `args`, expects success, parses stdout.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        self.run(&a).ok().json()
    }

    /// `berth list --json` as (name, version, id) triples.
    #[track_caller]
    pub fn listed(&self) -> Vec<(String, String, String)> {
        self.json(&["list"])
            .as_array()
            .expect("list --json is an array")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["version"].as_str().unwrap().to_string(),
                    e["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Writes a package source directory `<scratch>/src/<name>-<version>` with a
    /// `berth.toml` and `files` (path -> content; a path ending in `*` is executable, the
    /// star is dropped), and returns it.
    pub fn source(&self, name: &str, version: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.dir().join("src").join(format!("{name}-{version}"));
        write_tree(&dir, files);
        std::fs::write(
            dir.join("berth.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"test package {name}\"\n"
            ),
        )
        .unwrap();
        dir
    }

    /// Packs `src` into `<scratch>/<name>-<version>.berth` and returns the file.
    #[track_caller]
    pub fn pack(&self, src: &Path) -> PathBuf {
        let out = self.json(&[
            "pack",
            src.to_str().unwrap(),
            "-o",
            self.dir().to_str().unwrap(),
        ]);
        PathBuf::from(out["path"].as_str().expect("pack --json names the file"))
    }

    /// Source + pack of a small package with a few typical members.
    pub fn small_package(&self, name: &str, version: &str) -> PathBuf {
        let src = self.source(name, version, &sample_files(version));
        self.pack(&src)
    }

    /// Installs one file (path relative to the scratch directory or absolute) and
    /// returns the JSON row berth printed for it.
    #[track_caller]
    pub fn install(&self, file: &Path, extra: &[&str]) -> serde_json::Value {
        let mut a = vec!["install", file.to_str().unwrap()];
        a.extend_from_slice(extra);
        let v = self.json(&a);
        v.as_array().expect("install --json is an array")[0].clone()
    }

    /// The directory of the installed entry with this id.
    pub fn entry_dir(&self, name: &str, version: &str, id: &str) -> PathBuf {
        self.store().join(format!("{name}-{version}-{id}"))
    }

    /// Names under `store/.staging` (missing directory counts as empty).
    pub fn staging_leftovers(&self) -> Vec<String> {
        children(&self.store().join(".staging"))
    }

    /// Names directly under `store/`, dot-directories included, sorted.
    pub fn store_names(&self) -> Vec<String> {
        children(&self.store())
    }
}

/// The typical members of a test package: a script, a text file, an empty file, a symlink,
/// a nested directory. The text file's content depends on `version`.
pub fn sample_files(version: &str) -> Vec<(&'static str, &'static [u8])> {
    let readme: &'static [u8] =
        Box::leak(format!("readme of version {version}\n").into_boxed_str()).as_bytes();
    vec![
        ("bin/hello*", b"#!/bin/sh\necho hello\n" as &[u8]),
        ("share/doc/README", readme),
        ("share/data/table.csv", b"a,b\n1,2\n"),
        ("share/empty", b""),
    ]
}

/// Writes `files` under `dir` (see [`Env::source`] for the `*` convention).
pub fn write_tree(dir: &Path, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    for (path, content) in files {
        let (path, exec) = match path.strip_suffix('*') {
            Some(p) => (p, true),
            None => (*path, false),
        };
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Sorted names in `dir` (empty when it does not exist).
pub fn children(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

/// Runs an external command (tar, gzip …) and panics unless it succeeds.
#[track_caller]
pub fn sh(cwd: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Adds u+w to every directory and file under `path` (so tests may tamper or delete).
pub fn make_writable(path: &Path) {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return;
    };
    if m.file_type().is_symlink() {
        return;
    }
    let mode = m.permissions().mode();
    if mode & 0o200 == 0 {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o200));
    }
    if m.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                make_writable(&e.path());
            }
        }
    }
}

/// Bytes of disk used under `path`, counting every inode once (like `du -s -B1`):
/// the sum of st_blocks * 512 over unique (dev, ino).
pub fn disk_usage(path: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if seen.insert((m.dev(), m.ino())) {
            total += m.blocks() * 512;
        }
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    total
}

/// Every path under `dir` (relative, `/`-separated) with its metadata, not following links.
pub fn walk(dir: &Path) -> BTreeMap<String, std::fs::Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(r.clone());
            }
            out.insert(r.to_string_lossy().into_owned(), m);
        }
    }
    out
}

/// Every pool object as (dev, ino).
pub fn pool_inodes(root: &Path) -> std::collections::HashSet<(u64, u64)> {
    walk(&root.join("store/.objects"))
        .values()
        .filter(|m| m.is_file())
        .map(|m| (m.dev(), m.ino()))
        .collect()
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    hex::encode(sha2::Sha256::digest(&bytes))
}
