//! The contract of a refused input (DESIGN.md invariant 6): exit 6, one `error:` line naming
//! the archive, the member and the reason, nothing written outside the root, the store
//! listing unchanged and no staging left. Used by the hostile-archive tests and the
//! snapshot tests of refusal messages.

use super::{snapshot, Env, Snapshot, Tar};
use std::path::{Path, PathBuf};

/// Names an archive could use to land beside the temporary directory; watched in its parent
/// (shared with other processes, so only these names are looked at).
const WATCHED: [&str; 7] = [
    "escape",
    "escaped",
    "pwned",
    "evil",
    "outside.txt",
    "todo.txt",
    "gopher.txt",
];

/// The path as UTF-8 (temporary paths are).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

impl Env {
    /// A root that already holds one good package (`good@1`), with `<scratch>/canary/`
    /// (must never change) and `<scratch>/in/` (inputs) beside it.
    pub fn with_good_package() -> Env {
        let env = Env::new();
        std::fs::create_dir(env.canary()).unwrap();
        std::fs::write(env.canary().join("keep.txt"), b"canary\n").unwrap();
        std::fs::create_dir(env.dir().join("in")).unwrap();
        let good = Tar::new()
            .dir("bin")
            .file_mode("bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
            .file("README", b"good package\n")
            .finish();
        let good = env.input("good-1.tar", &good);
        let r = env.run(&[
            "install",
            path_str(&good),
            "--name",
            "good",
            "--version",
            "1",
        ]);
        assert!(r.success(), "installing the good package failed:\n{r}");
        env
    }

    /// `<scratch>/canary`.
    pub fn canary(&self) -> PathBuf {
        self.dir().join("canary")
    }

    /// Writes an input file into `<scratch>/in/` and returns its path.
    pub fn input(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir().join("in").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `list --json` as text; the good package must be in it.
    fn listing_with_good(&self) -> String {
        let r = self.run(&["list", "--json"]);
        assert!(r.success(), "list failed:\n{r}");
        assert!(
            r.stdout.contains("\"good\""),
            "the good package is not listed: {}",
            r.stdout
        );
        r.stdout
    }

    /// Everything in the scratch directory except the root (which berth owns).
    pub fn snapshot_outside(&self) -> Snapshot {
        snapshot(self.dir(), Some(self.root()))
    }

    fn staging_is_clean(&self) -> bool {
        match std::fs::read_dir(self.store().join(".staging")) {
            Ok(mut d) => d.next().is_none(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }

    /// Installs `bytes` as `file_name` (with `--name hostile --version 1` unless it is a
    /// `.berth`) and checks every promise of a refusal. Returns stderr.
    #[track_caller]
    pub fn refuse(
        &self,
        file_name: &str,
        bytes: &[u8],
        extra: &[&str],
        member: Option<&str>,
        reason: &str,
    ) -> String {
        let archive = self.input(file_name, bytes);
        let list_before = self.listing_with_good();
        let outside_before = self.snapshot_outside();
        let parent_before = parent_entries(self.dir());
        let mut args = vec!["install", path_str(&archive)];
        // .berth, .deb and .rpm files name themselves.
        if ![".berth", ".deb", ".rpm"]
            .iter()
            .any(|x| file_name.ends_with(x))
        {
            args.extend(["--name", "hostile", "--version", "1"]);
        }
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let err = out.stderr.clone();
        assert_eq!(
            out.code, 6,
            "{file_name}: expected exit 6 (refused input), got {}\nstderr: {err}\nstdout: {}",
            out.code, out.stdout
        );
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(
            lines.len(),
            1,
            "{file_name}: want one `error:` line in:\n{err}"
        );
        let line = lines[0];
        assert!(
            line.contains(path_str(&archive)),
            "{file_name}: the error does not name the archive {}:\n{line}",
            archive.display()
        );
        if let Some(m) = member {
            assert!(
                line.contains(&format!("member `{m}`")),
                "{file_name}: the error does not name member `{m}`:\n{line}"
            );
        }
        assert!(
            line.contains(reason),
            "{file_name}: the error does not say `{reason}`:\n{line}"
        );
        assert_eq!(
            self.listing_with_good(),
            list_before,
            "{file_name}: the store listing changed"
        );
        assert_eq!(
            self.snapshot_outside(),
            outside_before,
            "{file_name}: something changed outside the root"
        );
        assert_eq!(
            parent_entries(self.dir()),
            parent_before,
            "{file_name}: something appeared beside the temporary directory"
        );
        assert!(self.staging_is_clean(), "{file_name}: staging left behind");
        self.assert_only_the_good_entry();
        err
    }

    /// Only the good package's entry (and berth's own dot-directories) are in the store.
    #[track_caller]
    fn assert_only_the_good_entry(&self) {
        let names: Vec<String> = self.entries().into_iter().collect();
        assert_eq!(names.len(), 1, "store entries: {names:?}");
        assert!(names[0].starts_with("good-1-"), "store entries: {names:?}");
    }

    /// Installs `bytes` (with `--name fine --version 1` unless it is a `.berth`) and
    /// expects success; returns (stdout, stderr).
    #[track_caller]
    pub fn install_ok(&self, file_name: &str, bytes: &[u8], extra: &[&str]) -> (String, String) {
        let archive = self.input(file_name, bytes);
        let mut args = vec!["install", path_str(&archive)];
        if ![".berth", ".deb", ".rpm"]
            .iter()
            .any(|x| file_name.ends_with(x))
        {
            args.extend(["--name", "fine", "--version", "1"]);
        }
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert!(out.success(), "{file_name}: install failed:\n{out}");
        (out.stdout, out.stderr)
    }

    /// The store directory of the one installed package called `name`.
    #[track_caller]
    pub fn entry_named(&self, name: &str) -> PathBuf {
        self.entries()
            .into_iter()
            .find(|e| e.starts_with(&format!("{name}-")))
            .map(|e| self.store().join(e))
            .unwrap_or_else(|| panic!("no store entry for {name}"))
    }
}

/// Entries of the temporary directory's parent that look like they came from an archive.
fn parent_entries(tmp: &Path) -> Vec<PathBuf> {
    let parent = tmp.parent().unwrap();
    WATCHED
        .iter()
        .map(|n| parent.join(n))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect()
}
