//! The copy a snapshot and a restore make: file by file, a clone (FICLONE) where the
//! filesystem allows, else the bytes; modes (without setuid/setgid), owners (as root) and
//! times kept, symlinks copied as links and never followed.

use super::{Method, SNAPSHOTS};
use crate::error::{Error, Result};
use crate::fsutil::{is_temp, Dir, Kind};

/// Copies trees file by file: a clone where the filesystem allows, else the bytes.
pub(super) struct Copier {
    /// Files copied so far.
    pub(super) files: u64,
    clone_works: Option<bool>,
    as_root: bool,
}

impl Copier {
    pub(super) fn new() -> Copier {
        Copier {
            clone_works: None,
            files: 0,
            as_root: rustix::process::geteuid().is_root(),
        }
    }

    pub(super) fn method(&self) -> Method {
        if self.clone_works == Some(true) {
            Method::Reflink
        } else {
            Method::Copy
        }
    }

    /// Gives `rel` the owner of `st` (only root can).
    pub(super) fn own(&self, dir: &Dir, rel: &str, st: &crate::fsutil::Stat) -> Result<()> {
        if self.as_root {
            dir.chown(rel, st.st_uid, st.st_gid)?;
        }
        Ok(())
    }

    /// Copies what is in `src` into `dst` (which exists); at the top of a data directory
    /// (`top`), `.snapshots/` and temporary names are left out.
    pub(super) fn copy_children(&mut self, src: &Dir, dst: &Dir, top: bool) -> Result<()> {
        for e in src.entries()? {
            let Some(n) = e.name_str() else {
                tracing::warn!(
                    "{}: name is not UTF-8; not in the snapshot",
                    src.join(&e.name).display()
                );
                continue;
            };
            if top && (n == SNAPSHOTS || is_temp(n)) {
                continue;
            }
            let Some(st) = src.stat(n)? else { continue };
            match e.kind {
                Kind::Dir => {
                    dst.create_dir(n, 0o700)?;
                    let sub = dst.open_dir(n)?;
                    self.copy_children(&src.open_dir(n)?, &sub, false)?;
                    sub.chmod(".", st.st_mode & 0o1777)
                        .map_err(|err| Error::io("chmod", sub.path(), err))?;
                    self.own(dst, n, &st)?;
                    set_times(dst, n, &st)?;
                }
                Kind::File => {
                    self.copy_file(src, dst, n, &st)?;
                    self.files += 1;
                }
                Kind::Symlink => {
                    if let Some(target) = src.read_link(n)? {
                        dst.symlink(target, n)?;
                        self.own(dst, n, &st)?;
                        set_times(dst, n, &st)?;
                    }
                }
                Kind::Other => tracing::warn!(
                    "{}: not a file, directory or symlink; not copied",
                    src.join(n).display()
                ),
            }
        }
        Ok(())
    }

    fn copy_file(&mut self, src: &Dir, dst: &Dir, n: &str, st: &crate::fsutil::Stat) -> Result<()> {
        let Some(mut input) = src.open_file(n)? else {
            return Ok(());
        };
        let mut out = dst
            .create_file(n, 0o600)
            .map_err(|e| Error::io("create", dst.join(n), e))?;
        let mut cloned = false;
        if self.clone_works != Some(false) {
            match rustix::fs::ioctl_ficlone(&out, &input) {
                Ok(()) => {
                    cloned = true;
                    self.clone_works = Some(true);
                }
                Err(e) => {
                    tracing::debug!("FICLONE {}: {e}; copying", src.join(n).display());
                    self.clone_works = Some(false);
                }
            }
        }
        if !cloned {
            std::io::copy(&mut input, &mut out).map_err(|e| Error::io("copy", src.join(n), e))?;
        }
        rustix::fs::fchmod(&out, rustix::fs::Mode::from_raw_mode(st.st_mode & 0o1777))
            .map_err(|e| Error::io("chmod", dst.join(n), e.into()))?;
        if self.as_root {
            rustix::fs::fchown(
                &out,
                Some(rustix::fs::Uid::from_raw(st.st_uid)),
                Some(rustix::fs::Gid::from_raw(st.st_gid)),
            )
            .map_err(|e| Error::io("chown", dst.join(n), e.into()))?;
        }
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: st.st_atime as _,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: st.st_mtime as _,
                tv_nsec: st.st_mtime_nsec as _,
            },
        };
        rustix::fs::futimens(&out, &times)
            .map_err(|e| Error::io("set times", dst.join(n), e.into()))
    }
}

/// Gives `n` (not followed) the access and modification times of `st`.
fn set_times(dir: &Dir, n: &str, st: &crate::fsutil::Stat) -> Result<()> {
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    };
    rustix::fs::utimensat(dir.fd(), n, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("set times", dir.join(n), e.into()))
}
