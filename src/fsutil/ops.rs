//! The changes a [`Dir`] can make beneath itself: create, link, rename, remove, chmod,
//! sync. Each resolves its path the way [`Dir::open_beneath`] does (never through a
//! symlink); the `_raw` ones are for the extraction hot path in a private staging tree.

use super::dir::Dir;
use crate::error::{Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::fs::File;
use std::io;
use std::path::Path;

/// The normalised modification time of everything in the store (1 second past the epoch,
/// as Nix does: 0 is treated as "unknown" by some tools).
pub const STORE_MTIME: rustix::fs::Timespec = rustix::fs::Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// The process umask (read once; it decides whether created modes need a chmod).
pub fn umask() -> u32 {
    static MASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MASK.get_or_init(|| {
        let m = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
        rustix::process::umask(m);
        m.bits()
    })
}

/// Sets the store's mtime on an open file.
pub fn set_file_mtime(f: &File) -> io::Result<()> {
    let times = rustix::fs::Timestamps {
        last_access: STORE_MTIME,
        last_modification: STORE_MTIME,
    };
    Ok(rustix::fs::futimens(f, &times)?)
}

/// Starts writing a large file's data to disk without waiting, so that the commit's
/// `syncfs` finds most of it already written (the same trick dpkg uses). Advisory: errors
/// ignored. Not worth it for small files: measured, it costs more than it saves there.
pub fn start_writeback(f: &File) {
    unsafe {
        libc::sync_file_range(
            std::os::fd::AsRawFd::as_raw_fd(f),
            0,
            0,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

impl Dir {
    /// Creates the directory `rel` (one component or several) with exactly `mode` where it
    /// is missing, then opens it. An existing part that is not a real directory is an error.
    pub fn ensure_dir(&self, rel: &str, mode: u32) -> Result<Dir> {
        if let Some(d) = self.open_dir_opt(rel)? {
            return Ok(d);
        }
        let mut done = String::new();
        for part in rel.split('/').filter(|c| !c.is_empty()) {
            if !done.is_empty() {
                done.push('/');
            }
            done.push_str(part);
            self.create_dir(&done, mode)?;
        }
        self.open_dir(rel)
    }

    /// Creates one directory with exactly `mode` (whatever the umask). Returns false when it
    /// already existed as a real directory.
    pub fn create_dir(&self, rel: &str, mode: u32) -> Result<bool> {
        let (parent, name) = self.split(rel)?;
        match rustix::fs::mkdirat(&parent.fd, name, Mode::from_raw_mode(mode)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                // Existing is fine only as a real directory.
                self.open_dir(rel)?;
                return Ok(false);
            }
            Err(e) => return Err(self.lookup_error("create directory", rel, e.into())),
        }
        if umask() & mode != 0 {
            rustix::fs::chmodat(
                &parent.fd,
                name,
                Mode::from_raw_mode(mode),
                AtFlags::empty(),
            )
            .map_err(|e| Error::io("chmod", self.join(rel), e.into()))?;
        }
        Ok(true)
    }

    /// Creates a new file beneath this directory (it must not exist) for writing, with
    /// `mode` (the caller fixes the mode if the umask took bits away).
    pub fn create_file(&self, rel: &str, mode: u32) -> io::Result<File> {
        let fd = self.open_beneath(rel, OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY, mode)?;
        Ok(File::from(fd))
    }

    /// Creates the symlink `rel` -> `target`.
    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) -> Result<()> {
        let (parent, name) = self.split(rel)?;
        rustix::fs::symlinkat(target.as_ref(), &parent.fd, name)
            .map_err(|e| self.lookup_error("create symlink", rel, e.into()))
    }

    /// Renames `from` (beneath this directory) to `to` beneath `dest`; both names must be
    /// single components of their directories or paths beneath them.
    pub fn rename(&self, from: &str, dest: &Dir, to: &str) -> Result<()> {
        let (fp, fname) = self.split(from)?;
        let (tp, tname) = dest.split(to)?;
        rustix::fs::renameat(&fp.fd, fname, &tp.fd, tname)
            .map_err(|e| dest.lookup_error("rename", to, e.into()))
    }

    /// As [`Dir::rename`], but never replaces an existing `to` (`AlreadyExists` then).
    pub fn rename_noreplace(&self, from: &str, dest: &Dir, to: &str) -> Result<()> {
        let (fp, fname) = self.split(from)?;
        let (tp, tname) = dest.split(to)?;
        rustix::fs::renameat_with(
            &fp.fd,
            fname,
            &tp.fd,
            tname,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| dest.lookup_error("rename", to, e.into()))
    }

    /// Removes the file or symlink `rel`; a missing one is fine.
    pub fn remove_file(&self, rel: &str) -> Result<bool> {
        let (parent, name) = self.split(rel)?;
        match rustix::fs::unlinkat(&parent.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::io("remove", self.join(rel), e.into())),
        }
    }

    /// Sets the mode of `rel` (never through a symlink).
    pub fn chmod(&self, rel: &str, mode: u32) -> io::Result<()> {
        if rel == "." {
            return Ok(rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(mode))?);
        }
        let fd = self.open_beneath(rel, OFlags::PATH, 0)?;
        // fchmod on an O_PATH descriptor is refused; go through its /proc name instead,
        // which names exactly this inode.
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        Ok(rustix::fs::chmod(proc.as_str(), Mode::from_raw_mode(mode))?)
    }

    /// Sets the mode of the directory or file `name` directly inside this directory.
    pub fn chmod_child(&self, name: &str, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::chmodat(
            &self.fd,
            name,
            Mode::from_raw_mode(mode),
            AtFlags::empty(),
        )?)
    }

    /// Sets the store's mtime on `rel` (a symlink itself, not its target).
    pub fn set_mtime(&self, rel: &str) -> io::Result<()> {
        let times = rustix::fs::Timestamps {
            last_access: STORE_MTIME,
            last_modification: STORE_MTIME,
        };
        Ok(rustix::fs::utimensat(
            &self.fd,
            rel,
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Hard-links `from` to `to`, both beneath this directory (never following symlinks).
    pub fn link_within(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::linkat(
            &self.fd,
            from,
            &self.fd,
            to,
            AtFlags::empty(),
        )?)
    }

    /// Hard-links `from` beneath `src` to `rel` beneath this directory.
    pub fn link_from_dir(&self, src: &Dir, from: &str, rel: &str) -> io::Result<()> {
        Ok(rustix::fs::linkat(
            &src.fd,
            from,
            &self.fd,
            rel,
            AtFlags::empty(),
        )?)
    }

    /// Renames `from` to `to`, both beneath this directory (raw, for the extraction hot
    /// path in a private staging tree).
    pub fn rename_raw(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Removes a file beneath this directory (raw, for the extraction hot path).
    pub fn unlink(&self, rel: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, rel, AtFlags::empty())?)
    }

    /// Creates a directory beneath this one (raw, for the extraction hot path).
    pub fn mkdir(&self, rel: &str, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::mkdirat(
            &self.fd,
            rel,
            Mode::from_raw_mode(mode),
        )?)
    }

    /// Creates a symlink beneath this directory with the store's mtime (raw, hot path).
    pub fn symlink_raw(&self, target: &str, rel: &str) -> io::Result<()> {
        rustix::fs::symlinkat(target, &self.fd, rel)?;
        self.set_mtime(rel)
    }

    /// Makes renames and creations inside this directory durable.
    pub fn fsync(&self) -> Result<()> {
        rustix::fs::fsync(&self.fd).map_err(|e| Error::io("fsync directory", &self.path, e.into()))
    }

    /// Flushes the whole filesystem that holds this directory (one call instead of an
    /// fsync per file).
    pub fn syncfs(&self) -> Result<()> {
        rustix::fs::syncfs(&self.fd).map_err(|e| Error::io("syncfs", &self.path, e.into()))
    }

    /// Gives `rel` (never followed if a symlink) to `uid`/`gid`.
    pub fn chown(&self, rel: &str, uid: u32, gid: u32) -> Result<()> {
        let (parent, name) = self.split(rel)?;
        rustix::fs::chownat(
            &parent.fd,
            name,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::io("chown", self.join(rel), e.into()))
    }
}
