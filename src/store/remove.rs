//! Removing entries: rename into `store/.trash/` first (so a half-deleted entry is never
//! seen under its real name), then delete, then drop objects no entry links any more.
//!
//! Removal is planned before anything is touched, so that `gc --dry-run` and the real run
//! report the same entries and the same bytes: the plan counts, for every inode of the
//! trees that go, how many of its links go with them, and a pool object is freed when only
//! its pool link would remain.

use super::measure::TreeBlocks;
use super::object_pool::ObjectPool;
use super::{Entry, Store, STAGING, TRASH};
use crate::error::Result;
use crate::fsutil::{temp_name, Dir};
use crate::lock::LockedFile;
use crate::progress::{Counters, Progress};
use crate::root::DIR_MODE;
use rayon::prelude::*;
use std::sync::atomic::Ordering;

/// What a removal freed (or, planned, would free).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Freed {
    /// Entries removed (`name@version`).
    pub entries: Vec<String>,
    /// Pool objects removed.
    pub objects: u64,
    /// Bytes of blocks released (shared objects counted once, only when their last link goes).
    pub bytes: u64,
}

/// A removal worked out before anything is deleted.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Entries to delete.
    pub entries: Vec<Entry>,
    /// Leftovers of crashed runs: (`.staging` or `.trash`, name).
    pub leftovers: Vec<(&'static str, String)>,
    /// Pool objects (`ab/cdef…`) that will have no other link once the above are gone.
    pub objects: Vec<String>,
    /// Blocks released, in bytes.
    pub bytes: u64,
    /// Private blocks of each entry, then of each leftover (for the progress bar).
    pub tree_bytes: Vec<u64>,
}

impl Store {
    /// Deletes entries (the caller has checked that nothing references them), the leftovers
    /// of crashed runs, and every pool object no entry links any more.
    pub fn delete_entries(&self, lock: &LockedFile, entries: &[Entry]) -> Result<Freed> {
        let plan = self.plan_removal(lock, entries.to_vec())?;
        self.execute_removal(lock, &plan, &Progress::hidden())
    }

    /// Works out what deleting `entries` (plus leftovers and orphan objects) frees, without
    /// touching anything. Needs the lock so that nothing changes between plan and execution.
    pub fn plan_removal(&self, _lock: &LockedFile, entries: Vec<Entry>) -> Result<Plan> {
        let Some(store) = self.dir() else {
            return Ok(Plan {
                entries,
                ..Plan::default()
            });
        };
        let mut leftovers = Vec::new();
        let mut parts = Vec::new();
        for part in [STAGING, TRASH] {
            if let Some(d) = store.open_dir_opt(part)? {
                for ent in d.entries()? {
                    leftovers.push((part, ent.name.to_string_lossy().into_owned()));
                }
                parts.push((part, d));
            }
        }
        let part_dir = |p: &str| parts.iter().find(|(n, _)| *n == p).map(|(_, d)| d);
        let mut trees: Vec<(&Dir, String)> = entries
            .iter()
            .map(|e| (store, e.dir_name().to_string()))
            .collect();
        for (part, name) in &leftovers {
            if let Some(d) = part_dir(part) {
                trees.push((d, name.clone()));
            }
        }
        let each = TreeBlocks::measure_each(&trees)?;
        let tree_bytes: Vec<u64> = each.iter().map(|t| t.private).collect();
        let mut blocks = TreeBlocks::default();
        for p in each {
            blocks.add(p);
        }
        let mut bytes = blocks.private;
        let mut objects = Vec::new();
        if let Some(pool) = ObjectPool::open_existing(store)? {
            for (obj, st) in pool.objects()? {
                let key = (st.st_dev, st.st_ino);
                let inside = blocks.shared.remove(&key).map(|(c, _, _)| c).unwrap_or(0);
                if st.st_nlink.saturating_sub(inside) <= 1 {
                    bytes += st.st_blocks as u64 * 512;
                    objects.push(obj);
                }
            }
        }
        // Inodes outside the pool whose every link goes (files of a crashed staging tree
        // not yet pooled).
        bytes += blocks
            .shared
            .values()
            .filter(|(c, n, _)| c >= n)
            .map(|(_, _, b)| b)
            .sum::<u64>();
        objects.sort();
        Ok(Plan {
            entries,
            leftovers,
            objects,
            bytes,
            tree_bytes,
        })
    }

    /// Carries out a plan: entries are renamed into trash (one fsync of the store directory
    /// makes that durable), then trash and leftovers are deleted, then orphan objects.
    pub fn execute_removal(
        &self,
        _lock: &LockedFile,
        plan: &Plan,
        progress: &Progress,
    ) -> Result<Freed> {
        let mut freed = Freed {
            bytes: plan.bytes,
            ..Freed::default()
        };
        let Some(store) = self.dir() else {
            return Ok(freed);
        };
        let trash = store.ensure_dir(TRASH, DIR_MODE)?;
        let mut doomed: Vec<(&'static str, String)> = plan.leftovers.clone();
        if !plan.entries.is_empty() {
            for e in &plan.entries {
                let dest = temp_name(e.dir_name());
                if !rustix::process::geteuid().is_root() {
                    // Moving a directory to another parent needs write permission on it (for
                    // its `..`); root needs none. A crash between this chmod and the rename
                    // leaves the entry complete, with `verify` reporting the mode.
                    store
                        .chmod_child(e.dir_name(), 0o755)
                        .map_err(|err| crate::Error::io("chmod", e.path(), err))?;
                }
                store.rename(e.dir_name(), &trash, &dest)?;
                doomed.push((TRASH, dest));
                freed.entries.push(e.spec());
            }
            store.fsync()?;
        }
        // `doomed` holds the leftovers, then the entries; the plan measured entries first.
        let e = plan.entries.len().min(plan.tree_bytes.len());
        let sizes: Vec<u64> = plan.tree_bytes[e..]
            .iter()
            .chain(&plan.tree_bytes[..e])
            .copied()
            .collect();
        let counters = Counters::default();
        progress.track("removing", "trees", counters.clone(), sizes.iter().sum());
        let staging = store.open_dir_opt(STAGING)?;
        let removed: Result<Vec<()>> = doomed
            .par_iter()
            .enumerate()
            .map(|(i, (part, name))| {
                let dir = if *part == TRASH {
                    Some(&trash)
                } else {
                    staging.as_ref()
                };
                if let Some(dir) = dir {
                    crate::fsutil::remove_tree(dir, name)?;
                }
                counters
                    .bytes
                    .fetch_add(sizes.get(i).copied().unwrap_or(0), Ordering::Relaxed);
                counters.items.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .collect();
        progress.finish();
        removed?;
        if let Some(pool) = ObjectPool::open_existing(store)? {
            for obj in &plan.objects {
                if pool.remove_if_orphan(obj)? {
                    freed.objects += 1;
                }
            }
        }
        Ok(freed)
    }

    /// Removes every pool object no entry links any more; returns their paths.
    pub fn remove_orphan_objects(&self, _lock: &LockedFile) -> Result<Vec<std::path::PathBuf>> {
        let mut out = Vec::new();
        let Some(store) = self.dir() else {
            return Ok(out);
        };
        if let Some(pool) = ObjectPool::open_existing(store)? {
            for (obj, st) in pool.objects()? {
                if st.st_nlink <= 1 && pool.remove_if_orphan(&obj)? {
                    out.push(pool.dir().join(&obj));
                }
            }
        }
        Ok(out)
    }
}
