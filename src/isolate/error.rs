//! The errors of `run --isolate` and privilege dropping: one enum, each variant with the
//! fields a user needs to act, and the hint each offers.

use crate::error::{exit, ModuleError};
use std::path::PathBuf;

/// Everything isolation can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not permitted to create {what}: {source}")]
    NotPermitted {
        what: &'static str,
        needs: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} needs root{detail}")]
    NeedsRoot {
        what: String,
        flag: &'static str,
        detail: String,
    },
    #[error("{feature} needs Linux {needs} or newer; this kernel is {have}")]
    KernelTooOld {
        feature: &'static str,
        needs: &'static str,
        have: String,
        hint: &'static str,
    },
    #[error("unknown user `{user}`")]
    UnknownUser { user: String },
    #[error("unknown group `{group}`")]
    UnknownGroup { group: String },
    #[error("unknown capability `{name}`")]
    UnknownCapability { name: String },
    #[error("profile {profile} has no packages (generation {generation})")]
    NoPackages { profile: String, generation: u64 },
    #[error("profile {profile} has no service to run: none of its packages ({}) has a [service] section", .packages.join(", "))]
    NoService {
        profile: String,
        packages: Vec<String>,
    },
    #[error("profile {profile} has more than one service: {}", .packages.join(", "))]
    ManyServices {
        profile: String,
        packages: Vec<String>,
    },
    #[error("profile {profile} has no service `{name}`; it has: {}", .known.join(", "))]
    NoSuchService {
        profile: String,
        name: String,
        known: Vec<String>,
    },
    #[error("ExecStartPre `{command}` failed ({status}); the service was not started")]
    PreFailed { command: String, status: String },
    #[error("{package}: {source}")]
    BadUnit {
        package: String,
        #[source]
        source: Box<crate::package::unit::UnitError>,
    },
    #[error("{package}: {file}: {what} `{path}` {why}")]
    UnitPath {
        package: String,
        file: String,
        what: &'static str,
        path: String,
        why: &'static str,
    },
    #[error("{package}: [service] exec `{exec}` {why}")]
    BadServiceExec {
        package: String,
        exec: String,
        why: &'static str,
    },
    #[error("cannot place {what} at {path}: {why}")]
    NoMountPoint {
        what: String,
        path: PathBuf,
        why: String,
        hint: String,
    },
    #[error("cannot mount the overlay on {target} ({layers} layer(s) from {store}): {source}")]
    Overlay {
        target: PathBuf,
        layers: usize,
        store: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("overlayfs is not available: {detail}")]
    NoOverlayfs { detail: String },
    #[error("{target}: {layers} layers do not fit in one mount-option page on this kernel")]
    TooManyLayers { target: PathBuf, layers: usize },
    #[error("cannot {what} {path}: {source}")]
    Mount {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot drop privileges ({step}): {source}")]
    Privileges {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{command}: command not found inside profile {profile}")]
    CommandNotFound { command: String, profile: String },
    #[error("{command}: cannot execute inside profile {profile}: {source}")]
    CommandNotExecutable {
        command: String,
        profile: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is declared as {what} by both {first} and {second}")]
    PathClaimedTwice {
        path: String,
        what: &'static str,
        first: String,
        second: String,
    },
    #[error("{package}: {what} `{path}` is {found} in the package, not {expected}")]
    WrongKind {
        package: String,
        what: &'static str,
        path: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("store entry {entry} disappeared (removed by gc or remove while berth run started)")]
    EntryGone { entry: String },
    /// An I/O failure: the core error's own `Io`, so that it reads and hints the same.
    #[error(transparent)]
    Io(Box<crate::Error>),
    #[error("--cap NET_BIND_SERVICE cannot take effect under --isolate as root: the instance runs in its own user namespace, and the kernel lets only the network namespace's owner bind ports below net.ipv4.ip_unprivileged_port_start")]
    PortCapInUserNamespace,
    #[error("{what}: uid or gid {id} is outside the 0..65535 an isolated profile maps")]
    IdOutsideRange { what: String, id: u32 },
    #[error("cannot place {what} at {path}: berth never overlays /dev, /proc, /sys, /run or /tmp, nor binds into them")]
    Reserved { what: String, path: PathBuf },
    /// An error raised inside the instance (after the namespaces were made), passed back to
    /// berth through a pipe: its message, hint and exit code as they were.
    #[error("{message}")]
    Relayed {
        message: String,
        hint: Option<String>,
        code: i32,
    },
}

/// Exit status for a command that was not found (as a shell reports it).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status for a command that was found but could not be executed (as a shell reports it).
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

impl Error {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io(Box::new(crate::Error::io(op, path, source)))
    }

    /// Privileges, identity and what the profile runs.
    fn plan_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            NotPermitted { needs, .. } => Some(needs.clone()),
            NeedsRoot { flag, .. } => Some(format!("run berth as root (sudo), or leave out {flag}")),
            KernelTooOld { hint, .. } => s(hint),
            UnknownUser { user, .. } => Some(format!("create it (`useradd --system {user}`) or name an existing user or a numeric uid")),
            UnknownGroup { .. } => s("name an existing group or a numeric gid (`getent group`)"),
            UnknownCapability { .. } => s("use a name from capabilities(7) such as NET_BIND_SERVICE (the CAP_ prefix is optional)"),
            NoPackages { profile, .. } => Some(format!("`berth use {profile} PACKAGE` adds one")),
            NoService { profile, .. } => Some(format!("give a command after `--`: berth run {profile} -- CMD")),
            ManyServices { profile, packages } => Some(format!("pick one with --service NAME (berth run --isolate {profile} --service {}), or give a command after `--`", packages.first().map_or("NAME", |p| p.split(' ').next().unwrap_or(p)))),
            NoSuchService { .. } => s("name one of those (a unit name without .service, or a package name)"),
            PreFailed { .. } => s("fix what it checks (run it by hand: berth run --isolate PROFILE -- COMMAND), or prefix the line with `-` in a [service] of your own"),
            BadUnit { .. } | UnitPath { .. } => s("the package's systemd unit or tmpfiles.d snippet asks for something berth refuses; nothing was changed (give the profile file a [service] instead)"),
            BadServiceExec { .. } => s("write the command relative to the package root, like exec = \"usr/bin/app serve\""),
            _ => None,
        }
    }

    /// Mounts and the command inside.
    fn mount_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            NoMountPoint { hint, .. } => Some(hint.clone()),
            Overlay { .. } => s("the filesystem holding the store may not support being an overlayfs lower layer (overlay on overlay, network filesystems); move the root to a local ext4, xfs or btrfs filesystem (--root), and see `dmesg` for the kernel's reason"),
            NoOverlayfs { .. } => s("load it with `modprobe overlay` (as root)"),
            TooManyLayers { .. } => s("Linux 6.8 or newer takes any number of layers; or split the profile"),
            Mount { hint, .. } => s(hint),
            Privileges { .. } => s("this needs root, or CAP_SETUID, CAP_SETGID and CAP_SETPCAP"),
            CommandNotFound { profile, command, .. } => Some(format!("`berth run {profile} -- sh -c 'command -v {command}'` shows what is on PATH there; check the package provides it at its usual path")),
            CommandNotExecutable { .. } => s("check that the file is executable by the user the command runs as"),
            PathClaimedTwice { .. } => s("drop one of the packages from the profile; nothing was changed"),
            WrongKind { .. } => s("fix the package's berth.toml"),
            EntryGone { .. } => s("run the command again; it uses the profile's current generation"),
            PortCapInUserNamespace => s("listen on a port of 1024 or above, or lower `sysctl net.ipv4.ip_unprivileged_port_start` on the host; leave out --cap NET_BIND_SERVICE"),
            IdOutsideRange { .. } => s("an isolated profile maps ids 0..65535 only: name a user and groups below 65536"),
            Reserved { .. } => s("move those files elsewhere in the package (usr/, opt/, etc/ …); /run and /tmp are the profile's own inside, no need to declare them"),
            Relayed { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

impl ModuleError for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Io(e) => e.hint(),
            _ => self.plan_hint().or_else(|| self.mount_hint()),
        }
    }

    fn exit_code(&self) -> i32 {
        match self {
            Error::NotPermitted { .. }
            | Error::NeedsRoot { .. }
            | Error::PortCapInUserNamespace
            | Error::IdOutsideRange { .. } => exit::NOT_PERMITTED,
            Error::Relayed { code, .. } => *code,
            Error::UnknownUser { .. }
            | Error::UnknownGroup { .. }
            | Error::NoPackages { .. }
            | Error::NoService { .. } => exit::NOT_FOUND,
            Error::UnknownCapability { .. }
            | Error::ManyServices { .. }
            | Error::NoSuchService { .. } => exit::USAGE,
            Error::BadUnit { .. } | Error::UnitPath { .. } => exit::REFUSED,
            Error::BadServiceExec { .. } | Error::WrongKind { .. } | Error::Reserved { .. } => {
                exit::REFUSED
            }
            Error::PathClaimedTwice { .. } | Error::EntryGone { .. } => exit::CONFLICT,
            Error::CommandNotFound { .. } => EXIT_NOT_FOUND,
            Error::CommandNotExecutable { .. } => EXIT_NOT_EXECUTABLE,
            Error::KernelTooOld { .. }
            | Error::NoMountPoint { .. }
            | Error::Overlay { .. }
            | Error::NoOverlayfs { .. }
            | Error::TooManyLayers { .. }
            | Error::Mount { .. }
            | Error::Privileges { .. }
            | Error::PreFailed { .. } => exit::FAILURE,
            Error::Io(e) => e.exit_code(),
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> crate::Error {
        match e {
            Error::Io(core) => *core,
            e => crate::Error::module(e),
        }
    }
}

/// Adds the path to an `io::Result`.
pub(crate) trait Ctx<T> {
    /// Names the operation and path in the error.
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, Error>;
}

impl<T> Ctx<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, Error> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> Ctx<T> for nix::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, Error> {
        self.map_err(|e| Error::io(op, path, std::io::Error::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_failure_becomes_the_core_io_error() {
        let e: crate::Error = Error::io("open", "/x", std::io::Error::other("boom")).into();
        assert!(matches!(e, crate::Error::Io { op: "open", .. }), "{e:?}");
        assert_eq!(e.to_string(), "open /x: boom");
    }

    #[test]
    fn the_hint_is_not_in_the_message() {
        let e: crate::Error = Error::UnknownGroup {
            group: "nope".into(),
        }
        .into();
        assert_eq!(e.to_string(), "unknown group `nope`");
        assert_eq!(
            e.hint().as_deref(),
            Some("name an existing group or a numeric gid (`getent group`)")
        );
        assert_eq!(e.exit_code(), exit::NOT_FOUND);
    }
}
