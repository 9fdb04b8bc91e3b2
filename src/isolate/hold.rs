//! Holds on store entries used by running isolated processes, so that gc never deletes a
//! release out from under a service (Flatpak's lesson). A hold is `<root>/run/<pid>`, a
//! small TOML file naming the entries, with a shared `flock` on a read-only, close-on-exec
//! descriptor that berth keeps as the instance's supervisor: berth lives exactly as long as
//! anything runs in the instance (its PID namespace's init waits for the last process), so
//! the hold does too, and the service never has the descriptor (it cannot unlock, rewrite
//! or read it). gc treats held entries as roots and reports them deferred; hold files whose
//! lock can be taken, and whose process is gone, are stale and removed by the next
//! mutation. Holds are runtime state: written whole (by rename) but not fsynced.
//!
//! `run/profiles/<profile>/{tmp,run}` are the private /tmp and /run of a profile's isolated
//! processes: shared by all of them, never by two profiles (`PrivateTmp=` per profile).

use super::RUN;
use crate::error::{Error, Result};
use crate::fsutil::{temp_name, Dir};
use crate::lock::LockedFile;
use crate::problem::Problem;
use crate::root::{Root, DIR_MODE};
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

/// The content of a hold file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRecord {
    /// The berth process supervising the instance (it lives as long as the instance).
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

/// `<root>/run/mnt`: where an isolated process mounts its private mount-point layer (an
/// empty directory on the host, always).
pub fn mount_point_dir(root: &Root) -> PathBuf {
    root.path().join(RUN).join(MNT)
}

/// The mount point's name in `run/`.
const MNT: &str = "mnt";
/// The directory of confined runs of maintainer scripts in `run/` (`upper::Scratch`).
pub(super) const SCRIPTS: &str = "scripts";

/// A hold taken by this process, on a close-on-exec descriptor.
#[derive(Debug)]
pub struct Hold {
    dir: Dir,
    name: String,
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
        let dir = root.dir().ensure_dir(RUN, DIR_MODE)?;
        dir.ensure_dir(MNT, DIR_MODE)?;
        let pid = std::process::id();
        let record = HoldRecord {
            pid,
            start: start_time(pid).unwrap_or(0),
            profile: profile.to_string(),
            generation,
            entries: entries.to_vec(),
        };
        let text = toml::to_string(&record).map_err(|e| Error::Internal {
            what: "hold file",
            detail: e.to_string(),
        })?;
        let name = pid.to_string();
        // Not fsynced, on purpose: a hold only matters while its process runs, and no
        // process survives a crash. It still appears by rename, whole and already locked.
        let tmp = temp_name(&name);
        let written = (|| -> Result<File> {
            let mut f = dir
                .create_file(&tmp, 0o644)
                .map_err(|e| Error::io("create", dir.join(&tmp), e))?;
            rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(0o644))
                .map_err(|e| Error::io("chmod", dir.join(&tmp), e.into()))?;
            std::io::Write::write_all(&mut f, text.as_bytes())
                .map_err(|e| Error::io("write", dir.join(&tmp), e))?;
            rustix::fs::flock(&f, FlockOperation::NonBlockingLockShared)
                .map_err(|e| Error::io("lock", dir.join(&tmp), e.into()))?;
            dir.rename(&tmp, &dir, &name)?;
            Ok(f)
        })();
        if written.is_err() {
            let _ = dir.remove_file(&tmp);
        }
        let written = written?;
        // The lock stays on a read-only descriptor (close-on-exec, as every descriptor berth
        // opens): even a leaked copy could not rewrite the record.
        let file = dir.open_file(&name)?.ok_or_else(|| {
            Error::io("open", dir.join(&name), std::io::ErrorKind::NotFound.into())
        })?;
        rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared)
            .map_err(|e| Error::io("lock", dir.join(&name), e.into()))?;
        drop(written);
        Ok(Hold {
            dir,
            name,
            _file: file,
        })
    }

    /// The descriptor holding the lock: the instance's processes close it right after fork.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self._file)
    }

    /// Removes the hold (when the instance has ended, or will not run after all).
    pub fn release(self) {
        let _ = self.dir.remove_file(&self.name);
    }
}

