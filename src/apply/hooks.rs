//! Shell commands run around a switch (`[hooks] pre-switch`/`post-switch`, `[service]
//! restart` and `health`): `sh -c` with the profile's environment (its `bin/` first on
//! PATH, `BERTH_PROFILE`, `BERTH_ROOT`, `BERTH_FROM_GENERATION`, `BERTH_TO_GENERATION`),
//! stdin closed, stdout and stderr captured together into an anonymous file. A file, not a
//! pipe: a restart command that leaves a daemon running in the background (which inherits
//! the descriptor) must not keep berth waiting for an end of file that never comes. Each
//! command runs in its own process group and dies with berth; at its time limit it and
//! every process it started, in its group or not, are killed ([`super::children`]), and
//! so are those still running when it ends, except after a restart command (which may
//! start the service itself).

use crate::error::{Error, Result};
use crate::profile::Profiles;
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The largest part of a command's output kept (its end), for messages.
const OUTPUT_TAIL: u64 = 2048;

/// Who the commands are run for: the profile and the two generations of the switch.
#[derive(Debug, Clone)]
pub struct SwitchEnv {
    /// The profile.
    pub profile: String,
    /// The generation before the switch.
    pub from: Option<u64>,
    /// The generation switched to.
    pub to: u64,
    /// The root's path (as `BERTH_ROOT`, so `berth` in a command finds the same root).
    pub root: std::path::PathBuf,
    /// PATH: the profile's `bin/` first.
    pub path: OsString,
}

impl SwitchEnv {
    /// The environment for a switch of `profile` from `from` to `to`.
    pub fn new(profiles: &Profiles, profile: &str, from: Option<u64>, to: u64) -> Result<Self> {
        let old = std::env::var_os(crate::env::PATH);
        Ok(SwitchEnv {
            profile: profile.to_string(),
            from,
            to,
            root: profiles.root().path().to_path_buf(),
            path: profiles.path_env(profile, old.as_deref())?,
        })
    }

    /// The same, for the way back (after a failed health check).
    pub fn reversed(&self) -> Option<SwitchEnv> {
        Some(SwitchEnv {
            from: Some(self.to),
            to: self.from?,
            ..self.clone()
        })
    }
}

/// How one command ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code; `None` when killed (by a signal or the time limit).
    pub code: Option<i32>,
    /// Whether the time limit ended it.
    pub timed_out: bool,
    /// The end of what it printed (stdout and stderr), trimmed, control characters but
    /// newlines replaced.
    pub output: String,
}

impl Outcome {
    /// Exit 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// "exited 3", "was killed after 30s", for messages.
    pub fn status(&self, limit: Option<Duration>) -> String {
        match (self.code, self.timed_out, limit) {
            (_, true, Some(l)) => {
                format!("did not finish within {}", humantime::format_duration(l))
            }
            (Some(c), _, _) => format!("exited {c}"),
            // The last try of a health check: killed when the check's time ran out.
            (None, true, None) => "was killed when its time ran out".to_string(),
            _ => "was killed by a signal".to_string(),
        }
    }

    /// The output on one line (newlines as ` | `), for one-line messages.
    pub fn one_line(&self) -> String {
        self.output
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// What becomes of the processes a command leaves running when it exits in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// Killed: a hook or a health check has nothing to leave behind.
    Kill,
    /// Left running: a restart command may start the service (a daemon) itself.
    Keep,
}

/// Runs `command` with `sh -c` in the switch's environment; `what` names it in the log.
/// With `limit`, the command and every process it started are killed when it runs
/// longer; what it leaves running when it exits in time goes as `leftovers` says.
pub fn run(
    what: &str,
    command: &str,
    env: &SwitchEnv,
    limit: Option<Duration>,
    leftovers: Leftovers,
) -> Result<Outcome> {
    let (out, stdout, err) = output_buffer(what)?;
    tracing::info!("{what}: sh -c {command:?}");
    let scope = super::children::Scope::begin();
    // Through a supervisor, so that nothing the command starts outlives berth, even when
    // berth is killed (see `children`).
    let (mut child, _berth_alive) =
        super::children::supervised(command, leftovers == Leftovers::Keep)
            .map_err(|e| Error::io("run a supervisor for", what, e))?;
    child
        .env(crate::env::PATH, &env.path)
        .env(crate::env::BERTH_PROFILE, &env.profile)
        .env(crate::env::BERTH_ROOT, &env.root)
        .env(
            crate::env::BERTH_FROM_GENERATION,
            env.from.map(|n| n.to_string()).unwrap_or_default(),
        )
        .env(crate::env::BERTH_TO_GENERATION, env.to.to_string())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(err))
        .process_group(0);
    let mut child = child
        .spawn()
        .map_err(|e| Error::io("run /bin/sh for", what, e))?;
    let (status, timed_out) = wait_within(&mut child, limit, &scope, what)?;
    if !timed_out && leftovers == Leftovers::Kill {
        scope.kill_all();
    }
    drop(scope);
    let outcome = Outcome {
        code: status.code(),
        timed_out,
        output: tail(out),
    };
    tracing::info!(
        "{what}: {}{}",
        outcome.status(limit),
        if outcome.output.is_empty() {
            String::new()
        } else {
            format!("\n{}", outcome.output)
        }
    );
    Ok(outcome)
}

/// One in-memory file for the command's output, and two handles on it (stdout, stderr),
/// so both streams land in order in one place.
fn output_buffer(what: &str) -> Result<(std::fs::File, std::fs::File, std::fs::File)> {
    let out = rustix::fs::memfd_create("berth-hook-output", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| Error::io("create output buffer for", what, e.into()))?;
    let out = std::fs::File::from(out);
    let clone = || {
        out.try_clone()
            .map_err(|e| Error::io("create output buffer for", what, e))
    };
    let (stdout, err) = (clone()?, clone()?);
    Ok((out, stdout, err))
}

/// Waits for the command; past `limit`, kills its process group and then whatever else it
/// started (setsid, a double fork). Returns its status and whether the limit ended it.
fn wait_within(
    child: &mut std::process::Child,
    limit: Option<Duration>,
    scope: &super::children::Scope,
    what: &str,
) -> Result<(std::process::ExitStatus, bool)> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok((s, false)),
            Ok(None) => {}
            Err(e) => return Err(Error::io("wait for", what, e)),
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            // The whole group: `sh -c` and whatever it started in the foreground.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let status = child.wait().map_err(|e| Error::io("wait for", what, e))?;
            // And what left the group (setsid, a double fork).
            scope.kill_all();
            return Ok((status, true));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The last `OUTPUT_TAIL` bytes of the output, control characters but newlines shown as `?`.
fn tail(mut out: std::fs::File) -> String {
    let len = out.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = out.seek(SeekFrom::Start(len.saturating_sub(OUTPUT_TAIL)));
    let mut bytes = Vec::new();
    let _ = out.take(OUTPUT_TAIL).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes)
        .trim()
        .chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_says_why_a_command_ended() {
        let o = |code, timed_out| Outcome {
            code,
            timed_out,
            output: String::new(),
        };
        let limit = Some(Duration::from_secs(3));
        assert_eq!(o(Some(2), false).status(limit), "exited 2");
        assert_eq!(o(None, true).status(limit), "did not finish within 3s");
        assert_eq!(
            o(None, true).status(None),
            "was killed when its time ran out"
        );
        assert_eq!(o(None, false).status(None), "was killed by a signal");
    }
}
