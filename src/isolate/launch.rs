//! The launch of a command: what privileges it keeps, and `exec`. An isolated run goes
//! through [`super::instance`] (namespaces, mounts, a PID 1 that waits for the last
//! process), whose command ends here too; a plain run `exec`s directly.

use super::accounts::Accounts;
use super::error::Error;
use super::privileges::{parse_caps, resolve_user, Privileges};
use caps::Capability;
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

/// What root inside an isolated instance keeps when nothing says otherwise: Docker's
/// default set. Enough for a daemon's master to chown its state and switch to its workers;
/// never CAP_SYS_ADMIN (which could unmount what hides the host). They are capabilities of
/// the instance's user namespace only: outside it, its root is an unprivileged id.
pub const DEFAULT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_NET_RAW,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_MKNOD,
    Capability::CAP_AUDIT_WRITE,
    Capability::CAP_SETFCAP,
];

/// Resolves what to drop to, before any mount. `isolated` says whether the command runs
/// in an isolated instance (as root: in the profile's id range, as its root unless `user`
/// says otherwise).
pub fn privileges_for(
    user: Option<(&str, Source)>,
    caps: (&[String], Source),
    isolated: bool,
    accounts: &Accounts,
) -> Result<Privileges, Error> {
    let mut keep = parse_caps(caps.0)?;
    // Under --isolate names resolve in the view (the host's users plus the profile's).
    let mut identity = match user {
        Some((u, _)) if isolated => Some(accounts.resolve(u)?),
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
        if !keep.is_empty() {
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
    if isolated && euid == 0 {
        if let Some(id) = &identity {
            let limit = super::users::SIZE;
            if let Some(out) = [id.uid, id.gid]
                .into_iter()
                .chain(id.groups.iter().copied())
                .find(|i| *i >= limit)
            {
                return Err(Error::IdOutsideRange {
                    what: format!("--user {}", user.map_or("", |u| u.0)),
                    id: out,
                });
            }
        }
        if keep.contains(&Capability::CAP_NET_BIND_SERVICE) {
            if caps.1 == Source::Flag {
                return Err(Error::PortCapInUserNamespace);
            }
            tracing::warn!(
                "the service asks for NET_BIND_SERVICE, which cannot take effect in an \
                 isolated instance (its own user namespace): it is not kept"
            );
            keep.remove(&Capability::CAP_NET_BIND_SERVICE);
        }
        if identity.is_none() && caps.0.is_empty() {
            keep = DEFAULT_CAPS.into_iter().collect();
        }
    }
    Ok(Privileges { identity, keep })
}

/// Executes `command` (PATH looked up in `env`), replacing berth. With `clean`, `env` is
/// the whole environment (an isolated run: nothing of the caller's leaks in); otherwise it
/// is added to berth's. Returns only on failure: not found (127) or not executable (126),
/// as a shell reports them.
pub fn exec(
    command: &[OsString],
    env: &[(OsString, OsString)],
    profile: &str,
    clean: bool,
) -> Error {
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
    let mut cmd = std::process::Command::new(program);
    if clean {
        cmd.env_clear();
    }
    let err = cmd
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

/// Runs one `ExecStartPre=` command to its end, with the service's environment.
pub fn run_pre(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<(), Error> {
    let text = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let Some((prog, args)) = argv.split_first() else {
        return Ok(());
    };
    let status = std::process::Command::new(prog)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Error::PreFailed {
            command: text,
            status: s.to_string(),
        }),
        Err(e) => Err(Error::PreFailed {
            command: text,
            status: e.to_string(),
        }),
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
