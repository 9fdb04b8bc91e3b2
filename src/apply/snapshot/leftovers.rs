//! What a snapshot or restore killed midway (SIGKILL, power loss) leaves in
//! `var/<profile>/`: found for `check`, and cleaned (a restore undone) before the next
//! switch or by `check --repair`. Takes only names berth's own temporary-name scheme made,
//! with restore's stems in the data directory and generation numbers in `.snapshots/`;
//! never the user's files.

use super::{data_names, COPYING, MOVING_IN, REPLACED, SNAPSHOTS};
use crate::apply::layout;
use crate::error::Result;
use crate::fsutil::{remove_tree, temp_name, temp_stem, Dir};
use crate::lock::LockedFile;
use crate::root::Root;
use std::path::PathBuf;

/// A half-built snapshot, one replaced by a newer of its generation, or one being pruned:
/// `.<generation>.tmp.<pid>.<n>` in `.snapshots/`.
fn is_snapshot_temp(name: &str) -> bool {
    temp_stem(name).is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
}

/// What an interrupted snapshot or restore of `profile` left, by path (for `check`).
pub fn leftovers(root: &Root, profile: &str) -> Result<Vec<PathBuf>> {
    let Some(data) = layout::var_dir_opt(root, profile)? else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    if let Some(snaps) = data.open_dir_opt(SNAPSHOTS)? {
        for e in snaps.entries()? {
            if e.name_str().is_some_and(is_snapshot_temp) {
                out.push(snaps.join(&e.name));
            }
        }
    }
    for stem in [COPYING, MOVING_IN, REPLACED] {
        out.extend(named(&data, stem)?.into_iter().map(|n| data.join(n)));
    }
    Ok(out)
}

/// Removes what a snapshot or restore of `profile` killed midway left in
/// `var/<profile>/`, and undoes such a restore: the data is put back as it was before it.
/// Returns how many leftovers went. Needs the lock: only its holder snapshots or restores.
pub fn clean_leftovers(root: &Root, lock: &LockedFile, profile: &str) -> Result<usize> {
    match layout::var_dir_opt(root, profile)? {
        Some(data) => clean_data_dir(&data, lock),
        None => Ok(0),
    }
}

/// The names in `data` that restore's temporary scheme made with `stem`.
fn named(data: &Dir, stem: &str) -> Result<Vec<String>> {
    Ok(data
        .entries()?
        .into_iter()
        .filter_map(|e| e.name_str().map(str::to_string))
        .filter(|n| temp_stem(n) == Some(stem))
        .collect())
}

pub(super) fn clean_data_dir(data: &Dir, _lock: &LockedFile) -> Result<usize> {
    let mut gone = clean_snapshots(data)?;
    let (mut copies, moving, replaced) = (
        named(data, COPYING)?,
        named(data, MOVING_IN)?,
        named(data, REPLACED)?,
    );
    if copies.is_empty() && moving.is_empty() && replaced.is_empty() {
        return Ok(gone);
    }
    if !moving.is_empty() && replaced.is_empty() {
        // Not a state restore leaves (it removes the copy before the replaced data); with
        // nothing to put back, the data directory is left as it is.
        for m in &moving {
            remove_tree(data, m)?;
            gone += 1;
        }
    } else if !moving.is_empty() {
        copies.extend(take_copy_out(data, moving)?);
    }
    let mut kept = Vec::new();
    if !copies.is_empty() {
        kept = put_data_back(data, &replaced)?;
        if kept.is_empty() {
            for c in &copies {
                remove_tree(data, c)?;
                gone += 1;
            }
        }
    }
    // Without a copy, the restore had finished and was removing the data it replaced.
    for r in replaced.iter().filter(|r| !kept.contains(r)) {
        remove_tree(data, r)?;
        gone += 1;
    }
    data.fsync()?;
    Ok(gone)
}

/// Half-built or half-removed snapshots in `.snapshots/`; returns how many went.
fn clean_snapshots(data: &Dir) -> Result<usize> {
    let mut gone = 0;
    if let Some(snaps) = data.open_dir_opt(SNAPSHOTS)? {
        for e in snaps.entries()? {
            let Some(n) = e.name_str() else { continue };
            if is_snapshot_temp(n) {
                tracing::info!(
                    "removing {}, left by an interrupted snapshot",
                    snaps.join(n).display()
                );
                remove_tree(&snaps, n)?;
                gone += 1;
            }
        }
    }
    Ok(gone)
}

/// Killed while moving the copy in: every data name is a copy (the snapshot still has
/// them); takes them out, which is the state before they were moved in, and names the
/// copies again as copies (returned).
fn take_copy_out(data: &Dir, moving: Vec<String>) -> Result<Vec<String>> {
    for n in data_names(data)? {
        remove_tree(data, &n)?;
    }
    data.fsync()?;
    let mut copies = Vec::new();
    for m in moving {
        let back = temp_name(COPYING);
        data.rename(&m, data, &back)?;
        copies.push(back);
    }
    data.fsync()?;
    Ok(copies)
}

/// Killed before the copy was moved in: whatever of the data was moved aside goes back;
/// nothing of the copy is in the data directory. Returns the directories kept aside
/// because a name in them exists again.
fn put_data_back(data: &Dir, replaced: &[String]) -> Result<Vec<String>> {
    tracing::warn!(
        "{}: a restore of a data snapshot was interrupted; putting the data back as it was",
        data.path().display()
    );
    let mut kept = Vec::new();
    for r in replaced {
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
    Ok(kept)
}
