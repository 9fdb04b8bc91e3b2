//! Measuring what deleting trees frees: blocks only they hold, and for files they share
//! with other trees (hard links into the pool), how many of each inode's links go with
//! them, so that an object is counted only when its last link goes.

use crate::error::Result;
use crate::fsutil::{Dir, Kind};
use rayon::prelude::*;
use std::collections::HashMap;

/// Blocks of a set of trees: what only they hold, and the links they hold to shared inodes.
#[derive(Debug, Default)]
pub struct TreeBlocks {
    /// Directories, symlinks and files with one link: freed with the trees.
    pub private: u64,
    /// (dev, ino) of multiply-linked files -> (links inside the trees, nlink, bytes of blocks).
    pub shared: HashMap<(u64, u64), (u64, u64, u64)>,
}

impl TreeBlocks {
    /// Measures each tree `rel` beneath its directory on its own (all cores); missing
    /// trees count nothing.
    pub fn measure_each(trees: &[(&Dir, String)]) -> Result<Vec<TreeBlocks>> {
        trees
            .par_iter()
            .map(|(d, rel)| measure_one(d, rel))
            .collect()
    }

    /// Measures trees together.
    pub fn measure(trees: &[(&Dir, String)]) -> Result<TreeBlocks> {
        let mut out = TreeBlocks::default();
        for p in Self::measure_each(trees)? {
            out.add(p);
        }
        Ok(out)
    }

    /// Adds another measurement.
    pub fn add(&mut self, p: TreeBlocks) {
        self.private += p.private;
        for (k, (c, n, b)) in p.shared {
            self.shared.entry(k).or_insert((0, n, b)).0 += c;
        }
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

fn measure_one(dir: &Dir, rel: &str) -> Result<TreeBlocks> {
    let mut out = TreeBlocks::default();
    let Some(st) = dir.stat(rel)? else {
        return Ok(out);
    };
    let mut add = |st: &crate::fsutil::Stat, kind: Kind| {
        let blocks = st.st_blocks as u64 * 512;
        if kind == Kind::Dir || st.st_nlink <= 1 {
            out.private += blocks;
        } else {
            out.shared
                .entry((st.st_dev, st.st_ino))
                .or_insert((0, st.st_nlink, blocks))
                .0 += 1;
        }
    };
    let kind = crate::fsutil::dir::kind_of(&st);
    add(&st, kind);
    if kind != Kind::Dir {
        return Ok(out);
    }
    let Some(sub) = dir.open_dir_opt(rel)? else {
        return Ok(out);
    };
    crate::fsutil::walk(&sub, &mut |_, kind, st| {
        add(st, kind);
        Ok(())
    })?;
    Ok(out)
}
