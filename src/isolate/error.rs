//! The errors of `run --isolate` and privilege dropping: one enum, each variant with the
//! fields a user needs to act, each message ending in a hint.

use std::path::PathBuf;

/// Everything isolation can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not permitted to create {what}: {source}\nhint: {needs}")]
    NotPermitted {
        what: &'static str,
        needs: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} needs root{detail}\nhint: run berth as root (sudo), or leave out {flag}")]
    NeedsRoot {
        what: String,
        flag: &'static str,
        detail: String,
    },
    #[error("{feature} needs Linux {needs} or newer; this kernel is {have}\nhint: {hint}")]
    KernelTooOld {
        feature: &'static str,
        needs: &'static str,
        have: String,
        hint: &'static str,
    },
    #[error("unknown user `{user}`\nhint: create it (`useradd --system {user}`) or name an existing user or a numeric uid")]
    UnknownUser { user: String },
    #[error(
        "unknown group `{group}`\nhint: name an existing group or a numeric gid (`getent group`)"
    )]
    UnknownGroup { group: String },
    #[error("unknown capability `{name}`\nhint: use a name from capabilities(7) such as NET_BIND_SERVICE (the CAP_ prefix is optional)")]
    UnknownCapability { name: String },
    #[error("profile {profile} has no packages (generation {generation})\nhint: `berth use {profile} PACKAGE` adds one")]
    NoPackages { profile: String, generation: u64 },
    #[error("profile {profile} has no service to run: none of its packages ({}) has a [service] section\nhint: give a command after `--`: berth run {profile} -- CMD", .packages.join(", "))]
    NoService {
        profile: String,
        packages: Vec<String>,
    },
    #[error("profile {profile} has more than one service: {}\nhint: name the command after `--`, e.g. berth run {profile} -- CMD", .packages.join(", "))]
    ManyServices {
        profile: String,
        packages: Vec<String>,
    },
    #[error("{package}: [service] exec `{exec}` {why}\nhint: write the command relative to the package root, like exec = \"usr/bin/app serve\"")]
    BadServiceExec {
        package: String,
        exec: String,
        why: &'static str,
    },
    #[error("cannot place {what} at {path}: {why}\nhint: {hint}")]
    NoMountPoint {
        what: String,
        path: PathBuf,
        why: String,
        hint: String,
    },
    #[error("cannot mount the overlay on {target} ({layers} layer(s) from {store}): {source}\nhint: the filesystem holding the store may not support being an overlayfs lower layer (overlay on overlay, network filesystems); move the root to a local ext4, xfs or btrfs filesystem (--root), and see `dmesg` for the kernel's reason")]
    Overlay {
        target: PathBuf,
        layers: usize,
        store: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "overlayfs is not available: {detail}\nhint: load it with `modprobe overlay` (as root)"
    )]
    NoOverlayfs { detail: String },
    #[error("{target}: {layers} layers do not fit in one mount-option page on this kernel\nhint: Linux 6.8 or newer takes any number of layers; or split the profile")]
    TooManyLayers { target: PathBuf, layers: usize },
    #[error("cannot {what} {path}: {source}\nhint: {hint}")]
    Mount {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot drop privileges ({step}): {source}\nhint: this needs root, or CAP_SETUID, CAP_SETGID and CAP_SETPCAP")]
    Privileges {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{command}: command not found inside profile {profile}\nhint: `berth run {profile} -- sh -c 'command -v {command}'` shows what is on PATH there; check the package provides it at its usual path")]
    CommandNotFound { command: String, profile: String },
    #[error("{command}: cannot execute inside profile {profile}: {source}\nhint: check that the file is executable by the user the command runs as")]
    CommandNotExecutable {
        command: String,
        profile: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is declared as {what} by both {first} and {second}\nhint: drop one of the packages from the profile; nothing was changed")]
    PathClaimedTwice {
        path: String,
        what: &'static str,
        first: String,
        second: String,
    },
    #[error("{package}: {what} `{path}` is {found} in the package, not {expected}\nhint: fix the package's berth.toml")]
    WrongKind {
        package: String,
        what: &'static str,
        path: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("store entry {entry} disappeared (removed by gc or remove while berth run started)\nhint: run the command again; it uses the profile's current generation")]
    EntryGone { entry: String },
    #[error("--cap NET_BIND_SERVICE cannot take effect under --isolate as root: the instance runs in its own user namespace, and the kernel lets only the network namespace's owner bind ports below net.ipv4.ip_unprivileged_port_start")]
    PortCapInUserNamespace,
    #[error("{what}: uid or gid {id} is outside the 0..65535 an isolated profile maps")]
    IdOutsideRange { what: String, id: u32 },
    #[error("cannot place {what} at {path}: berth never overlays /dev, /proc, /sys, /run or /tmp, nor binds into them")]
    Reserved { what: String, path: PathBuf },
    #[error("{message}")]
    Relayed { message: String, code: i32 },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Exit status for a command that was not found (as a shell reports it).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status for a command that was found but could not be executed (as a shell reports it).
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

impl Error {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The documented exit code (README "Exit codes").
    pub fn exit_code(&self) -> i32 {
        use crate::error::exit;
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
            Error::UnknownCapability { .. } | Error::ManyServices { .. } => exit::USAGE,
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
            | Error::Io { .. } => exit::FAILURE,
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
