//! Helpers for the profile and shim tests: a temporary root, packages made on the fly, the
//! berth and shim binaries, and a tiny compiled program that reports how it was started.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The berth binary under test.
pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// The shim binary, built next to berth (a workspace member; built if missing).
pub fn shim_bin() -> PathBuf {
    let p = berth_bin().with_file_name("berth-shim");
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if !p.exists() {
            let release = berth_bin().parent().is_some_and(|d| d.ends_with("release"));
            let mut c = Command::new(env!("CARGO"));
            c.args(["build", "-p", "berth-shim", "--bin", "berth-shim"]);
            if release {
                c.arg("--release");
            }
            assert!(c.status().unwrap().success(), "cannot build berth-shim");
        }
    });
    assert!(p.exists(), "no berth-shim at {}", p.display());
    p
}

/// A C program that prints its argv[0], arguments, BERTH_PROFILE, real path and pid; with
/// `cat` as first argument it copies stdin to stdout; exits with $EXIT_WITH.
pub fn probe_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join("berth-probe");
        if out.exists() {
            return out;
        }
        let src = dir.join(format!("probe-{}.c", std::process::id()));
        std::fs::write(
            &src,
            r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char exe[4096]; ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0) n = 0; exe[n] = 0;
  const char *p = getenv("BERTH_PROFILE");
  printf("argv0=%s\n", argv[0]);
  for (int i = 1; i < argc; i++) printf("arg=%s\n", argv[i]);
  printf("profile=%s\nexe=%s\npid=%d\n", p ? p : "", exe, (int)getpid());
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "cat") == 0) {
    char buf[65536]; ssize_t r;
    while ((r = read(0, buf, sizeof buf)) > 0) { fwrite(buf, 1, r, stdout); fflush(stdout); }
  }
  const char *c = getenv("EXIT_WITH");
  return c ? atoi(c) : 0;
}
"#,
        )
        .unwrap();
        let tmp = dir.join(format!("berth-probe.{}", std::process::id()));
        let st = Command::new("cc")
            .arg("-O2")
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success(), "cc failed");
        std::fs::rename(&tmp, &out).unwrap();
        let _ = std::fs::remove_file(&src);
        out
    })
    .clone()
}

/// A temporary root and a scratch directory.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        shim_bin();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        Env { dir, root }
    }

    /// A berth command on this root (BERTH_PROFILE cleared so tests don't leak it).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(berth_bin());
        c.arg("--root").arg(&self.root).args(args);
        c.env_remove("BERTH_PROFILE")
            .env_remove("BERTH_ROOT")
            .env("NO_COLOR", "1");
        c.current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs berth, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}):\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs berth, asserts the exit code, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "berth {args:?}: {err}");
        err
    }

    /// Makes and installs a package. `files`: (path, content, executable).
    pub fn package(&self, name: &str, version: &str, files: &[(&str, &[u8], bool)]) {
        self.package_with(name, version, files, "");
    }

    /// As [`Env::package`], with extra manifest text (e.g. `[exports]`).
    pub fn package_with(
        &self,
        name: &str,
        version: &str,
        files: &[(&str, &[u8], bool)],
        extra: &str,
    ) {
        let src = self.dir.path().join(format!("src/{name}-{version}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("berth.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n{extra}"),
        )
        .unwrap();
        for (path, content, exec) in files {
            write_file(&src.join(path), content, *exec);
        }
        self.install_dir(&src, name, version);
    }

    /// Packs a prepared directory (with berth.toml) and installs it.
    pub fn install_dir(&self, src: &Path, name: &str, version: &str) {
        let out = self.dir.path().join(format!("{name}-{version}.berth"));
        self.ok(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        self.ok(&["install", out.to_str().unwrap()]);
    }

    /// A package whose command `cmd` is a shell script printing "<name> <version>".
    pub fn script_package(&self, name: &str, version: &str, cmd: &str) {
        let script = format!("#!/bin/sh\necho \"{name} {version}\"\n");
        let bin = format!("bin/{cmd}");
        let share = format!("share/{name}/VERSION");
        self.package(
            name,
            version,
            &[
                (&bin, script.as_bytes(), true),
                (&share, version.as_bytes(), false),
            ],
        );
    }

    /// A package whose command `cmd` is the probe program.
    pub fn probe_package(&self, name: &str, version: &str, cmd: &str) {
        let bytes = std::fs::read(probe_bin()).unwrap();
        let bin = format!("bin/{cmd}");
        let share = format!("share/{name}/VERSION");
        self.package(
            name,
            version,
            &[(&bin, &bytes, true), (&share, version.as_bytes(), false)],
        );
    }

    /// `<root>/shims/<cmd>` with the environment cleared of berth variables.
    pub fn shim(&self, cmd: &str) -> Command {
        let mut c = Command::new(self.root.join("shims").join(cmd));
        c.env_remove("BERTH_PROFILE").env_remove("BERTH_ROOT");
        c.current_dir(self.dir.path());
        c.stdin(Stdio::null());
        c
    }

    /// The generation number the profile link points to.
    pub fn current(&self, profile: &str) -> Option<u64> {
        let t = std::fs::read_link(self.root.join("profiles").join(profile)).ok()?;
        t.file_name()?.to_str()?.parse().ok()
    }

    /// Complete generations of a profile.
    pub fn numbers(&self, profile: &str) -> Vec<u64> {
        let mut v: Vec<u64> = match std::fs::read_dir(self.root.join("generations").join(profile)) {
            Ok(rd) => rd
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect(),
            Err(_) => vec![],
        };
        v.sort_unstable();
        v
    }

    /// `name@version` of each package of the profile's current generation, via --json.
    pub fn packages(&self, profile: &str) -> Vec<String> {
        let n = self.current(profile).unwrap();
        self.gen_packages(profile, n)
    }

    /// `name@version` of each package of one generation.
    pub fn gen_packages(&self, profile: &str, n: u64) -> Vec<String> {
        let p = self
            .root
            .join(format!("generations/{profile}/{n}/generation.toml"));
        let text = std::fs::read_to_string(&p).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Every entry in the root, recursively, excluding the lock (to prove nothing was written).
    pub fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        if rel == ".lock" {
            continue;
        }
        out.push(rel);
        let ft = e.file_type().unwrap();
        // Do not descend into the store (big) or through links.
        if ft.is_dir() && !p.ends_with("store") {
            walk(base, &p, out);
        }
    }
}

/// Writes a file, creating parents, with mode 0755 or 0644.
pub fn write_file(path: &Path, content: &[u8], exec: bool) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
