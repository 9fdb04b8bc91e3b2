//! Helpers for the `run --isolate` tests: the privilege rule of the test suite (skip loudly,
//! or fail under CI), test packages made with `berth pack`, and a long-running isolated
//! process driven through its stdin.

use super::{Env, Run};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Says loudly that `test` cannot run and why (the one skip rule: [`super::is_root_or_skip`]).
/// Returns true: the caller returns.
pub fn skip(test: &str, why: &str) -> bool {
    !super::is_root_or_skip(&format!("{test}: {why}"))
}

/// True (and a loud skip) when not root.
pub fn needs_root(test: &str) -> bool {
    !is_root() && skip(test, "not running as root")
}

/// True (and a loud skip) when neither root nor an unprivileged user namespace is possible.
pub fn needs_isolation(test: &str) -> bool {
    if is_root() {
        return false;
    }
    let userns = Command::new("unshare")
        .args(["-U", "-r", "-m", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    !userns
        && skip(
            test,
            "neither root nor unprivileged user namespaces available",
        )
}

/// Packs `<name>@<version>`: `usr/share/<name>/VERSION`, `usr/bin/<name>` printing
/// `<name> <version>` read from its canonical path, `[[config]] etc/<name>/app.conf`,
/// `[[writable]] var/lib/<name>` (shipping a seed file), and with `service` a
/// `[service] exec = "usr/bin/<name> serve"`.
pub fn app(env: &Env, name: &str, version: &str, service: bool) -> PathBuf {
    let script = format!("#!/bin/sh\necho \"{name} $(cat /usr/share/{name}/VERSION)\"\n");
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("usr/share/{name}/VERSION"),
            format!("{version}\n").into_bytes(),
        ),
        (format!("usr/bin/{name}*"), script.into_bytes()),
        (
            format!("etc/{name}/app.conf"),
            format!("setting = {version}\n").into_bytes(),
        ),
        (format!("var/lib/{name}/seed"), b"seed\n".to_vec()),
    ];
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let src = env.source(name, version, &refs);
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n[exports]\nbin = [\"usr/bin\"]\n\n\
         [[config]]\npath = \"etc/{name}/app.conf\"\n\n[[writable]]\npath = \"var/lib/{name}\"\n"
    );
    if service {
        manifest.push_str(&format!("\n[service]\nexec = \"usr/bin/{name} serve\"\n"));
    }
    std::fs::write(src.join("berth.toml"), manifest).unwrap();
    env.pack(&src)
}

/// app@1.0 and app@2.0 installed; profile `a` uses 1.0, profile `b` 2.0.
pub fn two_profiles(env: &Env) {
    for v in ["1.0", "2.0"] {
        let p = app(env, "app", v, true);
        env.install(&p, &[]);
    }
    env.run(&["use", "a", "app@1.0"]).ok();
    env.run(&["use", "b", "app@2.0"]).ok();
}

/// `berth run --isolate` with `args`, from `/` (services as nobody cannot read the
/// scratch directory).
pub fn isolated(env: &Env, args: &[&str]) -> Run {
    let mut a = vec!["run", "--isolate"];
    a.extend_from_slice(args);
    let out = env.cmd(&a).current_dir("/").output().expect("run berth");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An isolated shell that runs each line written to it (`while read; eval`), printing `$$`
/// first.
pub struct Shell {
    /// The process (berth, which supervises the instance).
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// berth's pid on the host (the holder of the instance's hold).
    pub pid: u32,
    /// `$$` as the shell printed it (its pid in the instance's PID namespace).
    pub inner_pid: u32,
}

impl Shell {
    /// Starts `berth run --isolate PROFILE -- sh -c '…'`.
    pub fn start(env: &Env, profile: &str) -> Shell {
        let script = "echo $$; while IFS= read -r line; do eval \"$line\"; done";
        let mut child = env
            .cmd(&["run", "--isolate", profile, "--", "sh", "-c", script])
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start berth run");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let inner_pid = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("isolated shell did not start: {first:?}"));
        Shell {
            pid: child.id(),
            child,
            stdin,
            stdout,
            inner_pid,
        }
    }

    /// Runs one command line in the shell and returns the one line it prints.
    pub fn ask(&mut self, line: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let mut out = String::new();
        self.stdout.read_line(&mut out).unwrap();
        out.trim_end().to_string()
    }

    /// Closes stdin and waits for the shell to end.
    pub fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

/// Names directly in a host directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    crate::common::children(dir)
}

/// The host's mount table lines (this test process's namespace is the host's).
pub fn mountinfo() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.to_string())
        .collect()
}

/// The capability and no_new_privs lines of `/proc/self/status` text, as numbers.
pub fn status_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    let v = line.split_whitespace().nth(1).unwrap();
    if field.starts_with("Cap") {
        u64::from_str_radix(v, 16).unwrap()
    } else {
        v.parse().unwrap()
    }
}

/// No mount of this test's scratch directory (or of a layer fd) is left on the host.
#[track_caller]
pub fn no_leftover_mounts(env: &Env, before: &[String]) {
    let scratch = env.dir().to_string_lossy().into_owned();
    let after = mountinfo();
    assert!(
        !after
            .iter()
            .any(|l| l.contains(&scratch) || l.contains("/proc/self/fd")),
        "leftover mount on the host:\n{}",
        after.join("\n")
    );
    let overlays = |m: &[String]| m.iter().filter(|l| l.contains(" - overlay ")).count();
    assert_eq!(
        overlays(&after),
        overlays(before),
        "an overlay stayed mounted"
    );
}