/// Creates (where missing) `run/profiles/<profile>/tmp` (1777) and `run` (0755), owned by
/// `owner` (the root of the profile's id range), and returns their paths.
pub fn private_dirs(
    root: &Root,
    _lock: &LockedFile,
    profile: &str,
    owner: (u32, u32),
) -> Result<(PathBuf, PathBuf)> {
    crate::package::name::check_name("profile name", profile)?;
    let rel = format!("{RUN}/{PROFILES}/{profile}");
    let dir = root.dir().ensure_dir(&rel, DIR_MODE)?;
    for (name, mode) in [("tmp", 0o1777), ("run", DIR_MODE)] {
        if dir.create_dir(name, mode)? {
            dir.chown(name, owner.0, owner.1)?;
        }
    }
    let base = root.path().join(rel);
    Ok((base.join("tmp"), base.join("run")))
}

/// Makes `dirs` (path relative to /run, mode, host owner) in the profile's private /run
/// where missing, as systemd makes `RuntimeDirectory=` before a service starts; missing
/// parents are made 0755 for the range's root. What exists is left as it is.
pub fn runtime_dirs(
    root: &Root,
    _lock: &LockedFile,
    profile: &str,
    dirs: &[(String, u32, (u32, u32))],
) -> Result<()> {
    crate::package::name::check_name("profile name", profile)?;
    let Some(run) = root
        .dir()
        .open_dir_opt(&format!("{RUN}/{PROFILES}/{profile}/run"))?
    else {
        return Ok(());
    };
    for (path, mode, (uid, gid)) in dirs {
        crate::package::unit::check_relative(path).map_err(|why| Error::Internal {
            what: "runtime directory",
            detail: format!("{path} {why}"),
        })?;
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (run.ensure_dir(p, DIR_MODE)?, n),
            None => (run.try_clone()?, path.as_str()),
        };
        if parent.create_dir(name, DIR_MODE)? {
            parent.chown(name, *uid, *gid)?;
            parent
                .chmod(name, *mode)
                .map_err(|e| Error::io("chmod", parent.join(name), e))?;
            tracing::debug!("runtime directory /run/{path} made ({mode:o}, {uid}:{gid})");
        }
    }
    Ok(())
}

/// Writes the view's `passwd` and `group` (`accounts`) into `run/profiles/<profile>/etc`
/// and returns that directory; None when the profile has no records (the host's serve).
pub fn accounts_dir(
    root: &Root,
    _lock: &LockedFile,
    profile: &str,
    accounts: &super::accounts::Accounts,
) -> Result<Option<PathBuf>> {
    if accounts.is_empty() {
        return Ok(None);
    }
    crate::package::name::check_name("profile name", profile)?;
    let rel = format!("{RUN}/{PROFILES}/{profile}/etc");
    let dir = root.dir().ensure_dir(&rel, DIR_MODE)?;
    accounts.write_files(&dir)?;
    Ok(Some(root.path().join(rel)))
}

/// The directory of the profiles' private /tmp and /run in `run/`.
const PROFILES: &str = "profiles";

/// Start time of a process (clock ticks since boot), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a hold file's process still runs: its lock is held, or (should the service
/// have closed the descriptor) its pid is alive with the recorded start time.
fn is_live(dir: &Dir, name: &str, record: Option<&HoldRecord>) -> Result<bool> {
    let Some(file) = dir.open_file(name)? else {
        return Ok(false);
    };
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Err(rustix::io::Errno::WOULDBLOCK) => return Ok(true),
        Err(e) => return Err(Error::io("lock", dir.join(name), e.into())),
        Ok(()) => {}
    }
    Ok(record.is_some_and(|r| r.start != 0 && start_time(r.pid) == Some(r.start)))
}

/// Every hold file (numeric names) with its record (None when unreadable).
fn hold_files(dir: &Dir) -> Result<Vec<(String, Option<HoldRecord>)>> {
    let mut out = Vec::new();
    for ent in dir.entries()? {
        let Some(name) = ent.name_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let record = dir
            .read_text(name)
            .ok()
            .flatten()
            .and_then(|t| toml::from_str::<HoldRecord>(&t).ok());
        out.push((name.to_string(), record));
    }
    Ok(out)
}

