//! Config files with dpkg's conffile rules. Each file has a "shipped" copy (what berth last
//! put there: a package's copy in its store entry, or a template's last rendering kept in
//! `<root>/etc/<profile>/.berth/shipped/`; paths are `layout`'s) and the file on disk the operator may edit. When
//! a new copy is shipped, the old shipped copy, the file on disk and the new one decide:
//! untouched → replaced; only the operator changed it → kept; both changed → kept, and the
//! new one written beside it as `<file>.berth-dist` (or, with `--conf new`, the new one
//! taken and the operator's saved as `<file>.berth-old`). An operator's edit is never lost,
//! neither by an upgrade nor by a rollback.

use super::layout::{self, SHIPPED};
use super::spec::ProfileSpec;
use crate::error::{Error, Result};
use crate::fsutil::{Dir, Kind};
use crate::lock::LockedFile;
use crate::profile::{Change, GenPackage, Generation, Profiles};
use crate::root::DIR_MODE;
use crate::store::{Entry, Store};
use serde::Serialize;

/// Suffix of a new shipped copy written beside an operator's edit.
pub const DIST: &str = ".berth-dist";
/// Suffix of an operator's copy saved when `--conf new` took the new one.
pub const OLD: &str = ".berth-old";
/// Largest config file berth compares or copies.
pub const MAX_CONFIG: u64 = 16 << 20;

/// What to do with one config file when a (possibly) new copy is shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The shipped copy did not change: nothing to do.
    Unchanged,
    /// The file is missing: write the new copy.
    Create,
    /// The operator never touched it: replace it with the new copy.
    Update,
    /// The file already equals the new copy: only remember the new shipped copy.
    Adopt,
    /// Both changed: keep the operator's, write the new copy beside it as `.berth-dist`.
    Dist,
    /// Both changed, `--conf new`: take the new copy, save the operator's as `.berth-old`.
    TakeNew,
}

impl Action {
    /// Whether the file on disk or its companions change.
    pub fn writes(self) -> bool {
        self != Action::Unchanged
    }
}

/// dpkg's decision for one file: `old` the last shipped copy (none when never shipped),
/// `disk` the file as it is (none when missing), `new` the copy shipped now.
pub fn decide(old: Option<&[u8]>, disk: Option<&[u8]>, new: &[u8], take_new: bool) -> Action {
    let Some(disk) = disk else {
        return Action::Create;
    };
    match old {
        Some(old) if old == new => Action::Unchanged,
        Some(old) if disk == old => Action::Update,
        _ if disk == new => Action::Adopt,
        _ if take_new => Action::TakeNew,
        _ => Action::Dist,
    }
}

/// Carries out `action` for the file `rel` beneath `base` (`disk` as it was read, `new` the
/// new copy). Does not touch the shipped copy: the caller records it.
pub fn carry_out(
    base: &Dir,
    rel: &str,
    action: Action,
    disk: Option<&[u8]>,
    new: &[u8],
    mode: u32,
) -> Result<()> {
    let dist = format!("{rel}{DIST}");
    match action {
        Action::Unchanged | Action::Adopt => return Ok(()),
        Action::Create | Action::Update => {
            ensure_parent(base, rel)?;
            base.write_atomic(rel, new, mode)?;
            base.remove_file(&dist)?;
        }
        Action::Dist => {
            let keep = current_mode(base, rel)?.unwrap_or(mode);
            base.write_atomic(&dist, new, keep)?;
        }
        Action::TakeNew => {
            let keep = current_mode(base, rel)?.unwrap_or(mode);
            base.write_atomic(&format!("{rel}{OLD}"), disk.unwrap_or_default(), keep)?;
            base.write_atomic(rel, new, keep)?;
            base.remove_file(&dist)?;
        }
    }
    Ok(())
}

/// `--conf new` for a file whose new copy is already waiting as `.berth-dist`: the dist
/// becomes the file, the operator's is saved as `.berth-old`.
pub fn take_pending(base: &Dir, rel: &str) -> Result<bool> {
    let dist = format!("{rel}{DIST}");
    let Some(new) = read_file(base, &dist)? else {
        return Ok(false);
    };
    let disk = read_file(base, rel)?;
    carry_out(base, rel, Action::TakeNew, disk.as_deref(), &new, 0o644)?;
    Ok(true)
}

