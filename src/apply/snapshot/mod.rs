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

mod copy;
mod leftovers;

pub use leftovers::{clean_leftovers, leftovers};

use super::deploy_error::Error as DeployError;
use super::layout::{self, SNAPSHOTS, VAR};
use crate::error::{Error, Result};
use crate::fsutil::{is_temp, temp_name, Dir, Kind};
use crate::lock::LockedFile;
use crate::root::Root;
use copy::Copier;
use std::path::PathBuf;
use std::time::SystemTime;

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

/// The generations that have a snapshot, newest snapshot first.
pub fn list(root: &Root, profile: &str) -> Result<Vec<u64>> {
    let Some(data) = layout::var_dir_opt(root, profile)? else {
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
    let Some(data) = layout::var_dir_opt(root, profile)? else {
        tracing::info!("{profile} has no {VAR}/{profile}/ yet: no data snapshot");
        return Ok(None);
    };
    leftovers::clean_data_dir(&data, lock)?;
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
        dir: layout::snapshots_path(root, profile),
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
    let Some(data) = layout::var_dir_opt(root, profile)? else {
        return Err(Error::io(
            "open",
            layout::var_path(root, profile),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    };
    leftovers::clean_data_dir(&data, lock)?;
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
pub(super) const COPYING: &str = "restore";
pub(super) const MOVING_IN: &str = "restoring";
pub(super) const REPLACED: &str = "replaced";

/// The names in the data directory that are the profile's data: all but `.snapshots/` and
/// berth's temporary names (which snapshots and restores leave alone).
pub(super) fn data_names(data: &Dir) -> Result<Vec<String>> {
    Ok(data
        .entries()?
        .into_iter()
        .filter_map(|e| e.name_str().map(str::to_string))
        .filter(|n| n != SNAPSHOTS && !is_temp(n))
        .collect())
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
