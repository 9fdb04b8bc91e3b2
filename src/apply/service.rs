//! A profile as a systemd service: `berth service install` writes `berth-<profile>.service`
//! (its `ExecStart` is this berth's `run`, isolated or plain, with the profile file's
//! `[service]` command, user and capabilities), `berth service remove` deletes it, and
//! [`restart`] restarts the service after a switch: through systemd when the unit is
//! installed and systemd runs, else with the profile file's `restart` command.

use super::deploy_error::Error as DeployError;
use super::hooks::{self, Outcome, SwitchEnv};
use super::spec::{ProfileSpec, ServiceSpec};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `service install` writes units unless `--unit-dir` says otherwise, and where a
/// switch looks for an installed one.
pub const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

/// Exists while systemd is the running init (sd_booted(3)).
const SYSTEMD_RUNNING: &str = "/run/systemd/system";

/// How long `systemctl restart` or a restart command may take unless the health timeout
/// is longer.
const RESTART_LIMIT: Duration = Duration::from_secs(300);

/// The unit's file name for `profile`.
pub fn unit_name(profile: &str) -> String {
    format!("berth-{profile}.service")
}

/// What [`render`] needs.
#[derive(Debug, Clone)]
pub struct UnitInput<'a> {
    /// The profile.
    pub profile: &'a str,
    /// The root, absolute.
    pub root: &'a Path,
    /// This berth binary, absolute.
    pub berth: &'a Path,
    /// The profile file's `[service]`.
    pub service: &'a ServiceSpec,
}

/// `ExecStart=`'s value: this berth's `run` of the profile with the `[service]`'s exec,
/// isolation, user and capabilities, each word quoted for systemd.
fn exec_start(i: &UnitInput<'_>) -> Result<String> {
    let s = i.service;
    let exec = crate::isolate::service::split(&s.exec).map_err(|why| DeployError::UnitValue {
        what: "[service] exec",
        value: s.exec.clone(),
        why,
    })?;
    let mut argv: Vec<String> = vec![
        text("the berth binary's path", i.berth)?,
        "--root".into(),
        text("the root's path", i.root)?,
        "run".into(),
    ];
    if s.isolate {
        argv.push("--isolate".into());
    }
    if let Some(u) = &s.user {
        // The profile file says an id explicitly (`uid:993`); `run --user` takes numbers.
        argv.push("--user".into());
        argv.push(u.replace("uid:", "").replace("gid:", ""));
    }
    for c in &s.capabilities {
        argv.push("--cap".into());
        argv.push(c.clone());
    }
    argv.push(i.profile.to_string());
    argv.push("--".into());
    argv.extend(exec);
    Ok(argv
        .iter()
        .map(|w| quote(w))
        .collect::<Result<Vec<_>>>()?
        .join(" "))
}

/// The unit file's text.
pub fn render(i: &UnitInput<'_>) -> Result<String> {
    let s = i.service;
    let exec_start = exec_start(i)?;
    let root = text("the root's path", i.root)?;
    let mut u = String::new();
    u.push_str(&format!(
        "# Written by `berth service install {p}`; run it again rather than editing this file.\n\
         [Unit]\n\
         Description=berth profile {p}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         Environment={}\n\
         Environment={}\n",
        quote_value(&format!("{}={}", crate::env::BERTH_PROFILE, i.profile))?,
        quote_value(&format!("{}={root}", crate::env::BERTH_ROOT))?,
        p = i.profile,
    ));
    u.push_str(&format!("ExecStart={exec_start}\n"));
    u.push_str(
        "Restart=on-failure\n\
         RestartSec=2\n\
         # No User=: berth starts as root and drops to the profile's user itself (run --user),\n\
         # after preparing mounts and config/data directories that need root.\n\
         # Hardening that matches what berth does anyway: berth sets no_new_privs before it\n\
         # execs the service, never makes setuid files, and needs neither realtime scheduling\n\
         # nor personality changes. The host is read-only (ProtectSystem=strict) but for what\n\
         # berth writes under its root: its lock, run/ (holds, private /run and /tmp), the\n\
         # profile's own etc/ and var/, and with --isolate users/ (the profile's id range).\n\
         NoNewPrivileges=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         RestrictRealtime=yes\n\
         ProtectSystem=strict\n\
         PrivateTmp=yes\n\
         ProtectControlGroups=yes\n",
    );
    let mut writable = vec![
        i.root.join(crate::lock::LOCK_FILE),
        i.root.join(crate::isolate::RUN),
        i.root.join(super::layout::ETC).join(i.profile),
        i.root.join(super::layout::VAR).join(i.profile),
    ];
    if s.isolate {
        writable.push(i.root.join(crate::isolate::USERS));
    }
    let writable = writable
        .iter()
        .map(|p| quote_value(&format!("-{}", text("the root's path", p)?)))
        .collect::<Result<Vec<_>>>()?;
    u.push_str(&format!("ReadWritePaths={}\n", writable.join(" ")));
    if s.isolate {
        u.push_str(
            "# The rest of the boundary is berth's own (run --isolate): a fresh /proc with its\n\
             # tunables read-only, a private /dev, the root hidden. ProtectKernelTunables= is\n\
             # left out on purpose: its read-only mounts over /proc/sys would forbid the fresh\n\
             # /proc in berth's user namespace (the kernel mounts proc there only where the\n\
             # host's is fully visible); berth makes those paths read-only itself, inside.\n\
             # ProtectKernelModules= is left out too: it could stop the overlay module from\n\
             # loading on demand.\n\
             PrivateDevices=yes\n",
        );
    } else {
        u.push_str(
            "ProtectKernelTunables=yes\n\
             ProtectKernelModules=yes\n",
        );
    }
    u.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    Ok(u)
}