/// Entries held by running isolated processes: entry directory name -> pids. Needs no lock.
pub fn held(root: &Root) -> Result<BTreeMap<String, Vec<u32>>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let Some(dir) = root.dir().open_dir_opt(RUN)? else {
        return Ok(out);
    };
    for (name, record) in hold_files(&dir)? {
        if !is_live(&dir, &name, record.as_ref())? {
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
                dir.join(&name).display()
            ),
        }
    }
    Ok(out)
}

/// Removes stale hold files and temporary files of interrupted hold writes. Under the
/// root's lock, so no hold is half-made. Returns how many files went.
pub fn clean_stale(root: &Root, _lock: &LockedFile) -> Result<usize> {
    let mut n = 0;
    let Some(dir) = root.dir().open_dir_opt(RUN)? else {
        return Ok(0);
    };
    for (name, record) in hold_files(&dir)? {
        if !is_live(&dir, &name, record.as_ref())? {
            dir.remove_file(&name)?;
            n += 1;
        }
    }
    for ent in dir.entries()? {
        let name = ent.name.to_string_lossy();
        if crate::fsutil::is_temp(&name) {
            dir.remove_file(&name)?;
            n += 1;
        }
    }
    Ok(n)
}

/// What this module leaves in `run/`, checked (under the root's lock, so no hold is half
/// made): a hold whose process has ended and a temporary file of an interrupted hold
/// write are leftovers ([`clean_stale`] repairs them); anything else but `mnt/` and the
/// profiles' private directories (`profiles/`) is stray.
pub fn check(root: &Root, _lock: &LockedFile) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    let Some(dir) = root.dir().open_dir_opt(RUN)? else {
        return Ok(out);
    };
    let holds = hold_files(&dir)?;
    for ent in dir.entries()? {
        let name = ent.name.to_string_lossy().into_owned();
        let path = root.path().join(RUN).join(&name);
        if crate::fsutil::is_temp(&name) {
            out.push(Problem::leftover(path, "temporary hold file"));
        } else if let Some((_, record)) = holds.iter().find(|(n, _)| *n == name) {
            if !is_live(&dir, &name, record.as_ref())? {
                out.push(Problem::leftover(path, "hold of a process that has ended"));
            }
        } else if name == SCRIPTS && ent.kind == crate::fsutil::Kind::Dir {
            // Confined runs happen under the root's lock, which this check holds: what is
            // left in run/scripts/ is an interrupted run's.
            for e in dir.open_dir(SCRIPTS)?.entries()? {
                out.push(Problem::leftover(
                    path.join(&e.name),
                    "directories of an interrupted run of maintainer scripts",
                ));
            }
        } else if !(name == MNT || name == PROFILES) || ent.kind != crate::fsutil::Kind::Dir {
            out.push(Problem::stray(path, "file in run/"));
        }
    }
    Ok(out)
}

/// Repairs what [`check`] reported as leftovers in `run/`; returns the paths that went.
pub fn repair(root: &Root, lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
    let run = root.path().join(RUN);
    let scripts = run.join(SCRIPTS);
    let mut gone = Vec::new();
    for p in problems
        .iter()
        .filter(|p| p.repairable && p.path.parent() == Some(scripts.as_path()))
    {
        if let (Some(name), Some(d)) = (
            p.path.file_name().and_then(|n| n.to_str()),
            root.dir().open_dir_opt(&format!("{RUN}/{SCRIPTS}"))?,
        ) {
            crate::fsutil::remove_tree(&d, name)?;
            gone.push(p.path.clone());
        }
    }
    let mine: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.repairable && p.path.parent() == Some(run.as_path()))
        .collect();
    if mine.is_empty() {
        return Ok(gone);
    }
    clean_stale(root, lock)?;
    let Some(dir) = root.dir().open_dir_opt(RUN)? else {
        gone.extend(mine.into_iter().map(|p| p.path.clone()));
        return Ok(gone);
    };
    for p in mine {
        let name = p.path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| matches!(dir.stat(&n), Ok(None))) {
            gone.push(p.path.clone());
        }
    }
    Ok(gone)
}
