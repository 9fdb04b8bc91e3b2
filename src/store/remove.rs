//! Removing entries: rename into `store/.trash/` first (so a half-deleted entry is never
//! seen under its real name), then delete, then drop objects no entry links any more.

use super::listing::Record;
use super::lock::LockedFile;
use super::object_pool::ObjectPool;
use super::{Entry, Store};
use crate::error::{IoContext, Result};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What a removal freed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Freed {
    /// Entries removed.
    pub entries: Vec<String>,
    /// Pool objects removed.
    pub objects: u64,
    /// Bytes of blocks released (shared objects counted once, only when their last link goes).
    pub bytes: u64,
}

impl Store {
    /// Deletes entries (the caller has checked that nothing references them).
    pub fn delete_entries(&self, lock: &LockedFile, entries: &[Entry]) -> Result<Freed> {
        self.clean_leftovers(lock)?;
        let trash = self.root.trash();
        crate::fsutil::create_dir_all(&trash)?;
        let pool = ObjectPool::open(self.root.objects())?;
        let mut freed = Freed::default();
        let mut moved = Vec::new();
        for e in entries {
            let list = e.file_list()?;
            let objects: BTreeSet<PathBuf> = list
                .records
                .values()
                .filter_map(|r| match r {
                    Record::File { exec, size, sha256 } if *size > 0 => Some(pool.path(sha256, *exec)),
                    _ => None,
                })
                .collect();
            freed.bytes += private_blocks(e)?;
            let dest = trash.join(format!("{}.{}", e.dir_name(), std::process::id()));
            // Moving a directory to another parent needs write permission on it (for `..`).
            std::fs::set_permissions(
                e.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .ctx("chmod", e.path())?;
            std::fs::rename(e.path(), &dest).ctx("move to trash", e.path())?;
            moved.push((dest, objects));
            freed.entries.push(e.spec());
        }
        crate::fsutil::fsync_dir(&self.root.store())?;
        for (dest, objects) in moved {
            crate::fsutil::remove_tree(&dest)?;
            for obj in objects {
                if let Ok(m) = std::fs::symlink_metadata(&obj) {
                    if m.nlink() == 1 {
                        std::fs::remove_file(&obj).ctx("remove object", &obj)?;
                        freed.objects += 1;
                        freed.bytes += m.blocks() * 512;
                    }
                }
            }
        }
        Ok(freed)
    }
}

/// Blocks of an entry that go with it: its directories, metadata, symlinks, empty files,
/// and files not shared with the pool.
fn private_blocks(e: &Entry) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![e.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        let m = std::fs::symlink_metadata(&dir).ctx("stat", &dir)?;
        total += m.blocks() * 512;
        for ent in std::fs::read_dir(&dir).ctx("read directory", &dir)? {
            let ent = ent.ctx("read directory", &dir)?;
            let m = ent.metadata().ctx("stat", ent.path())?;
            if m.is_dir() {
                stack.push(ent.path());
            } else if m.nlink() == 1 {
                total += m.blocks() * 512;
            }
        }
    }
    Ok(total)
}
