//! The store: installed entries (`store/<name>-<version>-<id>/`), the object pool they
//! share, staging, trash and pins. Only this module writes under `store/`, and it owns the
//! checks and the leftover cleaning of everything there.

pub mod check;
pub mod commit;
pub mod entry;
mod from_dir;
pub mod install;
pub mod measure;
pub mod object_pool;
pub mod pins;
pub mod query;
pub mod remove;
pub mod verify;
mod workers;
pub mod writer;

pub use entry::{Entry, Origin};

use crate::error::Result;
use crate::fsutil::{Dir, Kind};
use crate::lock::LockedFile;
use crate::root::{Root, DIR_MODE, STORE};
use std::sync::Arc;

/// `store/.objects`: the content-addressed pool.
pub const OBJECTS: &str = ".objects";
/// `store/.staging`: installs in progress.
pub const STAGING: &str = ".staging";
/// `store/.trash`: entries being deleted.
pub const TRASH: &str = ".trash";
/// `store/.pins`: entries kept with no profile using them.
pub const PINS: &str = ".pins";

/// The one place an entry's directory name is made: `<name>-<version>-<id>`.
pub fn entry_dir_name(name: &str, version: &str, id: &str) -> String {
    format!("{name}-{version}-{id}")
}

/// The store of one root.
#[derive(Debug, Clone)]
pub struct Store {
    root: Root,
    dir: Option<Arc<Dir>>,
}

impl Store {
    /// The store of `root` as it is (empty when nothing was ever installed).
    pub fn open(root: &Root) -> Result<Store> {
        Ok(Store {
            root: root.clone(),
            dir: root.dir().open_dir_opt(STORE)?.map(Arc::new),
        })
    }

    /// The store of `root`, created if needed (a mutation: the lock is held).
    pub fn create(root: &Root, _lock: &LockedFile) -> Result<Store> {
        let dir = root.dir().ensure_dir(STORE, DIR_MODE)?;
        Ok(Store {
            root: root.clone(),
            dir: Some(Arc::new(dir)),
        })
    }

    /// The root this store belongs to.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// `store/`, if it exists.
    pub fn dir(&self) -> Option<&Dir> {
        self.dir.as_deref()
    }

    /// `store/` for a mutation (made by [`Store::create`]).
    fn dir_mut(&self) -> Result<&Dir> {
        match self.dir.as_deref() {
            Some(d) => Ok(d),
            None => Err(crate::Error::io(
                "open",
                self.root.path().join(STORE),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )),
        }
    }

    /// Every complete entry, sorted by name, then version (Debian order), then id.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        self.entries_where(|_| true)
    }

    /// The complete entries of the packages `names` (and possibly a few more: an entry is
    /// chosen by its directory name `<name>-<version>-<id>`, and `a-b` starts like `a`),
    /// sorted as [`Store::entries`]. A switch needs these only; reading every entry's
    /// records cost a switch time in proportion to the whole store.
    pub fn entries_named<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Vec<Entry>> {
        let prefixes: Vec<String> = names.into_iter().map(|n| format!("{n}-")).collect();
        self.entries_where(|dir| prefixes.iter().any(|p| dir.starts_with(p.as_str())))
    }

    fn entries_where(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<Entry>> {
        let Some(dir) = self.dir() else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for ent in dir.entries()? {
            let Some(name) = ent.name_str() else { continue };
            if name.starts_with('.') || ent.kind != Kind::Dir || !wanted(name) {
                continue;
            }
            match Entry::load(dir, name) {
                Ok(e) => out.push(e),
                // One damaged entry must not hide the others; `berth check` reports it.
                Err(e) => tracing::warn!("skipping {}: {e}", dir.join(name).display()),
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

    /// Opens an entry's directory (for reading its files).
    pub fn open_entry(&self, entry: &Entry) -> Result<Dir> {
        self.dir_mut()?.open_dir(entry.dir_name())
    }

    /// Removes what crashed runs left: everything in staging and trash, temporary files of
    /// interrupted writes, and pool objects no entry links (an install that failed after
    /// writing objects). Needs the lock: only a lock holder has anything in progress.
    pub fn clean_leftovers(&self, _lock: &LockedFile) -> Result<usize> {
        let Some(dir) = self.dir() else {
            return Ok(0);
        };
        let mut n = 0;
        for part in [STAGING, TRASH] {
            if let Some(d) = dir.open_dir_opt(part)? {
                for ent in d.entries()? {
                    crate::fsutil::remove_tree(&d, &ent.name.to_string_lossy())?;
                    n += 1;
                }
            }
        }
        for part in [".", PINS] {
            if let Some(d) = dir.open_dir_opt(part)? {
                for ent in d.entries()? {
                    let name = ent.name.to_string_lossy();
                    if crate::fsutil::is_temp(&name) {
                        crate::fsutil::remove_tree(&d, &name)?;
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}
