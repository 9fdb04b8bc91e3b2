//! Building a store entry in `store/.staging/<txn>/tree`: the store's [`Sink`]. It answers
//! "already installed?" when a package's list is known up front, places every member
//! beneath an open handle of the private staging tree, and hands the commit what it built.

use super::object_pool::ObjectPool;
use super::workers::{Job, Place, Shared, Workers, SMALL_FILE};
use super::{entry_dir_name, Store, STAGING};
use crate::error::{Error, Result, Unsafe};
use crate::fsutil::{temp_name, Dir, NAME_MAX};
use crate::package::listing::{FileList, FileMode, Record};
use crate::package::manifest::Manifest;
use crate::package::sink::{Begin, Sink, SinkError};
use crate::root::DIR_MODE;
use std::io::Read;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// The staging tree's name inside a transaction directory.
const TREE: &str = "tree";

/// A store entry under construction.
pub struct EntryWriter {
    store: Dir,
    staging: Dir,
    txn: String,
    place: Place,
    workers: Workers,
    list: FileList,
    hardlinks: Vec<(String, String)>,
    manifest: Option<Manifest>,
    /// Set by `begin` when the content is already installed under this directory name.
    pub existing: Option<String>,
    repair: bool,
    /// The member whose listed content the pool was just asked for and lacks.
    pool_missed: Option<String>,
}

/// What a finished writer hands to the commit.
pub struct Built {
    /// The transaction directory in `store/.staging` (removed after commit or failure).
    pub txn: String,
    /// The open staging tree that becomes the entry.
    pub tree: Arc<Dir>,
    /// The complete file list.
    pub list: FileList,
    /// (path in tree, sha256, mode) of files to link into the pool.
    pub new_objects: Vec<(String, [u8; 32], FileMode)>,
    /// The package's manifest.
    pub manifest: Manifest,
}

impl EntryWriter {
    /// Starts a new entry in a fresh, private staging directory of `store`. With `repair`,
    /// an entry of the same content is rebuilt rather than skipped, without the pool.
    pub fn new(store: &Store, pool: ObjectPool, repair: bool) -> Result<EntryWriter> {
        let store_dir = store.dir_mut()?.try_clone()?;
        let staging = store_dir.ensure_dir(STAGING, DIR_MODE)?;
        let txn = temp_name("install");
        staging.create_dir(&txn, 0o700)?;
        staging.create_dir(&format!("{txn}/{TREE}"), DIR_MODE)?;
        let tree = Arc::new(staging.open_dir(&format!("{txn}/{TREE}"))?);
        let place = Place {
            tree,
            pool: Arc::new(pool),
            shared: Arc::new(Shared::default()),
            use_pool: !repair,
        };
        let workers = Workers::start(&place);
        Ok(EntryWriter {
            store: store_dir,
            staging,
            txn,
            place,
            workers,
            list: FileList::default(),
            hardlinks: Vec::new(),
            manifest: None,
            existing: None,
            repair,
            pool_missed: None,
        })
    }

    /// The transaction directory's name in `store/.staging`.
    pub fn txn(&self) -> &str {
        &self.txn
    }

    /// The staging directory handle.
    pub fn staging(&self) -> &Dir {
        &self.staging
    }

    /// Counter of files placed so far (for progress).
    pub fn files_counter(&self) -> Arc<AtomicU64> {
        self.place.shared.files.clone()
    }

