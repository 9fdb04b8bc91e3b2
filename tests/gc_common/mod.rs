//! Helpers for the gc and check tests: a temporary root, the real binary, small packages.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary berth root driven through the real binary.
pub struct T {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub pkgs: PathBuf,
}

impl Default for T {
    fn default() -> Self {
        T::new()
    }
}

impl T {
    pub fn new() -> T {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let pkgs = dir.path().join("pkgs");
        std::fs::create_dir_all(&pkgs).unwrap();
        T { dir, root, pkgs }
    }

    /// `berth --root ROOT args…`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root").arg(&self.root).args(args);
        c.env_remove("BERTH_ROOT").env_remove("BERTH_PROFILE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}):\n{}\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs with --json and asserts success.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Writes `name-version.tar` with these files and installs it; returns the entry's
    /// directory name.
    pub fn install(&self, name: &str, version: &str, files: &[(&str, Vec<u8>)]) -> String {
        let tar = self.pkg(name, version, files);
        let v = self.json(&["install", tar.to_str().unwrap()]);
        format!("{name}-{version}-{}", v[0]["id"].as_str().unwrap())
    }

    /// Writes a tarball.
    pub fn pkg(&self, name: &str, version: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
        let path = self.pkgs.join(format!("{name}-{version}.tar"));
        write_tar(&path, files);
        path
    }

    /// Store entry directory names.
    pub fn entries(&self) -> BTreeSet<String> {
        names(&self.root.join("store"))
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    /// Generation numbers of a profile.
    pub fn generations(&self, profile: &str) -> Vec<u64> {
        let mut v: Vec<u64> = names(&self.root.join("generations").join(profile))
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        v.sort();
        v
    }

    /// Rewrites the creation time of a generation (fixtures for --older-than).
    pub fn set_created(&self, profile: &str, n: u64, when: std::time::SystemTime) {
        let p = self
            .root
            .join(format!("generations/{profile}/{n}/generation.toml"));
        let text = std::fs::read_to_string(&p).unwrap();
        let stamp = humantime::format_rfc3339_seconds(when).to_string();
        let out: String = text
            .lines()
            .map(|l| {
                if l.starts_with("created") {
                    format!("created = \"{stamp}\"\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&p, out).unwrap();
    }

    /// Every path under the root with (inode, size), to prove a dry run changes nothing.
    pub fn snapshot(&self) -> Vec<(PathBuf, u64, u64)> {
        let mut out = Vec::new();
        walk(&self.root, &mut |p, m| {
            if !p.ends_with(".lock") {
                out.push((p.to_path_buf(), m.ino(), m.len()));
            }
        });
        out.sort();
        out
    }
}

pub fn write_tar(path: &Path, files: &[(&str, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(if name.starts_with("bin/") {
            0o755
        } else {
            0o644
        });
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

/// `n` bytes of content derived from `seed`.
pub fn bytes(seed: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("{seed}:{i}\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

pub fn names(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        f(&e.path(), &m);
        if m.is_dir() {
            walk(&e.path(), f);
        }
    }
}

/// Distinct inodes of a tree (including the tree's own directory) with their blocks in bytes.
pub fn inodes(tree: &Path) -> std::collections::BTreeMap<u64, u64> {
    let mut out = std::collections::BTreeMap::new();
    let m = std::fs::symlink_metadata(tree).unwrap();
    out.insert(m.ino(), m.blocks() * 512);
    walk(tree, &mut |_, m| {
        out.insert(m.ino(), m.blocks() * 512);
    });
    out
}