/// A path as UTF-8 without control characters, or an error naming it.
fn text(what: &'static str, p: &Path) -> Result<String> {
    let s = p.to_str().ok_or_else(|| DeployError::UnitValue {
        what,
        value: p.display().to_string(),
        why: "it is not valid UTF-8",
    })?;
    Ok(s.to_string())
}

/// One word of a unit's command line (`ExecStart=`): specifiers (`%`) and variables (`$`)
/// escaped, double-quoted unless it is plain.
fn quote(w: &str) -> Result<String> {
    quote_word(w, true)
}

/// One word of an `Environment=` assignment or a `ReadWritePaths=` path: specifiers
/// escaped, but not `$`, which systemd expands only on command lines (elsewhere `$$` would
/// stay two dollars).
fn quote_value(w: &str) -> Result<String> {
    quote_word(w, false)
}

/// `%` doubled, and `$` when `dollar` (command lines); double-quoted, with `\` and `"`
/// escaped, unless the word is plain.
fn quote_word(w: &str, dollar: bool) -> Result<String> {
    if w.chars().any(char::is_control) {
        return Err(DeployError::UnitValue {
            what: "a word",
            value: w.escape_debug().to_string(),
            why: "it contains control characters",
        }
        .into());
    }
    let escaped = w.replace('%', "%%");
    let escaped = if dollar {
        escaped.replace('$', "$$")
    } else {
        escaped
    };
    let plain = !w.is_empty()
        && w != ";"
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+,@%$".contains(c));
    if plain {
        return Ok(escaped);
    }
    Ok(format!(
        "\"{}\"",
        escaped.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// What `service install` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    /// The profile.
    pub profile: String,
    /// The unit's name.
    pub unit: String,
    /// The file written.
    pub path: PathBuf,
    /// Whether the file's content changed.
    pub changed: bool,
    /// Whether it runs the profile isolated.
    pub isolate: bool,
}

/// Opens the unit directory, with errors that say what is wrong with it.
fn check_unit_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(DeployError::BadUnitDir {
            path: dir.to_path_buf(),
            why: "not a directory",
        }
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DeployError::BadUnitDir {
            path: dir.to_path_buf(),
            why: "no such directory",
        }
        .into()),
        Err(e) => Err(Error::io("open", dir, e)),
    }
}

/// Writes the unit of `profile` (atomically) into `dir`.
pub fn install(
    profile: &str,
    root: &crate::root::Root,
    spec: &ProfileSpec,
    generation: u64,
    dir: &Path,
) -> Result<Installed> {
    let Some(service) = &spec.service else {
        return Err(DeployError::NoService {
            profile: profile.to_string(),
            generation,
            has_spec: true,
        }
        .into());
    };
    check_unit_dir(dir)?;
    // The unit leaves writable only these paths of the root; systemd skips those missing
    // (`-`), and berth could not create them under a read-only root.
    crate::isolate::ensure_dirs(root)?;
    super::layout::etc_dir(root, profile)?;
    super::layout::var_dir(root, profile)?;
    let root = root.path();
    let root = std::fs::canonicalize(root).map_err(|e| Error::io("resolve", root, e))?;
    let berth = std::env::current_exe().map_err(|e| Error::io("find", "this berth binary", e))?;
    let text = render(&UnitInput {
        profile,
        root: &root,
        berth: &berth,
        service,
    })?;
    let unit = unit_name(profile);
    let path = dir.join(&unit);
    // The host's unit directory (`--unit-dir`, /etc/systemd/system), not under the root.
    let changed = std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str());
    if changed {
        crate::fsutil::write_user_file(&path, text.as_bytes(), 0o644)?;
    }
    Ok(Installed {
        profile: profile.to_string(),
        unit,
        path,
        changed,
        isolate: service.isolate,
    })
}

/// Deletes the unit of `profile` from `dir`; returns its path.
pub fn remove(profile: &str, dir: &Path) -> Result<PathBuf> {
    crate::package::name::check_name("profile name", profile)?;
    check_unit_dir(dir)?;
    let unit = unit_name(profile);
    let path = dir.join(&unit);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DeployError::NoUnit {
            unit,
            dir: dir.to_path_buf(),
        }
        .into()),
        Err(e) => Err(Error::io("remove", &path, e)),
    }
}

/// How a restart was done.
#[derive(Debug, Clone)]
pub enum Restart {
    /// `systemctl restart <unit>`, or the profile file's `restart` command.
    Ran {
        /// The command line.
        command: String,
        /// How it ended.
        outcome: Outcome,
        /// Its time limit.
        limit: Duration,
    },
    /// Neither an installed unit under a running systemd nor a `restart` command.
    NotPossible,
}

/// Restarts the service of `env.profile` as [`Restart`] describes.
pub fn restart(
    service: &ServiceSpec,
    env: &SwitchEnv,
    health_timeout: Duration,
) -> Result<Restart> {
    let limit = RESTART_LIMIT.max(health_timeout);
    let unit = unit_name(&env.profile);
    let installed = Path::new(SYSTEM_UNIT_DIR).join(&unit).exists();
    let command = if installed && Path::new(SYSTEMD_RUNNING).is_dir() {
        format!("systemctl restart {unit}")
    } else if let Some(c) = &service.restart {
        c.clone()
    } else {
        return Ok(Restart::NotPossible);
    };
    let outcome = hooks::run(
        "restart",
        &command,
        env,
        Some(limit),
        hooks::Leftovers::Keep,
    )?;
    Ok(Restart::Ran {
        command,
        outcome,
        limit,
    })
}
