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
//!   kept owner-only in `etc/<profile>/.berth/shipped/<path>`, and each generation's
//!   renderings in `etc/<profile>/.berth/rendered/<sha256>` (`rendered.rs`).
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
use crate::package::manifest::PathEntry;
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
/// Where every generation's template renderings are kept, below `etc/<profile>/`.
pub const RENDERED: &str = ".berth/rendered";
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

/// The name an entry's config and data live under: `[made] for` (what a package's
/// maintainer scripts made belongs with that package's state), else its own name.
pub fn state_name(e: &Entry) -> &str {
    e.manifest
        .made
        .as_ref()
        .map_or(e.name(), |m| m.for_package.as_str())
}

/// One config file or writable directory of a profile, with every entry that declares it.
#[derive(Debug, Clone)]
pub struct StatePath {
    /// The state name it lives under (`etc/<profile>/<state>/…`).
    pub state: String,
    /// Relative to `/` and to the state directory.
    pub path: String,
    /// A writable directory (rather than a config file).
    pub dir: bool,
    /// Index (into the entries) and declaration of each entry declaring it: packages
    /// before made entries, so seeding takes the package's copy first.
    pub declared: Vec<(usize, PathEntry)>,
}

impl StatePath {
    /// The owner and mode it is given: the last declaration that says (the made entry's,
    /// which knows what the scripts chowned, over the package's).
    pub fn owner_mode(&self) -> (Option<&str>, Option<u32>) {
        let owner = self
            .declared
            .iter()
            .rev()
            .find_map(|(_, p)| p.owner.as_deref());
        let mode = self.declared.iter().rev().find_map(|(_, p)| p.mode_bits());
        (owner, mode)
    }
}

/// Every config file and writable directory of `entries`: their manifests' `[[config]]`
/// and `[[writable]]`, then `implicit` (per entry, the state its native package implies:
/// empty var/ directories it ships, its unit's and tmpfiles.d's). One per target: a path
/// declared twice under one state name (a package and its made entry) is one; an implicit
/// one that a declared one already covers adds nothing; two state names declaring one
/// path stay two (the plan refuses them, naming both).
pub fn state_paths(entries: &[Entry], implicit: &[Vec<PathEntry>]) -> Vec<StatePath> {
    let mut out: Vec<StatePath> = Vec::new();
    let mut add = |i: usize, p: &PathEntry, dir: bool, any_state: bool| {
        let state = state_name(&entries[i]);
        let same = out
            .iter_mut()
            .find(|s| s.path == p.path && s.dir == dir && (any_state || s.state == state));
        match same {
            Some(s) => s.declared.push((i, p.clone())),
            None => out.push(StatePath {
                state: state.to_string(),
                path: p.path.clone(),
                dir,
                declared: vec![(i, p.clone())],
            }),
        }
    };
    for (i, e) in entries.iter().enumerate() {
        for c in &e.manifest.config {
            add(i, c, false, false);
        }
        for w in &e.manifest.writable {
            add(i, w, true, false);
        }
    }
    for (i, list) in implicit.iter().enumerate().take(entries.len()) {
        for w in list {
            add(i, w, true, true);
        }
    }
    for s in &mut out {
        s.declared
            .sort_by_key(|(i, _)| entries[*i].manifest.made.is_some());
    }
    out
}

/// The binds of `paths` of `profile`: config files and writable directories, from the
/// root onto their paths inside the namespace. Computes only; `state::prepare` seeds them.
pub fn binds(root: &Root, profile: &str, entries: &[Entry], paths: &[StatePath]) -> Vec<Bind> {
    paths
        .iter()
        .map(|s| {
            let (source, what) = match s.dir {
                true => (
                    package_data_path(root, profile, &s.state, &s.path),
                    "writable",
                ),
                false => (
                    package_config_path(root, profile, &s.state, &s.path),
                    "config",
                ),
            };
            Bind {
                source,
                target: Path::new("/").join(&s.path),
                dir: s.dir,
                what,
                package: entries[s.declared[0].0].spec(),
            }
        })
        .collect()
}
