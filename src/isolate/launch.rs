//! The sequence of an isolated run, in the one order that is safe: namespace, mounts,
//! privileges, `exec`. berth does not stay as a parent: the service replaces it, receives
//! signals directly, and the namespace (with every mount in it) dies with it.

use super::error::Error;
use super::mounts::{self, OverlayApi};
use super::namespace::{self, Mode};
use super::plan::Plan;
use super::privileges::{self, parse_caps, resolve_user, Privileges};
use nix::unistd::{getegid, geteuid};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// Where a `--user` or capability list came from (a manifest's may be ignored with a
/// warning where berth lacks the privilege; a flag may not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// The service's manifest.
    Manifest,
}

/// Resolves what to drop to, before any mount. `isolated` says whether berth will hold
/// capabilities (as root, or in its own user namespace).
pub fn privileges_for(
    user: Option<(&str, Source)>,
    caps: (&[String], Source),
    isolated: bool,
) -> Result<Privileges, Error> {
    let mut keep = parse_caps(caps.0)?;
    let mut identity = match user {
        Some((u, _)) => Some(resolve_user(u)?),
        None => None,
    };
    let (euid, egid) = (geteuid().as_raw(), getegid().as_raw());
    if euid != 0 {
        if let (Some(id), Some((u, src))) = (&identity, user) {
            if id.uid != euid || id.gid != egid {
                if src == Source::Manifest {
                    tracing::warn!(
                        "the service asks for user `{u}`, but berth is not root: it runs as uid {euid}"
                    );
                } else {
                    return Err(Error::NeedsRoot {
                        what: format!("--user {u}"),
                        flag: "--user",
                        detail: format!(
                            " (berth runs as uid {euid}; an unprivileged user namespace maps only that uid)"
                        ),
                    });
                }
            }
        }
        // Already that identity; a user namespace could not change groups anyway.
        identity = None;
        if !isolated && !keep.is_empty() {
            if caps.1 == Source::Manifest {
                tracing::warn!(
                    "the service asks for capabilities, but berth is not root: none are kept"
                );
                keep.clear();
            } else {
                return Err(Error::NeedsRoot {
                    what: "--cap".into(),
                    flag: "--cap",
                    detail: " (berth has no capabilities to keep)".into(),
                });
            }
        }
    }
    Ok(Privileges { identity, keep })
}

/// Enters the namespace, mounts `plan`, drops privileges and executes `command`. Returns
/// only on failure.
pub fn isolated(
    plan: &Plan,
    mode: Mode,
    privileges: &Privileges,
    command: &[OsString],
    env: &[(OsString, OsString)],
    profile: &str,
) -> Error {
    let result = (|| -> Result<(), Error> {
        namespace::check_kernel(mode)?;
        namespace::enter(mode)?;
        mounts::setup(plan, mode, OverlayApi::detect())?;
        privileges::apply(privileges, true)
    })();
    match result {
        Err(e) => e,
        Ok(()) => exec(command, env, profile),
    }
}

/// Executes `command` (PATH looked up in `env`), replacing berth. Returns only on failure:
/// not found (127) or not executable (126), as a shell reports them.
pub fn exec(command: &[OsString], env: &[(OsString, OsString)], profile: &str) -> Error {
    let Some((prog, args)) = command.split_first() else {
        return Error::CommandNotFound {
            command: String::new(),
            profile: profile.to_string(),
        };
    };
    let Some(program) = search(prog, env) else {
        return Error::CommandNotFound {
            command: prog.to_string_lossy().into_owned(),
            profile: profile.to_string(),
        };
    };
    let err = std::process::Command::new(program)
        .arg0(prog)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .exec();
    let command = prog.to_string_lossy().into_owned();
    match err.kind() {
        std::io::ErrorKind::NotFound => Error::CommandNotFound {
            command,
            profile: profile.to_string(),
        },
        _ => Error::CommandNotExecutable {
            command,
            profile: profile.to_string(),
            source: err,
        },
    }
}

/// Finds `prog` as a shell does: as given when it holds a `/`, else the first executable
/// regular file of that name in `env`'s PATH (or the first regular file, which then fails
/// with "permission denied"). Unreadable PATH directories are skipped, not reported.
fn search(prog: &OsString, env: &[(OsString, OsString)]) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if prog.as_encoded_bytes().contains(&b'/') {
        return Some(prog.into());
    }
    if prog.is_empty() {
        return None;
    }
    let path = env
        .iter()
        .find(|(k, _)| k == crate::env::PATH)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(crate::env::PATH))?;
    let files: Vec<(std::path::PathBuf, bool)> = std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            m.is_file()
                .then(|| (p, m.permissions().mode() & 0o111 != 0))
        })
        .collect();
    files
        .iter()
        .find(|(_, exec)| *exec)
        .or(files.first())
        .map(|(p, _)| p.clone())
}
