//! The errors of what surrounds a switch (hooks, restart, health check, data snapshots) and
//! of `berth service`: one enum, each variant with the fields a user needs to act on it.

use crate::error::{exit, ModuleError};
use std::path::PathBuf;

/// Everything the operations around a switch can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `pre-switch` hook exited non-zero: the switch did not happen.
    #[error("pre-switch hook of {profile} failed: `{command}` {status}{}; nothing was changed ({profile} stays at {})", output_part(.output), from_part(.from))]
    PreSwitchFailed {
        profile: String,
        from: Option<u64>,
        command: String,
        status: String,
        output: String,
    },
    /// The restart or the health check of the new generation failed; the profile was
    /// switched back (or could not be).
    #[error("{what} of {profile} generation {to} failed: `{command}` {status}{}; {after}", output_part(.output))]
    Unhealthy {
        what: &'static str,
        profile: String,
        to: u64,
        command: String,
        status: String,
        output: String,
        after: String,
    },
    /// `rollback --with-data` without a snapshot for the target generation.
    #[error("profile {profile} has no data snapshot for generation {generation} in {}{}", .dir.display(), snapshots_part(.existing))]
    NoSnapshot {
        profile: String,
        generation: u64,
        dir: PathBuf,
        existing: Vec<u64>,
    },
    /// `service install` for a profile whose generation has no `[service]`.
    #[error("profile {profile} has no [service] in the profile file of generation {generation}{}", if *.has_spec { "" } else { " (it was not made from a profile file)" })]
    NoService {
        profile: String,
        generation: u64,
        has_spec: bool,
    },
    /// `--unit-dir` (or /etc/systemd/system) that is missing or not a directory.
    #[error("unit directory {}: {why}", .path.display())]
    BadUnitDir { path: PathBuf, why: &'static str },
    /// `service remove` without an installed unit.
    #[error("no unit {unit} in {}", .dir.display())]
    NoUnit { unit: String, dir: PathBuf },
    /// A value that cannot be written into a systemd unit.
    #[error("cannot write {what} `{value}` into a systemd unit: {why}")]
    UnitValue {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    /// `use --spec` with a profile file for another profile.
    #[error("{}: the profile file is for profile `{inner}`, not `{profile}`", .path.display())]
    SpecForOtherProfile {
        path: PathBuf,
        inner: String,
        profile: String,
    },
}

fn output_part(output: &str) -> String {
    if output.is_empty() {
        " (no output)".to_string()
    } else {
        format!(", output: {output}")
    }
}

fn from_part(from: &Option<u64>) -> String {
    match from {
        Some(n) => format!("generation {n}"),
        None => "without generations".to_string(),
    }
}

fn snapshots_part(existing: &[u64]) -> String {
    if existing.is_empty() {
        " (it has none)".to_string()
    } else {
        let n: Vec<String> = existing.iter().map(u64::to_string).collect();
        format!("; snapshots exist for generation(s) {}", n.join(", "))
    }
}

impl ModuleError for Error {
    fn hint(&self) -> Option<String> {
        use Error::*;
        Some(match self {
            PreSwitchFailed { .. } => {
                "fix what the hook checks (or the hook in the profile file) and run the command again".into()
            }
            Unhealthy { profile, .. } => format!(
                "fix the new release or its [service] commands and switch again; the failed generation stays for inspection (`berth generations {profile}`)"
            ),
            NoSnapshot { profile, .. } => format!(
                "snapshots are taken before a switch when the profile file has [backup] before_switch = true; `berth rollback {profile}` without --with-data leaves the data as it is"
            ),
            NoService { .. } => {
                "add a [service] section (exec = \"…\") to the profile file and switch to it (`berth use PROFILE PKG --spec FILE` or `berth apply`)".into()
            }
            BadUnitDir { .. } => "name an existing directory with --unit-dir".into(),
            NoUnit { .. } => "`berth service install PROFILE` writes it (same --unit-dir)".into(),
            UnitValue { .. } => "move the root or change the profile file so the value has no control characters".into(),
            SpecForOtherProfile { .. } => "use the profile name the file names, or change its `profile = ` line".into(),
        })
    }

    fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            PreSwitchFailed { .. } | Unhealthy { .. } => exit::DEPLOY,
            NoSnapshot { .. } | NoService { .. } | BadUnitDir { .. } | NoUnit { .. } => {
                exit::NOT_FOUND
            }
            UnitValue { .. } | SpecForOtherProfile { .. } => exit::USAGE,
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> crate::Error {
        crate::Error::module(e)
    }
}
