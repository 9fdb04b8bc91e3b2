//! The root's lock: one `flock` on `<root>/.lock` taken by every mutation. The holder writes
//! its pid and command line into the file so that waiters can say whom they wait for.

use crate::error::{Error, IoContext, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An exclusive lock on a root, released when dropped.
#[derive(Debug)]
pub struct LockedFile {
    _lock: Flock<File>,
    path: PathBuf,
}

impl LockedFile {
    /// Takes the lock, waiting at most `timeout` (forever when `None`). While it waits it
    /// says once, on stderr, which process holds the lock.
    pub fn acquire(path: &Path, timeout: Option<Duration>) -> Result<LockedFile> {
        if let Some(dir) = path.parent() {
            crate::fsutil::create_dir_all(dir)?;
        }
        let start = Instant::now();
        let mut told = false;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .ctx("open lock", path)?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut lock) => {
                    let me = format!("{} {}\n", std::process::id(), command_line());
                    // Best effort: the note is for humans, the flock is what counts.
                    let _ = lock.set_len(0);
                    let _ = lock.rewind();
                    let _ = lock.write_all(me.as_bytes());
                    return Ok(LockedFile {
                        _lock: lock,
                        path: path.to_path_buf(),
                    });
                }
                Err((_, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                    let holder = holder(path);
                    if let Some(t) = timeout {
                        if start.elapsed() >= t {
                            return Err(Error::LockTimeout {
                                path: path.to_path_buf(),
                                holder,
                                secs: t.as_secs(),
                            });
                        }
                    }
                    if !told {
                        eprintln!(
                            "waiting for the lock on {} (held by {holder})",
                            path.display()
                        );
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, errno)) => {
                    return Err(Error::io("lock", path, std::io::Error::from(errno)));
                }
            }
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// "pid N (command)" of the current holder, as far as the lock file tells.
fn holder(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let s = s.trim();
    match s.split_once(' ') {
        Some((pid, cmd)) => format!("pid {pid}: {cmd}"),
        None if !s.is_empty() => format!("pid {s}"),
        None => "another process".to_string(),
    }
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}
