//! The pieces a mount plan is made of: package layers, overlay mounts and read-write binds.
//! Types only, so the planner ([`super::plan`]) and the planner of the packages' own
//! directories ([`super::owned`]) share them without importing each other.

use std::path::PathBuf;

/// One lower layer: a package's directory.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The directory in the store.
    pub dir: PathBuf,
    /// `name@version` of the package, for messages.
    pub package: String,
}

/// One overlay mount.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// The path in the packages: a top-level name (`usr`), or a directory that is the
    /// packages' alone (`etc/nginx`).
    pub top: String,
    /// Where it is mounted (`/usr`, or `/usr/bin` for `bin` on a merged-/usr host).
    pub target: PathBuf,
    /// Package layers, highest precedence first.
    pub layers: Vec<Layer>,
    /// Whether the mount-point layer goes on top (it holds targets for binds).
    pub mount_points: bool,
    /// Whether the host's directory goes below the layers (merged with the host); false
    /// for a directory that is the packages' alone: an empty layer goes there instead.
    pub over_host: bool,
}

/// A file or directory of the root bound read-write onto its path inside the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// In the root: `<root>/etc/<profile>/<package>/<path>` or `<root>/var/…`.
    pub source: PathBuf,
    /// Absolute path inside the namespace (`/etc/app/app.conf`).
    pub target: PathBuf,
    /// A directory (`[[writable]]`) rather than a file (`[[config]]`).
    pub dir: bool,
    /// `config` or `writable`.
    pub what: &'static str,
    /// `name@version` of the package that declares it.
    pub package: String,
}
