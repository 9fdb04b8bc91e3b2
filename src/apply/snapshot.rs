//! Data snapshots: before a switch of a profile whose profile file says `[backup]
//! before_switch = true`, `<root>/var/<profile>/` (everything but `.snapshots/`) is copied
//! to `<root>/var/<profile>/.snapshots/<from-generation>/`, so `rollback --with-data` can
//! put the data back that went with that generation (databases are not rolled back by
//! switching code). Copies, not hard links: a service rewriting a file in place would
//! change a hard-linked snapshot too. Each file is cloned (FICLONE: shared blocks, copy on
//! write) where the filesystem can, else copied; modes (without setuid/setgid), owners
//! (as root) and mtimes are kept, symlinks stay links and are never followed. A snapshot
//! is built under a temporary name and renamed into place; the newest `keep` are kept,
//! older ones are removed right after each new one (so gc has nothing to do here).

use super::deploy_error::Error as DeployError;
use crate::error::{Error, Result};
use crate::fsutil::{is_temp, temp_name, Dir, Kind};
use crate::lock::LockedFile;
use crate::root::{Root, VAR};
use std::path::PathBuf;
use std::time::SystemTime;

/// The directory of snapshots inside `<root>/var/<profile>/`.
pub const SNAPSHOTS: &str = ".snapshots";

/// How files were put into a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// FICLONE: the snapshot shares blocks with the data until either is written.
    Reflink,
    /// Byte copies (the filesystem cannot clone, or there were no files).
    Copy,
}

/// A snapshot that was taken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Taken {
    /// The generation it belongs to.
    pub generation: u64,
    /// Where it is.
    pub path: PathBuf,
    /// How its files were made.
    pub method: Method,
    /// Files in it.
    pub files: u64,
    /// Older snapshots removed to keep the newest `keep`.
    pub pruned: Vec<u64>,
}

/// `var/<profile>` beneath the root, if it exists.
fn data_dir(root: &Root, profile: &str) -> Result<Option<Dir>> {
    crate::package::name::check_name("profile name", profile)?;
    root.dir().open_dir_opt(&format!("{VAR}/{profile}"))
}

/// The generations that have a snapshot, newest snapshot first.
pub fn list(root: &Root, profile: &str) -> Result<Vec<u64>> {
    let Some(data) = data_dir(root, profile)? else {
        return Ok(vec![]);
    };
    let Some(snaps) = data.open_dir_opt(SNAPSHOTS)? else {
        return Ok(vec![]);
    };
    let mut out: Vec<(SystemTime, u64)> = Vec::new();
    for e in snaps.entries()? {
        let Some(n) = e
            .name_str()
            .filter(|_| e.kind == Kind::Dir)
            .and_then(crate::profile::generation::parse_number)
        else {
            continue;
        };
        let mtime = snaps
            .stat(&n.to_string())?
            .map(|st| {
                SystemTime::UNIX_EPOCH
                    + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec as u32)
            })
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push((mtime, n));
    }
    out.sort_by(|a, b| b.cmp(a));
    Ok(out.into_iter().map(|(_, n)| n).collect())
}

/// Snapshots `var/<profile>/` as belonging to `generation` (replacing an older snapshot of
/// the same generation), then keeps only the newest `keep`. `None` when the profile has
/// no data directory.
pub fn take(
    root: &Root,
    lock: &LockedFile,
    profile: &str,
    generation: u64,
    keep: u32,
) -> Result<Option<Taken>> {
    let Some(data) = data_dir(root, profile)? else {
        tracing::info!("{profile} has no {VAR}/{profile}/ yet: no data snapshot");
        return Ok(None);
    };
    clean_data_dir(&data, lock)?;
    let snaps = data.ensure_dir(SNAPSHOTS, 0o700)?;
    let name = generation.to_string();
    let tmp = temp_name(&name);
    let mut copier = Copier::new();
    let built = (|| {
        snaps.create_dir(&tmp, 0o700)?;
        let dst = snaps.open_dir(&tmp)?;
        copier.copy_children(&data, &dst, true)?;
        let st = data.stat_self()?;
        dst.chmod(".", st.st_mode & 0o1777)
            .map_err(|e| Error::io("chmod", dst.path(), e))?;
        copier.own(&dst, ".", &st)?;
        dst.syncfs()?;
        put_in_place(&snaps, &tmp, &name)
    })();
    if built.is_err() {
        let _ = crate::fsutil::remove_tree(&snaps, &tmp);
    }
    built?;
    snaps.fsync()?;
    let method = copier.method();
    tracing::info!(
        "data snapshot {} ({} files, {})",
        snaps.join(&name).display(),
        copier.files,
        if method == Method::Reflink {
            "reflinks"
        } else {
            "copied"
        }
    );
    let mut pruned = Vec::new();
    for old in list(root, profile)?.into_iter().skip(keep.max(1) as usize) {
        if old != generation {
            remove_snapshot(&snaps, old)?;
            pruned.push(old);
        }
    }
    if !pruned.is_empty() {
        tracing::info!("data snapshots removed (keep {keep}): {pruned:?}");
    }
    Ok(Some(Taken {
        generation,
        path: snaps.join(&name),
        method,
        files: copier.files,
        pruned,
    }))
}

