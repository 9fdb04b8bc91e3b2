//! Removing entries: rename into `store/.trash/` first (so a half-deleted entry is never
//! seen under its real name), then delete, then drop objects no entry links any more.
//!
//! Removal is planned before anything is touched, so that `gc --dry-run` and the real run
//! report the same entries and the same bytes: the plan counts, for every inode of the
//! trees that go, how many of its links go with them, and a pool object is freed when only
//! its pool link would remain.

use super::lock::LockedFile;
use super::{Entry, Store};
use crate::error::{IoContext, Result};
use crate::progress::{Counters, Progress};
use rayon::prelude::*;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
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
    /// Leftovers of crashed runs in staging and trash.
    pub leftovers: Vec<PathBuf>,
    /// Pool objects that will have no other link once the above are gone.
    pub objects: Vec<PathBuf>,
    /// Blocks released, in bytes.
    pub bytes: u64,
    /// Private blocks of each entry, then of each leftover (for the progress bar).
    pub tree_bytes: Vec<u64>,
}

/// Blocks of a set of trees: what only they hold, and the links they hold to shared inodes.
#[derive(Debug, Default)]
pub struct TreeBlocks {
    /// Directories, symlinks and files with one link: freed with the trees.
    pub private: u64,
    /// (dev, ino) of multiply-linked files -> (links inside the trees, nlink, bytes of blocks).
    pub shared: HashMap<(u64, u64), (u64, u64, u64)>,
}

impl TreeBlocks {
    /// Measures trees (missing ones count nothing); all cores.
    pub fn measure(paths: &[PathBuf]) -> Result<TreeBlocks> {
        let mut out = TreeBlocks::default();
        for p in Self::measure_each(paths)? {
            out.private += p.private;
            for (k, (c, n, b)) in p.shared {
                out.shared.entry(k).or_insert((0, n, b)).0 += c;
            }
        }
        Ok(out)
    }

    /// Measures each tree on its own (all cores).
    pub fn measure_each(paths: &[PathBuf]) -> Result<Vec<TreeBlocks>> {
        paths.par_iter().map(|p| measure_one(p)).collect()
    }

    /// Bytes freed by deleting the trees when no pool is involved: private blocks plus
    /// inodes all of whose links are inside the trees.
    pub fn freed_alone(&self) -> u64 {
        self.private
            + self
                .shared
                .values()
                .filter(|(c, n, _)| c >= n)
                .map(|(_, _, b)| b)
                .sum::<u64>()
    }
}

