//! Seeding a profile's packages' config files (`[[config]]`) and writable directories
//! (`[[writable]]`) where `layout` puts them, the first time a run needs them. Seeding
//! never overwrites: what exists is left as it is. Later changes belong elsewhere: a config
//! file the operator never edited is replaced by a new package version's copy at the
//! switch (`conffile::after_switch`, dpkg's rules; an edited one is kept), and a writable
//! directory is never replaced or emptied, so the service's data survives every switch and
//! rollback. Modes are explicit (not the umask); files are written atomically, and a
//! seeded directory appears whole (built beside, then renamed). Everything is made beneath
//! the root's handle, never through a symlink.

use super::layout;
use crate::error::{Error, Result};
use crate::fsutil::{temp_name, Dir, Kind};
use crate::isolate::plan::Bind;
use crate::lock::LockedFile;
use crate::root::{Root, DIR_MODE};
use crate::store::{Entry, Store};
use std::fs::File;

/// Mode of config files (0755 when the shipped copy is executable).
const FILE_MODE: u32 = 0o644;

/// The mode of the writable copy of a package's file (`st_mode` as the store has it): its
/// owner may write it, and who else may read or run it stays the package's choice. A berth
/// package's 0444/0555 files give 0644/0755 as always; a .deb's private 0400 or 0440 file
/// (a key, a sudoers file) gives 0600 or 0640, not a copy anyone can read.
pub fn copy_mode(st_mode: u32) -> u32 {
    (st_mode & 0o555) | 0o200
}

/// Creates what [`layout::binds`] names and does not exist yet, seeded from the packages. New
/// writable directories are given to `owner` (uid, gid) when set, so a service that runs
/// as another user can write them. Returns the binds.
pub fn prepare(
    root: &Root,
    store: &Store,
    _lock: &LockedFile,
    profile: &str,
    entries: &[Entry],
    owner: Option<(u32, u32)>,
) -> Result<Vec<Bind>> {
    crate::package::name::check_name("profile name", profile)?;
    for e in entries {
        if e.manifest.config.is_empty() && e.manifest.writable.is_empty() {
            continue;
        }
        let pkg = store.open_entry(e)?;
        if !e.manifest.config.is_empty() {
            let base = layout::package_etc_dir(root, profile, e.name())?;
            for c in &e.manifest.config {
                prepare_file(&base, &c.path, &pkg, e)?;
            }
        }
        if !e.manifest.writable.is_empty() {
            let base = layout::package_var_dir(root, profile, e.name())?;
            for w in &e.manifest.writable {
                prepare_dir(&base, &w.path, &pkg, e, owner)?;
            }
        }
    }
    Ok(layout::binds(root, profile, entries))
}

/// Gives a profile's config files and writable trees that still belong to host ids below
/// 65536 (made before the profile ran in its own id range) to the same ids in the range
/// at `base` (uid u becomes `base` + u): inside the instance they keep the owner they had.
/// Once per file: what is in the range already stays.
pub fn shift_into_range(root: &Root, profile: &str, entries: &[Entry], base: u32) -> Result<()> {
    crate::package::name::check_name("profile name", profile)?;
    let mut shifted = 0usize;
    let mut shift = |dir: &Dir, rel: &str, st: &crate::fsutil::Stat| -> Result<()> {
        let (uid, gid) = (st.st_uid, st.st_gid);
        if uid < crate::isolate::users::SIZE || gid < crate::isolate::users::SIZE {
            let map = |i: u32| {
                if i < crate::isolate::users::SIZE {
                    base + i
                } else {
                    i
                }
            };
            dir.chown(rel, map(uid), map(gid))?;
            shifted += 1;
        }
        Ok(())
    };
    let etc = layout::etc_dir_opt(root, profile)?;
    let var = layout::var_dir_opt(root, profile)?;
    for e in entries {
        let open = |d: &Option<Dir>| match d {
            Some(d) => d.open_dir_opt(e.name()),
            None => Ok(None),
        };
        if let Some(base_dir) = open(&etc)? {
            for c in &e.manifest.config {
                if let Some(st) = base_dir.stat(&c.path)? {
                    shift(&base_dir, &c.path, &st)?;
                }
            }
        }
        if let Some(base_dir) = open(&var)? {
            for w in &e.manifest.writable {
                let Some(st) = base_dir.stat(&w.path)? else {
                    continue;
                };
                shift(&base_dir, &w.path, &st)?;
                if crate::fsutil::dir::kind_of(&st) == Kind::Dir {
                    let tree = base_dir.open_dir(&w.path)?;
                    crate::fsutil::walk(&tree, &mut |rel, _, st| shift(&tree, rel, st))?;
                }
            }
        }
    }
    if shifted > 0 {
        tracing::info!(
            "profile {profile}: {shifted} file(s) of its config and data given to the same \
             ids in its range (from {base}), as its isolated runs see them"
        );
    }
    Ok(())
}

fn wrong_kind(e: &Entry, what: &'static str, rel: &str, found: &'static str) -> Error {
    let expected = if what == "config" {
        "a file"
    } else {
        "a directory"
    };
    crate::isolate::Error::WrongKind {
        package: e.spec(),
        what,
        path: rel.to_string(),
        found,
        expected,
    }
    .into()
}