/// Errors unless `generation` of `profile` has a snapshot.
pub fn require(root: &Root, profile: &str, generation: u64) -> Result<()> {
    let existing = list(root, profile)?;
    if existing.contains(&generation) {
        return Ok(());
    }
    let mut existing = existing;
    existing.sort_unstable();
    Err(DeployError::NoSnapshot {
        profile: profile.to_string(),
        generation,
        dir: root.path().join(VAR).join(profile).join(SNAPSHOTS),
        existing,
    }
    .into())
}

/// Puts the snapshot of `generation` back as `var/<profile>/`'s content (everything but
/// `.snapshots/`); the snapshot itself stays. The caller saves the current data first.
///
/// Three directories beside the data carry the state, so that [`clean_leftovers`] can undo
/// a restore killed at any instant: the copy of the snapshot is built as `.restore.tmp.…`,
/// the current data is moved into `.replaced.tmp.…`, then the copy is renamed
/// `.restoring.tmp.…` (from here on the data directory holds only the copy's entries) and
/// its entries are moved in; the copy's directory goes first, the replaced data last.
pub fn restore(root: &Root, lock: &LockedFile, profile: &str, generation: u64) -> Result<Method> {
    require(root, profile, generation)?;
    let Some(data) = data_dir(root, profile)? else {
        return Err(Error::io(
            "open",
            root.path().join(VAR).join(profile),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    };
    clean_data_dir(&data, lock)?;
    let snap = data.open_dir(&format!("{SNAPSHOTS}/{generation}"))?;
    // The copy is made beside the data first, so a failure leaves the data as it was.
    let fresh = temp_name(COPYING);
    let mut copier = Copier::new();
    let made = (|| {
        data.create_dir(&fresh, 0o700)?;
        let dst = data.open_dir(&fresh)?;
        copier.copy_children(&snap, &dst, false)?;
        dst.syncfs()
    })();
    if made.is_err() {
        let _ = crate::fsutil::remove_tree(&data, &fresh);
    }
    made?;
    let old = temp_name(REPLACED);
    data.create_dir(&old, 0o700)?;
    let old_dir = data.open_dir(&old)?;
    for n in data_names(&data)? {
        data.rename(&n, &old_dir, &n)?;
    }
    old_dir.fsync()?;
    data.fsync()?;
    let moving = temp_name(MOVING_IN);
    data.rename(&fresh, &data, &moving)?;
    data.fsync()?;
    let fresh_dir = data.open_dir(&moving)?;
    for e in fresh_dir.entries()? {
        let Some(n) = e.name_str() else { continue };
        fresh_dir.rename(n, &data, n)?;
    }
    data.fsync()?;
    crate::fsutil::remove_tree(&data, &moving)?;
    crate::fsutil::remove_tree(&data, &old)?;
    tracing::info!(
        "data of {profile} restored from {} ({} files)",
        snap.path().display(),
        copier.files
    );
    Ok(copier.method())
}

/// The stems of restore's temporary directories in `var/<profile>/` (see [`restore`]).
const COPYING: &str = "restore";
const MOVING_IN: &str = "restoring";
const REPLACED: &str = "replaced";

/// The names in the data directory that are the profile's data: all but `.snapshots/` and
/// berth's temporary names (which snapshots and restores leave alone).
fn data_names(data: &Dir) -> Result<Vec<String>> {
    Ok(data
        .entries()?
        .into_iter()
        .filter_map(|e| e.name_str().map(str::to_string))
        .filter(|n| n != SNAPSHOTS && !is_temp(n))
        .collect())
}

/// Removes what a snapshot or restore of `profile` killed midway (SIGKILL, power loss) left
/// in `var/<profile>/`, and undoes such a restore: the data is put back as it was before
/// it. Takes only names berth's own temporary-name scheme made, with restore's stems in
/// the data directory and generation numbers in `.snapshots/`; never the user's files.
/// Returns how many leftovers went. Needs the lock: only its holder snapshots or restores.
pub fn clean_leftovers(root: &Root, lock: &LockedFile, profile: &str) -> Result<usize> {
    match data_dir(root, profile)? {
        Some(data) => clean_data_dir(&data, lock),
        None => Ok(0),
    }
}

fn clean_data_dir(data: &Dir, _lock: &LockedFile) -> Result<usize> {
    let mut gone = 0;
    if let Some(snaps) = data.open_dir_opt(SNAPSHOTS)? {
        for e in snaps.entries()? {
            let Some(n) = e.name_str() else { continue };
            // A half-built snapshot, one replaced by a newer of its generation, or one
            // being pruned: `.<generation>.tmp.<pid>.<n>`.
            if crate::fsutil::temp_stem(n).is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit())) {
                tracing::info!(
                    "removing {}, left by an interrupted snapshot",
                    snaps.join(n).display()
                );
                crate::fsutil::remove_tree(&snaps, n)?;
                gone += 1;
            }
        }
    }
    let named = |stem: &str| -> Result<Vec<String>> {
        Ok(data
            .entries()?
            .into_iter()
            .filter_map(|e| e.name_str().map(str::to_string))
            .filter(|n| crate::fsutil::temp_stem(n) == Some(stem))
            .collect())
    };
    let (mut copies, moving, replaced) = (named(COPYING)?, named(MOVING_IN)?, named(REPLACED)?);
    if copies.is_empty() && moving.is_empty() && replaced.is_empty() {
        return Ok(gone);
    }
    if !moving.is_empty() && replaced.is_empty() {
        // Not a state restore leaves (it removes the copy before the replaced data); with
        // nothing to put back, the data directory is left as it is.
        for m in &moving {
            crate::fsutil::remove_tree(data, m)?;
            gone += 1;
        }
    } else if !moving.is_empty() {
        // Killed while moving the copy in: every data name is a copy (the snapshot still
        // has them); take them out, which is the state before they were moved in.
        for n in data_names(data)? {
            crate::fsutil::remove_tree(data, &n)?;
        }
        data.fsync()?;
        for m in moving {
            let back = temp_name(COPYING);
            data.rename(&m, data, &back)?;
            copies.push(back);
        }
        data.fsync()?;
    }
    let mut kept = Vec::new();
    if !copies.is_empty() {
        // Killed before the copy was moved in: whatever of the data was moved aside goes
        // back; nothing of the copy is in the data directory.
        tracing::warn!(
            "{}: a restore of a data snapshot was interrupted; putting the data back as it was",
            data.path().display()
        );
        for r in &replaced {
            let aside = data.open_dir(r)?;
            for e in aside.entries()? {
                let Some(n) = e.name_str() else { continue };
                if data.stat(n)?.is_some() {
                    // Made again since the kill (a running service): keep both, and the
                    // copy too, so that the next run tries again rather than delete.
                    tracing::warn!(
                        "{} is kept: {} exists too; move the one you want into place by hand",
                        aside.join(n).display(),
                        data.join(n).display()
                    );
                    kept.push(r.clone());
                    continue;
                }
                aside.rename(n, data, n)?;
            }
        }
        data.fsync()?;
        if kept.is_empty() {
            for c in &copies {
                crate::fsutil::remove_tree(data, c)?;
                gone += 1;
            }
        }
    }
    // Without a copy, the restore had finished and was removing the data it replaced.
    for r in replaced.iter().filter(|r| !kept.contains(r)) {
        crate::fsutil::remove_tree(data, r)?;
        gone += 1;
    }
    data.fsync()?;
    Ok(gone)
}