    fn take_worker_error(&self) -> Option<SinkError> {
        self.place
            .shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// What the commit needs; call after [`Sink::finish`].
    pub fn into_built(mut self) -> Result<Built> {
        let manifest = self.manifest.take().ok_or_else(|| Error::Internal {
            what: "staging",
            detail: "finished before the package began".into(),
        })?;
        let new_objects = std::mem::take(
            &mut *self
                .place
                .shared
                .new_objects
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        Ok(Built {
            txn: self.txn.clone(),
            tree: self.place.tree.clone(),
            list: std::mem::take(&mut self.list),
            new_objects,
            manifest,
        })
    }

    /// Places a regular file: large ones streamed here, small ones queued for the workers.
    fn place_file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
        trust_pool: bool,
    ) -> Result<(), SinkError> {
        if let Some(e) = self.take_worker_error() {
            return Err(e);
        }
        let pool_checked = self.pool_missed.take().is_some_and(|p| p == path);
        if size > SMALL_FILE {
            return self
                .place
                .streamed(path, mode, size, data, expected, pool_checked);
        }
        let mut buf = Vec::with_capacity(size as usize);
        data.take(size).read_to_end(&mut buf).map_err(|e| {
            SinkError::Fail(Error::BadArchive {
                archive: Default::default(),
                detail: format!("{path}: {e}").into(),
            })
        })?;
        if buf.len() as u64 != size {
            return Err(SinkError::Refused(Unsafe::Truncated));
        }
        let job = Job {
            path: path.to_string(),
            mode,
            data: buf,
            expected,
            pool_checked,
            trust_pool,
        };
        if !self.workers.send(job) {
            return Err(self.take_worker_error().unwrap_or_else(|| {
                SinkError::Fail(Error::Internal {
                    what: "install workers",
                    detail: "they stopped without an error".into(),
                })
            }));
        }
        Ok(())
    }
}

impl Sink for EntryWriter {
    fn begin(&mut self, manifest: &Manifest, list: Option<&FileList>) -> Result<Begin, SinkError> {
        let (name, version) = (&manifest.package.name, &manifest.package.version);
        let len = entry_dir_name(name, version, &"0".repeat(32)).len();
        if len > NAME_MAX {
            return Err(SinkError::Fail(Error::EntryNameTooLong {
                name: name.clone(),
                version: version.clone(),
                len,
            }));
        }
        self.manifest = Some(manifest.clone());
        if let Some(list) = list {
            let dir = entry_dir_name(name, version, &list.id(manifest)?);
            if self.store.stat(&dir)?.is_some() {
                self.existing = Some(dir);
                if !self.repair {
                    return Ok(Begin::Skip);
                }
            }
        }
        Ok(Begin::Continue)
    }

    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.place
            .tree
            .mkdir(path, DIR_MODE)
            .map_err(|e| Error::io("create directory", self.place.tree.join(path), e))?;
        self.list.records.insert(path.to_string(), Record::Dir);
        Ok(())
    }

    fn file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        self.place_file(path, mode, size, data, expected, false)
    }

    fn file_or_pooled(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        sha256: [u8; 32],
    ) -> Result<(), SinkError> {
        if size > SMALL_FILE || self.repair {
            return crate::package::sink::pooled_else_file(self, path, mode, size, data, sha256);
        }
        self.place_file(path, mode, size, data, Some(sha256), true)
    }

    fn try_link_pooled(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<bool, SinkError> {
        if let Some(e) = self.take_worker_error() {
            return Err(e);
        }
        let linked = self.place.link_pooled(path, mode, size, sha256)?;
        self.pool_missed = (!linked).then(|| path.to_string());
        Ok(linked)
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.place
            .tree
            .symlink_raw(target, path)
            .map_err(|e| Error::io("create symlink", self.place.tree.join(path), e))?;
        self.list.records.insert(
            path.to_string(),
            Record::Symlink {
                target: target.to_string(),
            },
        );
        Ok(())
    }

    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        // The target may still be in a worker's queue: link once they are done.
        self.hardlinks.push((path.to_string(), target.to_string()));
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.workers.join();
        if let Some(e) = self.take_worker_error() {
            return Err(e);
        }
        let records = std::mem::take(
            &mut *self
                .place
                .shared
                .records
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        self.list.records.extend(records);
        for (path, target) in std::mem::take(&mut self.hardlinks) {
            let rec = self.list.records.get(&target).cloned().ok_or_else(|| {
                SinkError::RefusedMember {
                    member: path.clone(),
                    why: Unsafe::HardlinkBadTarget(target.clone(), "not a regular file"),
                }
            })?;
            self.place
                .tree
                .link_within(&target, &path)
                .map_err(|e| Error::io("link", self.place.tree.join(&path), e))?;
            self.list.records.insert(path, rec);
        }
        Ok(())
    }
}
