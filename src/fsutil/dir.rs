//! An open directory that every path beneath it is resolved from, never through a symlink:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, one
//! `O_NOFOLLOW` component at a time otherwise. Every part of a berth root is reached this
//! way, so a part replaced by a symlink (`shims -> /home/op/scripts`) is an error that names
//! it, never a reason to read, write or delete somewhere else.

use crate::error::{Error, Result};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// What a directory entry is (never following a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A device, fifo or socket.
    Other,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name.
    pub name: OsString,
    /// Its type.
    pub kind: Kind,
}

impl DirEntry {
    /// The name as UTF-8, if it is.
    pub fn name_str(&self) -> Option<&str> {
        self.name.to_str()
    }
}

/// Metadata of a file beneath a directory (lstat semantics).
pub type Stat = rustix::fs::Stat;

/// The kind of a stat result.
pub fn kind_of(st: &Stat) -> Kind {
    match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Kind::Dir,
        rustix::fs::FileType::RegularFile => Kind::File,
        rustix::fs::FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// The parent directory [`Dir::split`] found: this one, or one opened beneath it.
pub(super) enum Parent<'d> {
    This(&'d Dir),
    Opened(Dir),
}

impl std::ops::Deref for Parent<'_> {
    type Target = Dir;
    fn deref(&self) -> &Dir {
        match self {
            Parent::This(d) => d,
            Parent::Opened(d) => d,
        }
    }
}

/// An open directory and the path it was opened as (for messages only).
#[derive(Debug)]
pub struct Dir {
    pub(super) fd: OwnedFd,
    pub(super) path: PathBuf,
}

