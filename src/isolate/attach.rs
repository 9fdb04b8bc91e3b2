//! The few steps every mount of an instance is made of: open a directory as a handle, clone
//! a mount tree to attach it later (after something has covered its path), attach it, and
//! restrict a bind (`nosuid,nodev`, keeping the flags a user namespace may not clear).

use super::error::{Ctx, Error};
use super::syscalls;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode as Perm;
use nix::sys::statvfs::{statvfs, FsFlags};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A mount tree cloned before the overlays, and where it goes afterwards.
pub(super) struct Pending {
    pub(super) tree: OwnedFd,
    pub(super) target: PathBuf,
}

pub(super) fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let fd = open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Perm::empty(),
    )
    .ctx("open directory", path)?;
    // SAFETY: `open` returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn clone(source: &Path, target: &Path) -> Result<Pending, Error> {
    let tree = syscalls::clone_tree(source).map_err(|e| Error::Mount {
        what: "clone the mount at",
        path: source.to_path_buf(),
        hint: "open_tree needs Linux 5.2 and the right to mount in this namespace",
        source: e,
    })?;
    Ok(Pending {
        tree,
        target: target.to_path_buf(),
    })
}

pub(super) fn attach(p: &Pending, what: &'static str) -> Result<(), Error> {
    syscalls::move_mount(&p.tree, &p.target).map_err(|e| Error::Mount {
        what,
        path: p.target.clone(),
        hint: "the path must exist inside the namespace and have the same type (file or directory)",
        source: e,
    })
}

/// Remounts the bind at `path` with `nosuid,nodev` plus `extra`, keeping the flags it has
/// (a user namespace may not clear locked ones such as `noexec`).
pub(super) fn remount(path: &Path, extra: MsFlags) -> Result<(), Error> {
    let st = statvfs(path).ctx("statvfs", path)?;
    let have = st.flags();
    let mut flags =
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | extra;
    for (f, m) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(f) {
            flags |= m;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(|e| Error::Mount {
        what: "remount",
        path: path.to_path_buf(),
        hint: "the kernel refused to restrict a bind mount",
        source: e.into(),
    })
}
