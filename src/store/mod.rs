//! The store: installed entries (`store/<name>-<version>-<id>/`), the object pool they
//! share, staging and trash. Only this module writes under `store/`.

pub mod dirfd;
pub mod entry;
pub mod install;
pub mod listing;
pub mod lock;
pub mod object_pool;
pub mod pins;
pub mod query;
pub mod remove;
pub mod staging;
pub mod verify;

pub use entry::{Entry, Origin};
pub use lock::LockedFile;

use crate::error::{IoContext, Result};
use crate::root::Root;
use std::path::Path;

/// The store of one root.
#[derive(Debug, Clone)]
pub struct Store {
    root: Root,
}

impl Store {
    /// The store of `root` (nothing is created until something is installed).
    pub fn new(root: &Root) -> Store {
        Store { root: root.clone() }
    }

    /// The root this store belongs to.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Every complete entry, sorted by name, then version (Debian order), then id.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let dir = self.root.store();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(crate::Error::io("read directory", dir, e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.ctx("read directory", &dir)?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || !ent.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match Entry::load(&ent.path()) {
                Ok(e) => out.push(e),
                // One damaged entry must not hide the others; `berth check` reports it.
                Err(e) => tracing::warn!("skipping {}: {e}", ent.path().display()),
            }
        }
        out.sort_by(|a, b| {
            a.name()
                .cmp(b.name())
                .then_with(|| crate::package::version::compare(a.version(), b.version()))
                .then_with(|| a.id().cmp(b.id()))
        });
        Ok(out)
    }

    /// Removes what crashed runs left in staging and trash. Needs the lock: only a lock
    /// holder has anything in progress there.
    pub fn clean_leftovers(&self, _lock: &LockedFile) -> Result<usize> {
        let mut n = 0;
        for dir in [self.root.staging(), self.root.trash()] {
            n += remove_children(&dir)?;
        }
        Ok(n)
    }
}

fn remove_children(dir: &Path) -> Result<usize> {
    let children = crate::fsutil::children(dir)?;
    for child in &children {
        crate::fsutil::remove_tree(child)?;
    }
    Ok(children.len())
}