fn current_mode(base: &Dir, rel: &str) -> Result<Option<u32>> {
    Ok(base.stat(rel)?.map(|st| st.st_mode & 0o7777))
}

fn ensure_parent(base: &Dir, rel: &str) -> Result<()> {
    if let Some((parent, _)) = rel.rsplit_once('/') {
        base.ensure_dir(parent, DIR_MODE)?;
    }
    Ok(())
}

/// Reads a config file beneath `base` (never through a symlink; capped), `None` when missing.
pub fn read_file(base: &Dir, rel: &str) -> Result<Option<Vec<u8>>> {
    base.read(rel, MAX_CONFIG)
}

/// Records `bytes` as the shipped copy of the template output `rel` (owner-only: a
/// rendering may hold secrets).
pub fn record_shipped(etc: &Dir, rel: &str, bytes: &[u8]) -> Result<()> {
    let shipped = format!("{SHIPPED}/{rel}");
    etc.ensure_dir(".berth", 0o700)?;
    ensure_parent(etc, &shipped)?;
    etc.write_atomic(&shipped, bytes, 0o600)
}

/// The shipped copy of a template output, `None` before its first rendering.
pub fn shipped_template(etc: &Dir, rel: &str) -> Result<Option<Vec<u8>>> {
    read_file(etc, &format!("{SHIPPED}/{rel}"))
}

/// A package's shipped copy of its config file `path`: the file in its store entry (an
/// empty file when the package ships none), `None` when the entry does not declare it.
fn package_copy(store: &Store, e: &Entry, path: &str) -> Result<Option<(Vec<u8>, u32)>> {
    if !e.manifest.config.iter().any(|c| c.path == path) {
        return Ok(None);
    }
    let pkg = store.open_entry(e)?;
    // Follows links inside the package: safe extraction keeps them inside.
    let Some(fd) = pkg.open_following_beneath(path, false) else {
        return Ok(Some((Vec::new(), 0o644)));
    };
    use std::io::Read;
    let f = std::fs::File::from(fd);
    let mode = rustix::fs::fstat(&f).map_or(0o644, |st| super::state::copy_mode(st.st_mode));
    let mut out = Vec::new();
    f.take(MAX_CONFIG + 1)
        .read_to_end(&mut out)
        .map_err(|err| Error::io("read", pkg.join(path), err))?;
    if out.len() as u64 > MAX_CONFIG {
        return Err(Error::FileTooLarge {
            path: pkg.join(path),
            limit: MAX_CONFIG,
        });
    }
    Ok(Some((out, mode)))
}

fn entry_of<'e>(entries: &'e [Entry], p: &GenPackage) -> Option<&'e Entry> {
    let dir = p.entry_dir();
    entries.iter().find(|e| e.dir_name() == dir)
}

/// After every switch (`use`, `drop`, `rollback`, `switch`, `apply`): merges the config
/// files of the new generation's packages with dpkg's rules, the old generation's entries
/// being the old shipped copies. A conflict leaves a `.berth-dist` and a warning; a
/// problem with one file is a warning too, since the switch has already happened.
pub fn after_switch(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    change: &Change,
    take_new: bool,
) -> Result<()> {
    if !change.changed {
        return Ok(());
    }
    let profiles = Profiles::new(store.root());
    let new = profiles.read(profile, change.to)?;
    let old = match change.from {
        Some(n) => Some(profiles.read(profile, n)?),
        None => None,
    };
    merge_templates(store, lock, profile, &new, take_new)?;
    let entries = store.entries_named(
        new.packages
            .iter()
            .chain(old.iter().flat_map(|g| g.packages.iter()))
            .map(|p| p.name.as_str()),
    )?;
    for p in &new.packages {
        let Some(e) = entry_of(&entries, p) else {
            continue;
        };
        if e.manifest.config.is_empty() {
            continue;
        }
        let old_entry = old
            .as_ref()
            .and_then(|g| g.packages.iter().find(|o| o.name == p.name))
            .and_then(|o| entry_of(&entries, o));
        if old_entry.is_some_and(|o| o.id() == e.id()) {
            continue;
        }
        // A made entry's config merges under its package's name; a path its package ships
        // too is the package's to merge (the made entry only says owner and mode).
        let package_declares = |path: &str| {
            e.manifest.made.as_ref().is_some_and(|m| {
                new.packages
                    .iter()
                    .filter(|o| o.name == m.for_package)
                    .filter_map(|o| entry_of(&entries, o))
                    .any(|pe| pe.manifest.config.iter().any(|pc| pc.path == path))
            })
        };
        for c in &e.manifest.config {
            if package_declares(&c.path) {
                continue;
            }
            if let Err(err) = merge_package_file(store, profile, e, old_entry, &c.path) {
                tracing::warn!(
                    "config {}/{} of profile {profile} was not merged: {err}",
                    layout::state_name(e),
                    c.path
                );
            }
        }
    }
    Ok(())
}

