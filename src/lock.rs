//! The root's lock: one `flock` on `<root>/.lock` taken by every mutation. The holder writes
//! its pid and command line into the file so that waiters can say whom they wait for, and
//! clears it when it lets go, so a waiter never blames a command that ended long ago.
//!
//! The file is 0600: flock works on any open descriptor, even a read-only one, so a lock
//! file others could open would let any local user stall every berth command on the root.

use crate::error::{Error, Result};
use crate::fsutil::Dir;
use rustix::fs::{FlockOperation, OFlags};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether the waiting line is left out (`-q`).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Leaves out the line a waiter prints (`-q`); the wait itself is unchanged. The line only
/// ever goes to stderr: a service started by `berth run` owns stdout.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// The lock file's name in the root.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a root, released (and its holder note cleared) when dropped.
#[derive(Debug)]
pub struct LockedFile {
    file: File,
    path: PathBuf,
    timeout: Option<Duration>,
}

impl LockedFile {
    /// Takes the lock of the root `dir`, waiting at most `timeout` (forever when `None`).
    /// While it waits it says once, on stderr, which process holds the lock.
    pub fn acquire(dir: &Dir, timeout: Option<Duration>) -> Result<LockedFile> {
        let path = dir.join(LOCK_FILE);
        let fd = dir
            .open_beneath(LOCK_FILE, OFlags::RDWR | OFlags::CREATE, 0o600)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::SymlinkInRoot { path: path.clone() },
                _ => Error::io("open lock", &path, e),
            })?;
        let mut file = File::from(fd);
        // An older berth made it 0644; tighten it.
        let _ = rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(0o600));
        wait(&mut file, &path, timeout)?;
        Ok(LockedFile {
            file,
            path,
            timeout,
        })
    }

    /// Lets go of the lock while `f` runs, then takes it again (waiting as [`acquire`]
    /// does, with the same timeout). For what must not hold the lock: a service restart or
    /// health check after a switch may itself run berth (`run --isolate` takes the lock to
    /// prepare its mounts). Whatever the caller read under the lock may have changed when
    /// this returns.
    ///
    /// [`acquire`]: LockedFile::acquire
    pub fn released_while<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        let _ = self.file.set_len(0);
        rustix::fs::flock(&self.file, FlockOperation::Unlock)
            .map_err(|e| Error::io("unlock", &self.path, e.into()))?;
        let r = f();
        let mut file = self
            .file
            .try_clone()
            .map_err(|e| Error::io("lock", &self.path, e))?;
        wait(&mut file, &self.path, self.timeout)?;
        Ok(r)
    }
}

/// Takes the flock on `file`, waiting at most `timeout`, and writes the holder note.
fn wait(file: &mut File, path: &std::path::Path, timeout: Option<Duration>) -> Result<()> {
    let start = Instant::now();
    let mut told = false;
    loop {
        match rustix::fs::flock(&*file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let me = format!("{} {}\n", std::process::id(), command_line());
                // Best effort: the note is for humans, the flock is what counts.
                let _ = file.set_len(0);
                let _ = file.rewind();
                let _ = file.write_all(me.as_bytes());
                return Ok(());
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let holder = holder(file);
                if let Some(t) = timeout {
                    if start.elapsed() >= t {
                        return Err(Error::LockTimeout {
                            path: path.to_path_buf(),
                            holder,
                            secs: t.as_secs(),
                        });
                    }
                }
                if !told && !QUIET.load(Ordering::Relaxed) {
                    eprintln!(
                        "waiting for the lock on {} (held by {holder})",
                        path.display()
                    );
                }
                told = true;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(Error::io("lock", path, e.into())),
        }
    }
}

impl Drop for LockedFile {
    fn drop(&mut self) {
        // Clear the note while still holding the lock; closing the file releases it.
        let _ = self.file.set_len(0);
    }
}

/// "pid N: command" of the current holder, as far as the lock file tells.
fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind();
    let _ = file.take(4096).read_to_string(&mut s);
    let s: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    match s.split_once(' ') {
        Some((pid, cmd)) => format!("pid {pid}: {cmd}"),
        None if !s.is_empty() => format!("pid {s}"),
        None => "another process".to_string(),
    }
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// For messages: the lock file of a root at `root`.
pub fn lock_path(root: &std::path::Path) -> PathBuf {
    root.join(LOCK_FILE)
}