impl Dir {
    /// Maps an error of a lookup of `rel` beneath this directory to berth's error: a symlink
    /// met on the way is named as such, by its own path (the kernel only says "a symlink
    /// somewhere": `generations/p` is the link, not `generations/p/2`).
    pub(super) fn lookup_error(&self, op: &'static str, rel: &str, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::ELOOP) => Error::SymlinkInRoot {
                path: self.first_symlink(rel).unwrap_or_else(|| self.join(rel)),
            },
            // RESOLVE_BENEATH says EXDEV for a path that would leave, and rename for another
            // filesystem: a symlink only when there is one.
            Some(libc::EXDEV) => match self.first_symlink(rel) {
                Some(path) => Error::SymlinkInRoot { path },
                None => Error::io(op, self.join(rel), e),
            },
            _ => Error::io(op, self.join(rel), e),
        }
    }

    /// The first component of `rel` that is a symlink (each prefix is looked at with
    /// lstat semantics after its parents proved not to be links).
    fn first_symlink(&self, rel: &str) -> Option<PathBuf> {
        let mut prefix = String::new();
        for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            match rustix::fs::statat(&self.fd, prefix.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if kind_of(&st) == Kind::Symlink => return Some(self.join(&prefix)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        None
    }
}

fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl Dir {
    /// Opens a directory given by the user (the root itself): symlinks in this path are the
    /// operator's choice and are followed; nothing beneath it ever is.
    pub fn open_path(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Wraps a directory handle opened elsewhere; `path` is for messages.
    pub fn from_fd(fd: OwnedFd, path: PathBuf) -> Dir {
        Dir { fd, path }
    }

    /// The path this directory was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path()/rel`, for messages and for handing a path to another program.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// A second handle on the same directory.
    pub fn try_clone(&self) -> Result<Dir> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io("duplicate handle of", &self.path, e))?;
        Ok(Dir {
            fd,
            path: self.path.clone(),
        })
    }

    /// Opens `rel` beneath this directory with `flags`, never through a symlink.
    /// (Retries EAGAIN like [`openat2_retrying`].)
    pub fn open_beneath(&self, rel: &str, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
        // RESOLVE_NO_SYMLINKS covers the last component too (ELOOP); O_NOFOLLOW would turn a
        // symlink there into ENOTDIR when O_DIRECTORY is asked for.
        let flags = flags | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(mode);
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match rustix::fs::openat2(
                &self.fd,
                rel,
                flags,
                mode,
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            ) {
                Ok(fd) => return Ok(fd),
                Err(rustix::io::Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                // Interrupted by a concurrent rename somewhere in the filesystem: retry.
                Err(rustix::io::Errno::AGAIN) => return self.open_beneath(rel, flags, mode.bits()),
                Err(e) => return Err(e.into()),
            }
        }
        self.open_by_components(rel, flags | OFlags::NOFOLLOW, mode)
    }

    /// The fallback for kernels before 5.6: walk one `O_NOFOLLOW` component at a time.
    fn open_by_components(&self, rel: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let parts: Vec<&str> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if parts.contains(&"..") || rel.starts_with('/') {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let Some((last, parents)) = parts.split_last() else {
            return Ok(rustix::fs::openat(&self.fd, ".", flags, mode)?);
        };
        let mut cur: Option<OwnedFd> = None;
        for p in parents {
            let base = cur.as_ref().map(|f| f.as_fd()).unwrap_or(self.fd.as_fd());
            let next = rustix::fs::openat(
                base,
                *p,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            cur = Some(next);
        }
        let base = cur.as_ref().map(|f| f.as_fd()).unwrap_or(self.fd.as_fd());
        Ok(rustix::fs::openat(base, *last, flags, mode)?)
    }

    /// Opens the directory `rel` beneath this one; a symlink on the way is an error.
    pub fn open_dir(&self, rel: &str) -> Result<Dir> {
        self.open_dir_opt(rel)?.ok_or_else(|| {
            Error::io(
                "open directory",
                self.join(rel),
                io::Error::from(io::ErrorKind::NotFound),
            )
        })
    }

    /// As [`Dir::open_dir`], with `None` when it does not exist.
    pub fn open_dir_opt(&self, rel: &str) -> Result<Option<Dir>> {
        match self.open_beneath(rel, OFlags::RDONLY | OFlags::DIRECTORY, 0) {
            Ok(fd) => Ok(Some(Dir {
                fd,
                path: self.join(rel),
            })),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                let path = self.join(rel);
                match self.stat(rel) {
                    Ok(Some(st)) if kind_of(&st) == Kind::Symlink => Err(Error::SymlinkInRoot {
                        path: self.first_symlink(rel).unwrap_or(path),
                    }),
                    _ => Err(Error::NotADirectoryInRoot { path }),
                }
            }
            Err(e) => Err(self.lookup_error("open directory", rel, e)),
        }
    }

    /// The parent directory of `rel` (opened beneath this one, or this one itself for a
    /// single component: no handle is duplicated for the common case) and the last
    /// component.
    pub(super) fn split<'a>(&self, rel: &'a str) -> Result<(Parent<'_>, &'a str)> {
        let rel = rel.trim_end_matches('/');
        match rel.rsplit_once('/') {
            Some((parent, name)) => Ok((Parent::Opened(self.open_dir(parent)?), name)),
            None => Ok((Parent::This(self), rel)),
        }
    }

    /// The entries of this directory, sorted by name (types never follow symlinks).
    pub fn entries(&self) -> Result<Vec<DirEntry>> {
        let err = |e: rustix::io::Errno| Error::io("read directory", &self.path, e.into());
        let mut d = rustix::fs::Dir::read_from(&self.fd).map_err(err)?;
        let mut out = Vec::new();
        while let Some(ent) = d.read() {
            let ent = ent.map_err(err)?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name).to_os_string();
            let kind = match ent.file_type() {
                rustix::fs::FileType::Directory => Kind::Dir,
                rustix::fs::FileType::RegularFile => Kind::File,
                rustix::fs::FileType::Symlink => Kind::Symlink,
                rustix::fs::FileType::Unknown => match self.stat_os(&name)? {
                    Some(st) => kind_of(&st),
                    None => continue,
                },
                _ => Kind::Other,
            };
            out.push(DirEntry { name, kind });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The entries of the directory `rel`, or none when it does not exist.
    pub fn entries_of(&self, rel: &str) -> Result<Vec<DirEntry>> {
        match self.open_dir_opt(rel)? {
            Some(d) => d.entries(),
            None => Ok(vec![]),
        }
    }

    fn stat_os(&self, name: &OsStr) -> Result<Option<Stat>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io("stat", self.join(name), e.into())),
        }
    }

    /// Metadata of `rel` itself (a symlink is not followed), `None` when missing.
    pub fn stat(&self, rel: &str) -> Result<Option<Stat>> {
        if rel.is_empty() || rel == "." {
            return rustix::fs::fstat(&self.fd)
                .map(Some)
                .map_err(|e| Error::io("stat", &self.path, e.into()));
        }
        let (parent, name) = match self.split(rel) {
            Ok(x) => x,
            Err(Error::Io { source, .. }) if not_found(&source) => return Ok(None),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&parent.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(self.lookup_error("stat", rel, e.into())),
        }
    }

    /// Metadata of this directory.
    pub fn stat_self(&self) -> Result<Stat> {
        rustix::fs::fstat(&self.fd).map_err(|e| Error::io("stat", &self.path, e.into()))
    }

    /// Opens the regular file `rel` for reading; `None` when missing. A symlink, a fifo or a
    /// device there is an error (opened non-blocking, so a fifo cannot hang berth).
    pub fn open_file(&self, rel: &str) -> Result<Option<File>> {
        let fd = match self.open_beneath(rel, OFlags::RDONLY | OFlags::NONBLOCK, 0) {
            Ok(fd) => fd,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(self.lookup_error("open", rel, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", self.join(rel), e.into()))?;
        if kind_of(&st) != Kind::File {
            return Err(Error::NotARegularFile {
                path: self.join(rel),
            });
        }
        Ok(Some(File::from(fd)))
    }

    /// Reads the regular file `rel` whole, refusing one larger than `max` bytes; `None` when
    /// missing.
    pub fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        use std::io::Read;
        let Some(f) = self.open_file(rel)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::io("read", self.join(rel), e))?;
        if out.len() as u64 > max {
            return Err(Error::FileTooLarge {
                path: self.join(rel),
                limit: max,
            });
        }
        Ok(Some(out))
    }

    /// Reads a small text file of berth's own (metadata, TOML), `None` when missing.
    pub fn read_text(&self, rel: &str) -> Result<Option<String>> {
        match self.read(rel, MAX_METADATA)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b).map(Some).map_err(|_| {
                Error::io(
                    "read",
                    self.join(rel),
                    io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8"),
                )
            }),
        }
    }

    /// Where `rel` points, `None` when missing. Not a symlink: an error.
    pub fn read_link(&self, rel: &str) -> Result<Option<PathBuf>> {
        let (parent, name) = match self.split(rel) {
            Ok(x) => x,
            Err(Error::Io { source, .. }) if not_found(&source) => return Ok(None),
            Err(e) => return Err(e),
        };
        match rustix::fs::readlinkat(&parent.fd, name, Vec::new()) {
            Ok(t) => Ok(Some(PathBuf::from(OsStr::from_bytes(t.as_bytes())))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io("read link", self.join(rel), e.into())),
        }
    }

    /// An `O_PATH` handle on what `rel` ends at, following symlinks only as long as they
    /// stay beneath this directory (`None` when it does not resolve there).
    pub fn open_path_beneath(&self, rel: &str) -> Option<OwnedFd> {
        openat2_retrying(
            &self.fd,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()
    }

    /// Opens what `rel` ends at for reading, following symlinks only as long as they stay
    /// beneath this directory (a package's own links): `None` when it does not resolve
    /// there or is neither a regular file (`want_dir` false) nor a directory (true).
    pub fn open_following_beneath(&self, rel: &str, want_dir: bool) -> Option<OwnedFd> {
        let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        if want_dir {
            flags |= OFlags::DIRECTORY;
        }
        let fd = openat2_retrying(
            &self.fd,
            rel,
            flags,
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?;
        let st = rustix::fs::fstat(&fd).ok()?;
        let want = if want_dir { Kind::Dir } else { Kind::File };
        (kind_of(&st) == want).then_some(fd)
    }

    /// What `rel` ends at, following symlinks only as long as they stay beneath this
    /// directory (`None` when it does not resolve there).
    pub fn stat_beneath(&self, rel: &str) -> Option<Stat> {
        rustix::fs::fstat(self.open_path_beneath(rel)?).ok()
    }

    /// Whether `rel` ends, following symlinks that stay beneath this directory, at an
    /// executable regular file (what a command of a package is).
    pub fn is_executable_beneath(&self, rel: &str) -> bool {
        self.stat_beneath(rel)
            .is_some_and(|st| kind_of(&st) == Kind::File && st.st_mode & 0o111 != 0)
    }

    /// Whether `rel` ends at an executable regular file when this directory is taken as
    /// `/` (absolute symlinks resolve inside it, as a native package's do in its isolated
    /// view). Nothing outside the directory is reached.
    pub fn is_executable_in_root(&self, rel: &str) -> bool {
        openat2_retrying(
            &self.fd,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()
        .and_then(|fd| rustix::fs::fstat(fd).ok())
        .is_some_and(|st| kind_of(&st) == Kind::File && st.st_mode & 0o111 != 0)
    }

    /// Whether resolving `rel` beneath this directory meets a symlink that leads out of it
    /// (an absolute target, which only a native package's entry holds): the path exists
    /// as far as berth may look, and what lies beyond is not berth's to follow.
    pub fn leads_out_beneath(&self, rel: &str) -> bool {
        matches!(
            openat2_retrying(
                &self.fd,
                rel,
                OFlags::PATH | OFlags::CLOEXEC,
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ),
            Err(rustix::io::Errno::XDEV)
        )
    }

    /// The raw handle, for calls this type does not wrap.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The largest metadata file berth reads whole (manifests, file lists, generation records).
pub const MAX_METADATA: u64 = 256 << 20;

/// `openat2` that retries EAGAIN: with RESOLVE_BENEATH, a path that climbs with `..` (a
/// generation's links into the store do) fails with EAGAIN whenever any rename or mount
/// happened anywhere on the system during the lookup. Under load that is often; it says
/// nothing about the path, so a bounded number of retries is right.
fn openat2_retrying(
    fd: &OwnedFd,
    rel: &str,
    flags: OFlags,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(fd, rel, flags, Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < 10_000 => tries += 1,
            other => return other,
        }
    }
}