/// The template outputs of generation `gen`: each put back from the rendering the
/// generation records, by the same rules as a package's config file (the last rendering
/// berth put there is the old shipped copy). A generation that records none (made before
/// renderings were kept, or by `use` on a profile never applied) leaves them as they are.
fn merge_templates(
    store: &Store,
    _lock: &LockedFile,
    profile: &str,
    gen: &Generation,
    take_new: bool,
) -> Result<()> {
    if gen.config.is_empty() {
        return Ok(());
    }
    let root = store.root();
    let spec = ProfileSpec::recorded(&Profiles::new(root), profile, gen)?;
    let etc = layout::etc_dir(root, profile)?;
    for (rel, hash) in &gen.config {
        let Some(new) = super::rendered::load(&etc, hash)? else {
            tracing::warn!(
                "config {} of profile {profile}: the rendering generation {} had is gone; the file is left as it is (`berth apply` the profile file again)",
                etc.join(rel).display(),
                gen.number
            );
            continue;
        };
        let mode = spec
            .as_ref()
            .and_then(|s| s.config.get(rel))
            .and_then(|c| c.mode.as_deref())
            .and_then(|m| super::spec::mode(m).ok())
            .unwrap_or(0o644);
        let old = shipped_template(&etc, rel)?;
        let disk = read_file(&etc, rel)?;
        let action = decide(old.as_deref(), disk.as_deref(), &new, take_new);
        if action.writes() {
            carry_out(&etc, rel, action, disk.as_deref(), &new, mode)?;
        }
        if old.as_deref() != Some(&new[..]) {
            record_shipped(&etc, rel, &new)?;
        }
        if action == Action::Dist {
            tracing::warn!(
                "notice: {}: you changed it and generation {} renders it differently; yours is kept, its rendering is {}{DIST} (`berth config diff {profile}`)",
                etc.join(rel).display(),
                gen.number,
                etc.join(rel).display(),
            );
        }
    }
    Ok(())
}

fn merge_package_file(
    store: &Store,
    profile: &str,
    e: &Entry,
    old_entry: Option<&Entry>,
    path: &str,
) -> Result<()> {
    let Some((new, mode)) = package_copy(store, e, path)? else {
        return Ok(());
    };
    let old = match old_entry {
        Some(o) => package_copy(store, o, path)?.map(|(b, _)| b),
        None => None,
    };
    let base = layout::package_etc_dir(store.root(), profile, layout::state_name(e))?;
    let disk = read_file(&base, path)?;
    let action = decide(old.as_deref(), disk.as_deref(), &new, false);
    carry_out(&base, path, action, disk.as_deref(), &new, mode)?;
    if action == Action::Dist {
        tracing::warn!(
            "notice: {}: you changed it and {} ships a new version; yours is kept, the new one is {}{DIST} (`berth config diff {profile}`)",
            base.join(path).display(),
            e.spec(),
            base.join(path).display(),
        );
    }
    Ok(())
}

/// The state of one config file (`config status`).
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    /// `path` for a template's output, `package/path` for a package's config file.
    pub file: String,
    /// Where its shipped copy comes from (`template T` or `package name@version`).
    pub source: String,
    /// A package's config file (rather than a template's output).
    #[serde(skip)]
    pub from_package: bool,
    /// `pristine`, `modified`, `pending` (a `.berth-dist` waits) or `absent`.
    pub state: &'static str,
    /// The file on disk.
    pub path: std::path::PathBuf,
    #[serde(skip)]
    shipped: Option<Vec<u8>>,
    #[serde(skip)]
    disk: Option<Vec<u8>>,
}