/// The parent directory of `rel` beneath `base` (created 0755 where missing) and the name.
fn parent_of<'a>(base: &Dir, rel: &'a str) -> Result<(Dir, &'a str)> {
    match rel.rsplit_once('/') {
        Some((p, n)) => Ok((base.ensure_dir(p, DIR_MODE)?, n)),
        None => Ok((base.try_clone()?, rel)),
    }
}

fn prepare_file(base: &Dir, rel: &str, pkg: &Dir, e: &Entry) -> Result<()> {
    match base.stat(rel)? {
        Some(st) if crate::fsutil::dir::kind_of(&st) == Kind::File => return Ok(()),
        Some(_) => {
            return Err(wrong_kind(
                e,
                "config",
                rel,
                "not a file in the root's etc/",
            ))
        }
        None => {}
    }
    let (parent, name) = parent_of(base, rel)?;
    // Follows links inside the package: safe extraction keeps them inside.
    match pkg.open_following_beneath(rel, false) {
        Some(fd) => {
            let mut src = File::from(fd);
            let mode = rustix::fs::fstat(&src).map_or(FILE_MODE, |st| copy_mode(st.st_mode));
            parent.write_atomic_with(name, mode, |f| {
                std::io::copy(&mut src, f)
                    .map(|_| ())
                    .map_err(|err| Error::io("copy", pkg.join(rel), err))
            })?;
            tracing::info!(
                "config {} seeded from {}",
                base.join(rel).display(),
                e.spec()
            );
        }
        None if pkg.open_following_beneath(rel, true).is_some() => {
            return Err(wrong_kind(e, "config", rel, "a directory"))
        }
        None => {
            parent.write_atomic(name, b"", FILE_MODE)?;
            tracing::info!(
                "config {} created empty ({} ships none)",
                base.join(rel).display(),
                e.spec()
            );
        }
    }
    Ok(())
}

fn prepare_dir(
    base: &Dir,
    rel: &str,
    pkg: &Dir,
    e: &Entry,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    match base.stat(rel)? {
        Some(st) if crate::fsutil::dir::kind_of(&st) == Kind::Dir => {
            if let Some((uid, _)) = owner {
                if st.st_uid != uid {
                    tracing::warn!(
                        "{} belongs to uid {}, but the service runs as uid {uid}; it may not be \
                         able to write there (chown it if it should)",
                        base.join(rel).display(),
                        st.st_uid
                    );
                }
            }
            return Ok(());
        }
        Some(_) => {
            return Err(wrong_kind(
                e,
                "writable",
                rel,
                "not a directory in the root's var/",
            ))
        }
        None => {}
    }
    let (parent, name) = parent_of(base, rel)?;
    let tmp = temp_name(name);
    let built = (|| {
        match pkg.open_following_beneath(rel, true) {
            Some(fd) => copy_tree(&Dir::from_fd(fd, pkg.join(rel)), &parent, &tmp, owner)?,
            None if pkg.open_following_beneath(rel, false).is_some() => {
                return Err(wrong_kind(e, "writable", rel, "a file"))
            }
            None => make_dir(&parent, &tmp, owner)?,
        }
        parent.rename(&tmp, &parent, name)
    })();
    if built.is_err() {
        let _ = crate::fsutil::remove_tree(&parent, &tmp);
    }
    built?;
    parent.fsync()?;
    tracing::info!(
        "writable {} created for {}",
        base.join(rel).display(),
        e.spec()
    );
    Ok(())
}

fn make_dir(parent: &Dir, name: &str, owner: Option<(u32, u32)>) -> Result<()> {
    parent.create_dir(name, DIR_MODE)?;
    if let Some((uid, gid)) = owner {
        parent.chown(name, uid, gid)?;
    }
    Ok(())
}

/// Copies a shipped directory: directories 0755, files 0644 (0755 when executable),
/// links as links; all given to `owner`. Made durable before the caller's rename.
fn copy_tree(src: &Dir, parent: &Dir, name: &str, owner: Option<(u32, u32)>) -> Result<()> {
    make_dir(parent, name, owner)?;
    let dst = parent.open_dir(name)?;
    for ent in src.entries()? {
        let Some(n) = ent.name_str() else { continue };
        match ent.kind {
            Kind::Dir => copy_tree(&src.open_dir(n)?, &dst, n, owner)?,
            Kind::Symlink => {
                if let Some(target) = src.read_link(n)? {
                    dst.symlink(target, n)?;
                }
            }
            Kind::File => {
                let Some(mut input) = src.open_file(n)? else {
                    continue;
                };
                let mode = rustix::fs::fstat(&input).map_or(FILE_MODE, |st| copy_mode(st.st_mode));
                dst.write_atomic_with(n, mode, |f| {
                    std::io::copy(&mut input, f)
                        .map(|_| ())
                        .map_err(|err| Error::io("copy", src.join(n), err))
                })?;
            }
            Kind::Other => continue,
        }
        if let Some((uid, gid)) = owner {
            dst.chown(n, uid, gid)?;
        }
    }
    dst.fsync()
}
