//! Holds on store entries used by running isolated processes, so that gc never deletes a
//! release out from under a service (Flatpak's lesson). A hold is `<root>/run/<pid>`, a
//! small TOML file naming the entries, with a shared `flock` on a descriptor that is
//! inherited across `exec`: the hold lasts exactly as long as the process (and any child
//! that keeps the descriptor). gc treats held entries as roots and reports them deferred;
//! hold files whose lock can be taken, and whose process is gone, are stale and removed by
//! the next mutation. Holds are runtime state: written whole (by rename) but not fsynced.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::root::Root;
use crate::store::LockedFile;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The content of a hold file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRecord {
    /// The isolated process (berth `exec`s into it, so the pid stays).
    pub pid: u32,
    /// Its start time in clock ticks since boot (/proc/PID/stat field 22), so that a reused
    /// pid is not taken for the holder.
    pub start: u64,
    /// The profile it runs.
    pub profile: String,
    /// The generation it runs.
    pub generation: u64,
    /// Store entry directory names it uses.
    pub entries: Vec<String>,
}

/// `<root>/run`: hold files, and the empty mount point of the namespace's mount-point layer.
pub fn run_dir(root: &Root) -> PathBuf {
    root.path().join("run")
}

/// `<root>/run/mnt`: where an isolated process mounts its private mount-point layer (an
/// empty directory on the host, always).
pub fn mount_point_dir(root: &Root) -> PathBuf {
    run_dir(root).join("mnt")
}

/// A hold taken by this process; its descriptor survives `exec`.
#[derive(Debug)]
pub struct Hold {
    path: PathBuf,
    _file: File,
}

impl Hold {
    /// Writes `<root>/run/<pid>` under the root's lock and takes its shared lock before it
    /// becomes visible, so gc never sees it unlocked. Also creates `run/mnt`.
    pub fn create(
        root: &Root,
        _lock: &LockedFile,
        profile: &str,
        generation: u64,
        entries: &[String],
    ) -> Result<Hold> {
        let dir = run_dir(root);
        make_dir(&dir)?;
        make_dir(&mount_point_dir(root))?;
        let pid = std::process::id();
        let record = HoldRecord {
            pid,
            start: start_time(pid).unwrap_or(0),
            profile: profile.to_string(),
            generation,
            entries: entries.to_vec(),
        };
        let text = toml::to_string(&record).map_err(|e| Error::Other {
            message: format!("cannot encode hold file: {e}"),
            hint: "this is a bug in berth".into(),
        })?;
        let path = dir.join(pid.to_string());
        // Not fsynced, on purpose: a hold only matters while its process runs, and no
        // process survives a crash. It still appears by rename, whole and already locked.
        let tmp = fsutil::temp_sibling(&path);
        let written = (|| {
            let mut f = File::create(&tmp).ctx("create", &tmp)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))
                .ctx("chmod", &tmp)?;
            std::io::Write::write_all(&mut f, text.as_bytes()).ctx("write", &tmp)?;
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
                return Err(Error::io("lock", &tmp, std::io::Error::last_os_error()));
            }
            std::fs::rename(&tmp, &path).ctx("rename into place", &path)?;
            Ok(f)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let file = written?;
        // Inherited across exec on purpose: the service itself keeps the hold.
        nix::fcntl::fcntl(
            file.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .ctx("clear close-on-exec", &path)?;
        Ok(Hold { path, _file: file })
    }

    /// Removes the hold (when the process will not run after all).
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn make_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .ctx("chmod", dir)?;
            if let Some(parent) = dir.parent() {
                fsutil::fsync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("create directory", dir, e)),
    }
}

/// Start time of a process (clock ticks since boot), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a hold file's process still runs: its lock is held, or (should the service
/// have closed the descriptor) its pid is alive with the recorded start time.
fn is_live(path: &Path, record: Option<&HoldRecord>) -> Result<bool> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(true),
        Err((_, e)) => return Err(Error::io("lock", path, e.into())),
        Ok(_probe) => {}
    }
    Ok(record.is_some_and(|r| r.start != 0 && start_time(r.pid) == Some(r.start)))
}

/// Every hold file (numeric names) with its record (None when unreadable).
fn hold_files(root: &Root) -> Result<Vec<(PathBuf, Option<HoldRecord>)>> {
    let mut out = Vec::new();
    for path in fsutil::children(&run_dir(root))? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let record = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| toml::from_str::<HoldRecord>(&t).ok());
        out.push((path, record));
    }
    Ok(out)
}

/// Entries held by running isolated processes: entry directory name -> pids. Needs no lock.
pub fn held(root: &Root) -> Result<BTreeMap<String, Vec<u32>>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (path, record) in hold_files(root)? {
        if !is_live(&path, record.as_ref())? {
            continue;
        }
        match record {
            Some(r) => {
                for e in r.entries {
                    out.entry(e).or_default().push(r.pid);
                }
            }
            None => tracing::warn!(
                "{} is held by a running process but cannot be read; its entries are not known",
                path.display()
            ),
        }
    }
    Ok(out)
}

/// Removes stale hold files and temporary files of interrupted hold writes. Under the
/// root's lock, so no hold is half-made. Returns how many files went.
pub fn clean_stale(root: &Root, _lock: &LockedFile) -> Result<usize> {
    let mut n = 0;
    for (path, record) in hold_files(root)? {
        if !is_live(&path, record.as_ref())? {
            std::fs::remove_file(&path).ctx("remove", &path)?;
            n += 1;
        }
    }
    for path in fsutil::children(&run_dir(root))? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') && name.contains(".tmp.") {
            std::fs::remove_file(&path).ctx("remove", &path)?;
            n += 1;
        }
    }
    Ok(n)
}
