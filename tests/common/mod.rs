//! The one test harness: a temporary root per test, the real `berth` binary run with one
//! clean environment, and the builders and readers in the files beside this one (`tar`,
//! `pkg`, `fs`, `root`, `bins`, `refuse`, `apply`, `crash`, `harden`, `isolate`, `native`,
//! `nginx`, `dist`), and the rule for what a test needs from the machine (`tools`).
//!
//! Every berth command a test runs goes through [`clean_env`]: the variables berth reads
//! from the caller's environment (`BERTH_ROOT`, `BERTH_PROFILE`, `RUST_LOG`, `XDG_DATA_HOME`)
//! are removed, `NO_COLOR=1` is set and `--root` is always given, so a developer's shell
//! never leaks into a test. Store entries are read-only (0555/0444), so [`Env`] restores
//! write bits before its temporary directory is deleted: nothing is left behind, also when
//! the suite runs as an unprivileged user (CI runs it both ways).

#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::print_stdout)]

pub mod apply;
pub mod bins;
pub mod crash;
pub mod dist;
pub mod fs;
pub mod harden;
pub mod isolate;
pub mod native;
pub mod ops;
pub mod pkg;
pub mod refuse;
pub mod root;
pub mod tar;
pub mod tools;

pub use self::tar::*;
pub use apply::one_error_line;
pub use bins::*;
pub use fs::*;
pub use pkg::*;
pub use tools::{have, tool, tool_text};

pub mod nginx;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Removes what berth and the shim read from the caller's environment and sets `NO_COLOR`.
pub fn clean_env(c: &mut Command) -> &mut Command {
    c.env_remove("BERTH_ROOT")
        .env_remove("BERTH_PROFILE")
        .env_remove("RUST_LOG")
        .env_remove("XDG_DATA_HOME")
        .env_remove("BERTH_DPKG_ADMIN")
        .env("NO_COLOR", "1")
}

/// The berth binary with the clean environment and no `--root`: only for the tests of
/// how berth finds its root when `--root` is not given (everything else uses [`Env::cmd`]).
pub fn berth_without_root() -> Command {
    let mut c = Command::new(BERTH);
    clean_env(&mut c).stdin(Stdio::null());
    c
}

/// Whether this process may do what only root may (chown, another user's files …). When
/// not, prints a loud SKIP line, logs the skip for `./test.sh`'s count (see [`tools`]) and
/// returns false, so the caller returns; but in CI's root pass (`CI=true` without
/// `BERTH_TEST_UNPRIVILEGED`) a missing root is a failure, so a misconfigured CI cannot skip
/// silently.
#[track_caller]
pub fn is_root_or_skip(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci && std::env::var_os("BERTH_TEST_UNPRIVILEGED").is_none() {
        panic!("{what} needs root, and CI=true without BERTH_TEST_UNPRIVILEGED");
    }
    eprintln!("SKIP (needs root): {what}");
    tools::log_skip(tools::NEED_ROOT, what);
    false
}

/// A scratch directory holding a berth root (`<dir>/root`) and room for sources, archives
/// and anything else a test makes. Deleted on drop, read-only store trees included.
pub struct Env {
    tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        make_writable(self.tmp.path());
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

/// What one run of berth (or of a shim) did.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Runs `c` to the end and captures what it printed.
    pub fn of(c: &mut Command) -> Run {
        Run::from(c.output().expect("start the command"))
    }

    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
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
        let tmp = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("create temporary directory");
        let root = tmp.path().join("root");
        Env { tmp, root }
    }

    /// The scratch directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The berth root, `<scratch>/root`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/store`.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// A berth command with `--root`, run from the scratch directory with stdin closed and
    /// the clean environment of [`clean_env`].
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_at(&self.root, args)
    }

    /// [`Env::cmd`] on another root than `<scratch>/root`: a relative path (resolved from
    /// the scratch directory), a path holding `:`, a root under /var/tmp …
    pub fn cmd_at(&self, root: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        clean_env(&mut c);
        c.arg("--root")
            .arg(root)
            .args(args)
            .current_dir(self.dir())
            .stdin(Stdio::null());
        c
    }

    /// Runs berth with `--root` and `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(&mut self.cmd(args))
    }

    /// Runs berth on another root than `<scratch>/root` (see [`Env::cmd_at`]).
    pub fn run_at(&self, root: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Run {
        Run::of(&mut self.cmd_at(root, args))
    }

    /// Runs berth, expects exit 0, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "berth {args:?} failed:\n{r}");
        r.stdout
    }

    /// Runs berth, expects exit `code`, returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let r = self.run(args);
        assert_eq!(r.code, code, "berth {args:?}:\n{r}");
        r.stderr
    }

    /// Runs berth with `--root --json` and `args`, expects success, parses stdout.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        self.run(&a).ok().json()
    }

    /// `<root>/shims/<cmd>`, run from the scratch directory with the clean environment.
    pub fn shim(&self, cmd: &str) -> Command {
        let mut c = Command::new(self.root.join("shims").join(cmd));
        clean_env(&mut c);
        c.current_dir(self.dir()).stdin(Stdio::null());
        c
    }
}

/// A finished process's stdout as text (for commands run with `.output()`).
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A finished process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