/// Moves the finished snapshot `tmp` to `name`: a rename, or an exchange with an older
/// snapshot of that name (then removed), so at every instant one complete snapshot is there.
fn put_in_place(snaps: &Dir, tmp: &str, name: &str) -> Result<()> {
    match snaps.rename_noreplace(tmp, snaps, name) {
        Ok(()) => Ok(()),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            rustix::fs::renameat_with(
                snaps.fd(),
                tmp,
                snaps.fd(),
                name,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(|e| Error::io("exchange", snaps.join(name), e.into()))?;
            crate::fsutil::remove_tree(snaps, tmp)
        }
        Err(e) => Err(e),
    }
}

fn remove_snapshot(snaps: &Dir, n: u64) -> Result<()> {
    let name = n.to_string();
    let doomed = temp_name(&name);
    snaps.rename(&name, snaps, &doomed)?;
    crate::fsutil::remove_tree(snaps, &doomed)
}

/// Copies trees file by file: a clone where the filesystem allows, else the bytes.
struct Copier {
    clone_works: Option<bool>,
    files: u64,
    as_root: bool,
}

impl Copier {
    fn new() -> Copier {
        Copier {
            clone_works: None,
            files: 0,
            as_root: rustix::process::geteuid().is_root(),
        }
    }

    fn method(&self) -> Method {
        if self.clone_works == Some(true) {
            Method::Reflink
        } else {
            Method::Copy
        }
    }

    /// Gives `rel` the owner of `st` (only root can).
    fn own(&self, dir: &Dir, rel: &str, st: &crate::fsutil::Stat) -> Result<()> {
        if self.as_root {
            dir.chown(rel, st.st_uid, st.st_gid)?;
        }
        Ok(())
    }

    /// Copies what is in `src` into `dst` (which exists); at the top of a data directory
    /// (`top`), `.snapshots/` and temporary names are left out.
    fn copy_children(&mut self, src: &Dir, dst: &Dir, top: bool) -> Result<()> {
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