fn measure_one(root: &Path) -> Result<TreeBlocks> {
    let mut out = TreeBlocks::default();
    let m = match std::fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(crate::Error::io("stat", root, e)),
    };
    let mut add = |m: &std::fs::Metadata| {
        if m.is_dir() || m.nlink() <= 1 {
            out.private += m.blocks() * 512;
        } else {
            out.shared
                .entry((m.dev(), m.ino()))
                .or_insert((0, m.nlink(), m.blocks() * 512))
                .0 += 1;
        }
    };
    add(&m);
    if !m.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::Error::io("read directory", dir, e)),
        };
        for ent in rd {
            let ent = ent.ctx("read directory", &dir)?;
            let m = match ent.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(crate::Error::io("stat", ent.path(), e)),
            };
            add(&m);
            if m.is_dir() {
                stack.push(ent.path());
            }
        }
    }
    Ok(out)
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
        let mut leftovers = Vec::new();
        for dir in [self.root.staging(), self.root.trash()] {
            leftovers.extend(crate::fsutil::children(&dir)?);
        }
        let mut trees: Vec<PathBuf> = entries.iter().map(|e| e.path().to_path_buf()).collect();
        trees.extend(leftovers.iter().cloned());
        let each = TreeBlocks::measure_each(&trees)?;
        let tree_bytes: Vec<u64> = each.iter().map(|t| t.private).collect();
        let mut blocks = TreeBlocks::default();
        for p in each {
            blocks.private += p.private;
            for (k, (c, n, b)) in p.shared {
                blocks.shared.entry(k).or_insert((0, n, b)).0 += c;
            }
        }
        let mut bytes = blocks.private;
        let mut objects = Vec::new();
        for (obj, m) in pool_objects(&self.root.objects())? {
            let key = (m.dev(), m.ino());
            let inside = blocks.shared.remove(&key).map(|(c, _, _)| c).unwrap_or(0);
            if m.nlink().saturating_sub(inside) <= 1 {
                bytes += m.blocks() * 512;
                objects.push(obj);
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
        let trash = self.root.trash();
        let mut freed = Freed {
            bytes: plan.bytes,
            ..Freed::default()
        };
        let mut doomed = plan.leftovers.clone();
        if !plan.entries.is_empty() {
            crate::fsutil::create_dir_all(&trash)?;
            let pid = std::process::id();
            for e in &plan.entries {
                let dest = trash.join(format!("{}.{pid}", e.dir_name()));
                if !nix::unistd::geteuid().is_root() {
                    // Moving a directory to another parent needs write permission on it (for
                    // its `..`); root needs none. A crash between this chmod and the rename
                    // leaves the entry complete, with `verify` reporting the mode.
                    std::fs::set_permissions(
                        e.path(),
                        std::os::unix::fs::PermissionsExt::from_mode(0o755),
                    )
                    .ctx("chmod", e.path())?;
                }
                std::fs::rename(e.path(), &dest).ctx("move to trash", e.path())?;
                doomed.push(dest);
                freed.entries.push(e.spec());
            }
            crate::fsutil::fsync_dir(&self.root.store())?;
        }
        // `doomed` holds the leftovers, then the entries; the plan measured entries first.
        let e = plan.entries.len().min(plan.tree_bytes.len());
        let sizes: Vec<u64> = plan.tree_bytes[e..]
            .iter()
            .chain(&plan.tree_bytes[..e])
            .copied()
            .collect();
        let counters = Counters::default();
        let total = sizes.iter().sum();
        progress.track("removing", "trees", counters.clone(), total);
        let removed: Result<Vec<()>> = doomed
            .par_iter()
            .enumerate()
            .map(|(i, d)| {
                crate::fsutil::remove_tree(d)?;
                let b = sizes.get(i).copied().unwrap_or(0);
                counters.bytes.fetch_add(b, Ordering::Relaxed);
                counters.items.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .collect();
        progress.finish();
        removed?;
        for obj in &plan.objects {
            match std::fs::symlink_metadata(obj) {
                Ok(m) if m.nlink() == 1 => {
                    std::fs::remove_file(obj).ctx("remove object", obj)?;
                    freed.objects += 1;
                }
                _ => {}
            }
        }
        Ok(freed)
    }
}

impl Store {
    /// Removes every pool object no entry links any more; returns their paths.
    pub fn remove_orphan_objects(&self, _lock: &LockedFile) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for (obj, m) in pool_objects(&self.root.objects())? {
            if m.nlink() == 1 {
                std::fs::remove_file(&obj).ctx("remove object", &obj)?;
                out.push(obj);
            }
        }
        Ok(out)
    }
}

/// Every object of the pool with its metadata (shards in parallel).
pub fn pool_objects(dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let shards: Vec<PathBuf> = crate::fsutil::children(dir)?
        .into_iter()
        .filter(|s| s.is_dir())
        .collect();
    let per: Vec<Vec<(PathBuf, std::fs::Metadata)>> = shards
        .par_iter()
        .map(|s| {
            let mut v = Vec::new();
            for p in crate::fsutil::children(s)? {
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_file() => v.push((p, m)),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(crate::Error::io("stat", p, e)),
                }
            }
            Ok(v)
        })
        .collect::<Result<_>>()?;
    Ok(per.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn measure_counts_links_inside_the_trees_and_frees_an_inode_only_with_its_last_link() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("shared"), vec![7u8; 50_000]).unwrap();
        std::fs::hard_link(a.join("shared"), b.join("shared")).unwrap();
        std::fs::write(a.join("own"), vec![1u8; 20_000]).unwrap();
        let blocks = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
        let dirs = blocks(&a) + blocks(&b);
        let one = TreeBlocks::measure(std::slice::from_ref(&a)).unwrap();
        assert_eq!(one.freed_alone(), blocks(&a) + blocks(&a.join("own")));
        let both = TreeBlocks::measure(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            both.freed_alone(),
            dirs + blocks(&a.join("own")) + blocks(&a.join("shared"))
        );
        assert!(TreeBlocks::measure(&[d.path().join("missing")])
            .unwrap()
            .shared
            .is_empty());
    }
}
