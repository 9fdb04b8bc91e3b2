//! File operations relative to an open directory handle that never follow a symlink:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, `O_NOFOLLOW`
//! otherwise. Extraction creates everything through this, so even a bug in the lexical
//! checks cannot make it write outside the staging directory.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The normalised modification time of everything in the store (1 second past the epoch,
/// as Nix does: 0 is treated as "unknown" by some tools).
pub const STORE_MTIME: libc::timespec = libc::timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// `struct open_how` of openat2(2) (libc's is non-exhaustive, so it cannot be built here).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// An open directory that paths are resolved beneath.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

fn cstr(p: &str) -> io::Result<CString> {
    CString::new(p).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Dir {
    /// Opens a directory (not through a symlink at its last component).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        let fd = check(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        })?;
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Creates a new file beneath this directory (it must not exist), for writing.
    pub fn create_file(&self, rel: &str, mode: u32) -> io::Result<File> {
        let c = cstr(rel)?;
        let flags =
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let how = OpenHow {
                flags: flags as u64,
                mode: mode as u64,
                resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
            };
            let r = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.raw(),
                    c.as_ptr(),
                    &how as *const OpenHow,
                    std::mem::size_of::<OpenHow>(),
                )
            };
            if r >= 0 {
                return Ok(unsafe { File::from_raw_fd(r as RawFd) });
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOSYS) {
                return Err(e);
            }
            NO_OPENAT2.store(true, Ordering::Relaxed);
        }
        let fd =
            check(unsafe { libc::openat(self.raw(), c.as_ptr(), flags, mode as libc::c_uint) })?;
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Creates a directory beneath this one.
    pub fn mkdir(&self, rel: &str, mode: u32) -> io::Result<()> {
        let c = cstr(rel)?;
        check(unsafe { libc::mkdirat(self.raw(), c.as_ptr(), mode as libc::mode_t) }).map(|_| ())
    }

    /// Creates a symlink beneath this directory, with the store's mtime.
    pub fn symlink(&self, target: &str, rel: &str) -> io::Result<()> {
        let (t, c) = (cstr(target)?, cstr(rel)?);
        check(unsafe { libc::symlinkat(t.as_ptr(), self.raw(), c.as_ptr()) })?;
        self.set_mtime(rel)
    }

    /// Hard-links `from` to `to`, both beneath this directory (never following symlinks).
    pub fn link_within(&self, from: &str, to: &str) -> io::Result<()> {
        let (f, t) = (cstr(from)?, cstr(to)?);
        check(unsafe { libc::linkat(self.raw(), f.as_ptr(), self.raw(), t.as_ptr(), 0) })
            .map(|_| ())
    }

    /// Hard-links `from` beneath `src` to `rel` beneath this directory: short relative
    /// lookups on both sides (the pool and the staging tree each keep a handle open).
    pub fn link_from_dir(&self, src: &Dir, from: &str, rel: &str) -> io::Result<()> {
        let (f, t) = (cstr(from)?, cstr(rel)?);
        check(unsafe { libc::linkat(src.raw(), f.as_ptr(), self.raw(), t.as_ptr(), 0) }).map(|_| ())
    }

    /// Hard-links an absolute path (an object of the pool) to `rel` beneath this directory.
    pub fn link_from(&self, from: &Path, rel: &str) -> io::Result<()> {
        let f = CString::new(from.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        let t = cstr(rel)?;
        check(unsafe { libc::linkat(libc::AT_FDCWD, f.as_ptr(), self.raw(), t.as_ptr(), 0) })
            .map(|_| ())
    }

    /// Hard-links `rel` beneath this directory to an absolute path (into the pool).
    pub fn link_to(&self, rel: &str, to: &Path) -> io::Result<()> {
        let f = cstr(rel)?;
        let t = CString::new(to.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        check(unsafe { libc::linkat(self.raw(), f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), 0) })
            .map(|_| ())
    }

    /// Removes a file beneath this directory.
    pub fn unlink(&self, rel: &str) -> io::Result<()> {
        let c = cstr(rel)?;
        check(unsafe { libc::unlinkat(self.raw(), c.as_ptr(), 0) }).map(|_| ())
    }

    /// Sets the mode of a directory or file (never through a symlink).
    pub fn chmod(&self, rel: &str, mode: u32) -> io::Result<()> {
        let c = cstr(rel)?;
        check(unsafe { libc::fchmodat(self.raw(), c.as_ptr(), mode as libc::mode_t, 0) })
            .map(|_| ())
    }

    /// Sets the store's mtime on `rel` (a symlink itself, not its target).
    pub fn set_mtime(&self, rel: &str) -> io::Result<()> {
        let c = cstr(rel)?;
        let times = [STORE_MTIME, STORE_MTIME];
        check(unsafe {
            libc::utimensat(
                self.raw(),
                c.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(|_| ())
    }
}

/// Sets the store's mtime on an open file.
pub fn set_file_mtime(f: &File) -> io::Result<()> {
    let times = [STORE_MTIME, STORE_MTIME];
    check(unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) }).map(|_| ())
}

/// Starts writing a large file's data to disk without waiting, so that the commit's
/// `syncfs` finds most of it already written (the same trick dpkg uses). Advisory: errors
/// ignored. Not worth it for small files: measured, it costs more than it saves there.
pub fn start_writeback(f: &File) {
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// The process umask (read once; it decides whether created modes need a chmod).
pub fn umask() -> u32 {
    static MASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MASK.get_or_init(|| unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    })
}
