//! Whole-tree operations beneath an open directory: removal (store entries are read-only,
//! so write bits are restored on the way down) and walking. Both go one open directory at a
//! time and never follow a symlink, so a link planted anywhere in the tree is removed as a
//! link, not followed into the directory it names.

use super::dir::{Dir, Kind};
use crate::error::{Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::io;

/// Removes `rel` beneath `dir` (a file, a symlink or a whole tree); a missing one is fine.
pub fn remove_tree(dir: &Dir, rel: &str) -> Result<()> {
    let Some(st) = dir.stat(rel)? else {
        return Ok(());
    };
    if super::dir::kind_of(&st) != Kind::Dir {
        dir.remove_file(rel)?;
        return Ok(());
    }
    let Some(sub) = dir.open_dir_opt(rel)? else {
        return Ok(());
    };
    // Our own entries are 0555: the directory must be writable to empty it.
    let _ = sub.chmod(".", 0o700);
    empty(&sub)?;
    let (parent, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (Some(dir.open_dir(p)?), n),
        None => (None, rel),
    };
    let parent = parent.as_ref().unwrap_or(dir);
    match rustix::fs::unlinkat(parent.fd(), name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io("remove directory", dir.join(rel), e.into())),
    }
}

/// Removes everything inside `dir`, leaving it empty.
pub fn empty(dir: &Dir) -> Result<()> {
    for ent in dir.entries()? {
        let Some(name) = ent.name.to_str().map(str::to_string) else {
            // Names berth never makes (not UTF-8) still go: remove through the raw bytes.
            remove_raw(dir, &ent.name, ent.kind)?;
            continue;
        };
        if ent.kind == Kind::Dir {
            remove_tree(dir, &name)?;
        } else {
            match dir.remove_file(&name) {
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn remove_raw(dir: &Dir, name: &std::ffi::OsStr, kind: Kind) -> Result<()> {
    let flags = if kind == Kind::Dir {
        // Descend through an O_NOFOLLOW handle, then remove it.
        let fd = rustix::fs::openat(
            dir.fd(),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open directory", dir.join(name), e.into()))?;
        let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
        let sub = Dir::from_fd(fd, dir.join(name));
        empty(&sub)?;
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    match rustix::fs::unlinkat(dir.fd(), name, flags) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io("remove", dir.join(name), io::Error::from(e))),
    }
}

/// Calls `f(rel, kind, stat)` for everything beneath `dir` (not `dir` itself), parents
/// before children, never following symlinks. `rel` is `/`-separated; names that are not
/// UTF-8 are passed lossily (berth never makes such names; checks report them).
pub fn walk(
    dir: &Dir,
    f: &mut dyn FnMut(&str, Kind, &super::dir::Stat) -> Result<()>,
) -> Result<()> {
    walk_in(dir, "", f)
}

fn walk_in(
    dir: &Dir,
    prefix: &str,
    f: &mut dyn FnMut(&str, Kind, &super::dir::Stat) -> Result<()>,
) -> Result<()> {
    for ent in dir.entries()? {
        let name = ent.name.to_string_lossy();
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let Some(st) = dir.stat(&name)? else { continue };
        let kind = super::dir::kind_of(&st);
        f(&rel, kind, &st)?;
        if kind == Kind::Dir {
            if let Some(sub) = dir.open_dir_opt(&name)? {
                walk_in(&sub, &rel, f)?;
            }
        }
    }
    Ok(())
}
