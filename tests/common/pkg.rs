//! Making packages for the tests: source directories with a `berth.toml`, `pack`, tarballs,
//! and installing them into the test's root through the real binary.

use super::{probe_bin, write_tar, write_tree, Env};
use std::path::{Path, PathBuf};

/// The typical members of a test package: a script, a text file, an empty file, a nested
/// directory. The text file's content depends on `version`.
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

/// `n` bytes that zstd cannot shrink (xorshift64).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

impl Env {
    /// Writes a package source directory `<scratch>/src/<name>-<version>` with a
    /// `berth.toml` (name, version, a description) and `files` (see [`write_tree`] for the
    /// `*` convention), and returns it.
    pub fn source(&self, name: &str, version: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let description = format!("description = \"test package {name}\"\n");
        self.source_with(name, version, &description, files)
    }

    /// As [`Env::source`], with `extra` appended to the manifest after name and version
    /// (more `[package]` keys, or further tables such as `[exports]`).
    pub fn source_with(
        &self,
        name: &str,
        version: &str,
        extra: &str,
        files: &[(&str, &[u8])],
    ) -> PathBuf {
        let dir = self.dir().join("src").join(format!("{name}-{version}"));
        write_tree(&dir, files);
        std::fs::write(
            dir.join("berth.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n{extra}"),
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

    /// Packs a source directory (with berth.toml) and installs it.
    #[track_caller]
    pub fn install_dir(&self, src: &Path) -> serde_json::Value {
        let pkg = self.pack(src);
        self.install(&pkg, &[])
    }

    /// Makes and installs a package with a manifest of only name and version.
    #[track_caller]
    pub fn package(&self, name: &str, version: &str, files: &[(&str, &[u8])]) {
        self.package_with(name, version, files, "");
    }

    /// As [`Env::package`], with extra manifest text (e.g. `[exports]`).
    #[track_caller]
    pub fn package_with(&self, name: &str, version: &str, files: &[(&str, &[u8])], extra: &str) {
        let src = self.source_with(name, version, extra, files);
        self.install_dir(&src);
    }

    /// A package whose command `cmd` is a shell script printing "<name> <version>".
    pub fn script_package(&self, name: &str, version: &str, cmd: &str) {
        let script = format!("#!/bin/sh\necho \"{name} {version}\"\n");
        let bin = format!("bin/{cmd}*");
        let share = format!("share/{name}/VERSION");
        self.package(
            name,
            version,
            &[(&bin, script.as_bytes()), (&share, version.as_bytes())],
        );
    }

    /// A package whose command `cmd` is the probe program.
    pub fn probe_package(&self, name: &str, version: &str, cmd: &str) {
        let bytes = std::fs::read(probe_bin()).unwrap();
        let bin = format!("bin/{cmd}*");
        let share = format!("share/{name}/VERSION");
        self.package(
            name,
            version,
            &[(&bin, &bytes), (&share, version.as_bytes())],
        );
    }

    /// Writes `<scratch>/pkgs/<name>-<version>.tar` with these files (see [`write_tar`]).
    pub fn tarball(&self, name: &str, version: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
        let dir = self.dir().join("pkgs");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}-{version}.tar"));
        write_tar(&path, files);
        path
    }

    /// Writes a tarball with these files and installs it (name and version from the file
    /// name); returns the entry's directory name `<name>-<version>-<id>`.
    #[track_caller]
    pub fn install_tar(&self, name: &str, version: &str, files: &[(&str, Vec<u8>)]) -> String {
        let tar = self.tarball(name, version, files);
        let row = self.install(&tar, &[]);
        format!("{name}-{version}-{}", row["id"].as_str().unwrap())
    }
}
