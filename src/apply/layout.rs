//! The one owner of where a profile's state lives under the root, so that the writers
//! (config merges, seeding, templates, `[[dirs]]`, snapshots) and `run --isolate`'s binds
//! agree on every path:
//!
//! - `etc/<profile>/<package>/<path>`: a package's `[[config]]` file. Seeded from the
//!   package's copy the first time a run needs it; at each switch that changes the
//!   package's entry, merged with dpkg's conffile rules (`conffile::after_switch`): replaced
//!   when the operator never touched it, kept (the new copy beside it as `.berth-dist`)
//!   when they did.
//! - `etc/<profile>/<path>`: a template's output (`berth apply`), with its last rendering
//!   kept owner-only in `etc/<profile>/.berth/shipped/<path>`.
//! - `var/<profile>/<package>/<path>`: a package's `[[writable]]` directory. Seeded once
//!   from the package's copy and never replaced or emptied by berth afterwards.
//! - `var/<profile>/<path>`: a profile file's `[[dirs]]`; made, owned and moded, never
//!   emptied.
//! - `var/<profile>/.snapshots/<generation>/`: data snapshots (`snapshot.rs`).
//!
//! Everything is reached beneath the root's handle, never through a symlink.

use crate::error::Result;
use crate::fsutil::Dir;
use crate::isolate::plan::Bind;
use crate::root::{Root, DIR_MODE};
use crate::store::Entry;
use std::path::{Path, PathBuf};

/// Operator-edited configuration, per profile.
pub const ETC: &str = "etc";
/// Service data, per profile.
pub const VAR: &str = "var";
/// The names this module owns at the top of a root (for `check`).
pub const ROOT_NAMES: &[&str] = &[ETC, VAR];
/// Where a profile's templates' last renderings live, below `etc/<profile>/`.
pub const SHIPPED: &str = ".berth/shipped";
/// The directory of data snapshots below `var/<profile>/`.
pub const SNAPSHOTS: &str = ".snapshots";

/// `etc/<profile>` or `var/<profile>`, relative to the root, after checking the name.
fn rel(top: &str, profile: &str) -> Result<String> {
    crate::package::name::check_name("profile name", profile)?;
    Ok(format!("{top}/{profile}"))
}

/// `<root>/etc/<profile>` (for messages).
pub fn etc_path(root: &Root, profile: &str) -> PathBuf {
    root.path().join(ETC).join(profile)
}

/// `<root>/var/<profile>` (for messages).
pub fn var_path(root: &Root, profile: &str) -> PathBuf {
    root.path().join(VAR).join(profile)
}

/// `<root>/var/<profile>/.snapshots` (for messages).
pub fn snapshots_path(root: &Root, profile: &str) -> PathBuf {
    var_path(root, profile).join(SNAPSHOTS)
}

/// `<root>/etc/<profile>/<package>/<path>`: a package's config file.
pub fn package_config_path(root: &Root, profile: &str, package: &str, path: &str) -> PathBuf {
    etc_path(root, profile).join(package).join(path)
}

/// `<root>/var/<profile>/<package>/<path>`: a package's writable directory.
pub fn package_data_path(root: &Root, profile: &str, package: &str, path: &str) -> PathBuf {
    var_path(root, profile).join(package).join(path)
}

/// `<root>/etc/<profile>`, created when missing.
pub fn etc_dir(root: &Root, profile: &str) -> Result<Dir> {
    root.dir().ensure_dir(&rel(ETC, profile)?, DIR_MODE)
}

/// `<root>/etc/<profile>` if it exists.
pub fn etc_dir_opt(root: &Root, profile: &str) -> Result<Option<Dir>> {
    root.dir().open_dir_opt(&rel(ETC, profile)?)
}

/// `<root>/var/<profile>`, created when missing.
pub fn var_dir(root: &Root, profile: &str) -> Result<Dir> {
    root.dir().ensure_dir(&rel(VAR, profile)?, DIR_MODE)
}

/// `<root>/var/<profile>` if it exists.
pub fn var_dir_opt(root: &Root, profile: &str) -> Result<Option<Dir>> {
    root.dir().open_dir_opt(&rel(VAR, profile)?)
}

/// `<root>/etc/<profile>/<package>`, created when missing.
pub fn package_etc_dir(root: &Root, profile: &str, package: &str) -> Result<Dir> {
    etc_dir(root, profile)?.ensure_dir(package, DIR_MODE)
}

/// `<root>/var/<profile>/<package>`, created when missing.
pub fn package_var_dir(root: &Root, profile: &str, package: &str) -> Result<Dir> {
    var_dir(root, profile)?.ensure_dir(package, DIR_MODE)
}

/// The binds for `entries` of `profile`: config files and writable directories, from the
/// root onto their paths inside the namespace. Computes only; `state::prepare` seeds them.
pub fn binds(root: &Root, profile: &str, entries: &[Entry]) -> Vec<Bind> {
    let mut out = Vec::new();
    for e in entries {
        for c in &e.manifest.config {
            out.push(Bind {
                source: package_config_path(root, profile, e.name(), &c.path),
                target: Path::new("/").join(&c.path),
                dir: false,
                what: "config",
                package: e.spec(),
            });
        }
        for w in &e.manifest.writable {
            out.push(Bind {
                source: package_data_path(root, profile, e.name(), &w.path),
                target: Path::new("/").join(&w.path),
                dir: true,
                what: "writable",
                package: e.spec(),
            });
        }
    }
    out
}
