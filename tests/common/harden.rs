//! Helpers of the hardening tests (issue 8): running berth with a bound on time and a
//! chosen umask, the one-line error and its hint, a listing of a root that shows any change
//! (types, modes, sizes, link counts, contents, link targets), tarballs made by the real
//! tools, and the root-only guard.

use super::tools::tool;
use super::Env;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any single command of these tests may take before it counts as hung.
pub const BOUND: Duration = Duration::from_secs(60);

/// What one command did.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    /// Panics unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "command failed:\n{self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Out {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }

    /// The `error:` line (exactly one), panicking when there is none or several.
    #[track_caller]
    pub fn error_line(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(lines.len(), 1, "expected one error line:\n{self}");
        lines[0].to_string()
    }

    /// The `hint:` line after the error line, if any.
    pub fn hint_line(&self) -> Option<String> {
        let mut it = self
            .stderr
            .lines()
            .skip_while(|l| !l.starts_with("error: "));
        it.next();
        it.next()
            .filter(|l| l.starts_with("hint: "))
            .map(str::to_string)
    }

    /// Asserts exit `code`, one error line containing every one of `needles`, and a hint.
    #[track_caller]
    pub fn refused(self, code: i32, needles: &[&str]) -> Out {
        let out = self.code(code);
        let line = out.error_line();
        for n in needles {
            assert!(line.contains(n), "error line lacks `{n}`:\n{out}");
        }
        assert!(out.hint_line().is_some(), "no hint line:\n{out}");
        out
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

/// Runs `cmd` to its end, killing it and panicking if it takes longer than `bound`.
#[track_caller]
pub fn run_bounded(mut cmd: Command, bound: Duration) -> Out {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not end within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&t1.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t2.join().unwrap()).into_owned(),
    }
}

/// Runs berth on `env`'s root with `args`, bounded in time.
#[track_caller]
pub fn berth(env: &Env, args: &[&str]) -> Out {
    run_bounded(env.cmd(args), BOUND)
}

/// Runs berth with `args` under the process umask `mask` (set in the child before exec).
#[track_caller]
pub fn berth_umask(env: &Env, mask: u32, args: &[&str]) -> Out {
    let mut c = env.cmd(args);
    unsafe {
        c.pre_exec(move || {
            libc::umask(mask as libc::mode_t);
            Ok(())
        });
    }
    run_bounded(c, BOUND)
}

/// A root-only test: true when running as root (see [`super::is_root_or_skip`]).
#[track_caller]
pub fn needs_root(what: &str) -> bool {
    super::is_root_or_skip(what)
}

/// sha256 of bytes, hex.
pub fn sha_hex(b: &[u8]) -> String {
    super::fs::sha256_hex(b)
}

/// Every path under `dir` (not following symlinks) with what it is: type, mode, size, link
/// count and content hash for files, target for links. Two equal listings mean nothing
/// under `dir` changed (except times).
pub fn listing(dir: &Path) -> BTreeMap<String, String> {
    if std::fs::symlink_metadata(dir).is_err() {
        return BTreeMap::new();
    }
    super::walk(dir)
        .into_iter()
        .map(|(rel, m)| {
            let p = dir.join(&rel);
            let mode = m.permissions().mode() & 0o7777;
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                format!("dir {mode:o}")
            } else if m.is_file() {
                let content = std::fs::read(&p).map(|b| sha_hex(&b)).unwrap_or_default();
                format!("file {mode:o} {} n{} {content}", m.len(), m.nlink())
            } else {
                format!("special {mode:o}")
            };
            (rel, desc)
        })
        .collect()
}

/// Every path under `dir` with only what a package carries: type, exec bit and content hash
/// for files, target for links (no modes beyond the exec bit, link counts or times), to
/// compare a tree with what another tool unpacked from its package.
pub fn content_listing(dir: &Path) -> BTreeMap<String, String> {
    super::walk(dir)
        .into_iter()
        .map(|(rel, m)| {
            let p = dir.join(&rel);
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                "dir".to_string()
            } else if m.is_file() {
                let exec = m.permissions().mode() & 0o111 != 0;
                format!("file exec={exec} {}", sha_hex(&std::fs::read(&p).unwrap()))
            } else {
                "special".to_string()
            };
            (rel, desc)
        })
        .collect()
}

/// Asserts two listings are equal, naming the first difference.
#[track_caller]
pub fn assert_same(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    what: &str,
) {
    if before == after {
        return;
    }
    let gone: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let new: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, v)| format!("{k}: {v} -> {}", after[k]))
        .collect();
    panic!("{what}: the root changed\n gone: {gone:?}\n new: {new:?}\n changed: {changed:?}");
}

/// A plain tar (GNU tar, as operators make them) of `files` under a top directory `top`,
/// returned as bytes.
pub fn gnu_tar(env: &Env, top: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let base = env.dir().join("tarsrc").join(format!("{top}.{}", unique()));
    super::write_tree(&base.join(top), files);
    let b = base.to_str().unwrap();
    tool(
        &base,
        "tar",
        &[
            "--owner=0",
            "--group=0",
            "--mtime=@1",
            "--sort=name",
            "-cf",
            "-",
            "-C",
            b,
            top,
        ],
    )
}

/// Pipes `data` through `program args` (a compressor) and returns its output.
pub fn pipe(program: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `bytes` to `<scratch>/<name>` and returns the path.
pub fn artifact(env: &Env, name: &str, bytes: &[u8]) -> PathBuf {
    let p = env.dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A number no other call in this process returns (for scratch names).
pub fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `path` as UTF-8 (temporary paths always are).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The id of the installed `name@version`, from `list --json`.
#[track_caller]
pub fn id_of(env: &Env, name: &str, version: &str) -> String {
    let out = berth(env, &["--json", "list"]).ok();
    out.json()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name && e["version"] == version)
        .unwrap_or_else(|| panic!("{name}@{version} is not installed:\n{out}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `name@version` of everything installed, sorted.
#[track_caller]
pub fn installed(env: &Env) -> Vec<String> {
    let out = berth(env, &["--json", "list"]).ok();
    let mut v: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}@{}",
                e["name"].as_str().unwrap(),
                e["version"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

/// A package whose `bin/<cmd>` prints `<cmd> <version>` (a shell script).
pub fn tool_package(env: &Env, name: &str, version: &str, cmd: &str) -> PathBuf {
    let script = format!("#!/bin/sh\necho {cmd} {version}\n");
    let exe = format!("bin/{cmd}*");
    let src = env.source(name, version, &[(exe.as_str(), script.as_bytes())]);
    env.pack(&src)
}

/// Runs the shim `<root>/shims/<cmd>` from `cwd`, with a clean profile environment.
pub fn shim(env: &Env, cmd: &str, cwd: &Path) -> Command {
    let mut c = Command::new(env.root().join("shims").join(cmd));
    c.current_dir(cwd)
        .env_remove("BERTH_PROFILE")
        .env_remove("BERTH_SHIM_DEPTH")
        .stdin(Stdio::null());
    c
}