impl FileStatus {
    /// The operator's edits against the shipped copy, as a unified diff (empty when none).
    pub fn diff(&self) -> String {
        let (Some(a), Some(b)) = (&self.shipped, &self.disk) else {
            return String::new();
        };
        if a == b {
            return String::new();
        }
        let a = String::from_utf8_lossy(a);
        let b = String::from_utf8_lossy(b);
        similar::TextDiff::from_lines(a.as_ref(), b.as_ref())
            .unified_diff()
            .context_radius(3)
            .header(&format!("shipped/{}", self.file), &self.file)
            .to_string()
    }
}

/// Every config file of `profile`'s current generation (`gen`): its templates' outputs
/// and its packages' config files, with their state.
pub fn status(store: &Store, profile: &str, gen: &Generation) -> Result<Vec<FileStatus>> {
    let root = store.root();
    let etc = layout::etc_dir_opt(root, profile)?;
    let mut out = Vec::new();
    if let Some(spec) = ProfileSpec::recorded(&Profiles::new(root), profile, gen)? {
        for (rel, c) in &spec.config {
            let (shipped, disk, dist) = match &etc {
                Some(etc) => (
                    shipped_template(etc, rel)?,
                    read_file(etc, rel)?,
                    exists(etc, &format!("{rel}{DIST}"))?,
                ),
                None => (None, None, false),
            };
            out.push(row(
                rel.clone(),
                (format!("template {}", c.template), false),
                layout::etc_path(root, profile).join(rel),
                shipped,
                disk,
                dist,
            ));
        }
    }
    let entries = store.entries()?;
    for p in &gen.packages {
        let Some(e) = entry_of(&entries, p) else {
            continue;
        };
        let base = match &etc {
            Some(etc) => etc.open_dir_opt(layout::state_name(e))?,
            None => None,
        };
        for c in &e.manifest.config {
            let shipped = package_copy(store, e, &c.path)?.map(|(b, _)| b);
            let (disk, dist) = match &base {
                Some(b) => (
                    read_file(b, &c.path)?,
                    exists(b, &format!("{}{DIST}", c.path))?,
                ),
                None => (None, false),
            };
            out.push(row(
                format!("{}/{}", layout::state_name(e), c.path),
                (format!("package {}", e.spec()), true),
                layout::package_config_path(root, profile, layout::state_name(e), &c.path),
                shipped,
                disk,
                dist,
            ));
        }
    }
    Ok(out)
}

fn exists(base: &Dir, rel: &str) -> Result<bool> {
    Ok(base
        .stat(rel)?
        .is_some_and(|st| crate::fsutil::dir::kind_of(&st) == Kind::File))
}

fn row(
    file: String,
    source: (String, bool),
    path: std::path::PathBuf,
    shipped: Option<Vec<u8>>,
    disk: Option<Vec<u8>>,
    dist: bool,
) -> FileStatus {
    let state = match (&shipped, &disk) {
        _ if dist => "pending",
        (_, None) => "absent",
        (Some(s), Some(d)) if s == d => "pristine",
        _ => "modified",
    };
    FileStatus {
        file,
        source: source.0,
        from_package: source.1,
        state,
        path,
        shipped,
        disk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_cases() {
        let (a, b, c) = (&b"a"[..], &b"b"[..], &b"c"[..]);
        assert_eq!(decide(Some(a), Some(a), b, false), Action::Update);
        assert_eq!(decide(Some(a), Some(c), b, false), Action::Dist);
        assert_eq!(decide(Some(a), Some(c), b, true), Action::TakeNew);
        assert_eq!(decide(Some(a), Some(c), a, false), Action::Unchanged);
        assert_eq!(decide(Some(a), Some(b), b, false), Action::Adopt);
        assert_eq!(decide(Some(a), None, b, false), Action::Create);
        assert_eq!(decide(None, Some(b), b, false), Action::Adopt);
        assert_eq!(decide(None, Some(c), b, false), Action::Dist);
    }
}
