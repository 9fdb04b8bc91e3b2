//! Placing file content in a staging tree: small files are hashed and written by a pool of
//! worker threads while the reading thread keeps decoding; a file whose content is already
//! pooled (or was written earlier in this install) is only linked, never written again.

use super::object_pool::{LinkError, ObjectPool};
use crate::error::{Error, Unsafe};
use crate::fsutil::Dir;
use crate::package::listing::{FileMode, Record};
use crate::package::sink::SinkError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Files up to this size are read into memory and handed to a worker; larger ones are
/// streamed by the reading thread so memory stays bounded.
pub const SMALL_FILE: u64 = 256 << 10;
/// Small files travel to the workers in batches of up to this many files or
/// [`BATCH_BYTES`]: one channel operation per file made the reader and the workers wake
/// each other (a futex call) for nearly every file.
const BATCH_FILES: usize = 32;
/// Bytes of content in one batch (a batch closes at the file that reaches it).
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight: with BATCH_BYTES and SMALL_FILE this bounds buffered data to about
/// 20 MiB.
const QUEUE: usize = 16;

/// One small file to place.
pub struct Job {
    /// Path in the tree.
    pub path: String,
    /// Exec bit.
    pub mode: FileMode,
    /// Its content.
    pub data: Vec<u8>,
    /// The sha256 it must have, when the package lists one.
    pub expected: Option<[u8; 32]>,
    /// The pool was already asked for the listed content and has none: don't ask again.
    pub pool_checked: bool,
    /// A seekable package's member: when the pool holds the listed content, link it
    /// without hashing the data (pooled objects were verified when they were written; the
    /// list is what the entry's id covers).
    pub trust_pool: bool,
}

/// State shared by the reading thread and the workers.
#[derive(Default)]
pub struct Shared {
    /// Records of placed files.
    pub records: Mutex<Vec<(String, Record)>>,
    /// Files this install created whose content was not yet pooled: linked into the pool
    /// at commit, after the data is durable.
    pub new_objects: Mutex<Vec<(String, [u8; 32], FileMode)>>,
    /// First copy in this install of each (content, mode): later copies link to it.
    firsts: Mutex<HashMap<([u8; 32], FileMode), String>>,
    /// The first error a worker met.
    pub error: Mutex<Option<SinkError>>,
    /// Files placed so far (for progress).
    pub files: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where files are placed: the staging tree and the pool.
#[derive(Clone)]
pub struct Place {
    /// The staging tree.
    pub tree: Arc<Dir>,
    /// The object pool.
    pub pool: Arc<ObjectPool>,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Whether pooled objects may be linked (a repair writes every file afresh: the
    /// damage may be in the pool itself).
    pub use_pool: bool,
}

/// The worker threads of one install.
pub struct Workers {
    tx: Option<SyncSender<Vec<Job>>>,
    batch: Vec<Job>,
    batch_bytes: usize,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the workers.
    pub fn start(place: &Place) -> Workers {
        let (tx, rx) = sync_channel::<Vec<Job>>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        // One worker more than cores: a worker blocked in the kernel (file creation waits
        // on directory locks and the journal) leaves its core to another. Measured on 2
        // cores: 3 workers beat 2 by 15-30% on the 15,000-file install benchmark.
        let n = std::thread::available_parallelism()
            .map(|n| n.get() + 1)
            .unwrap_or(3)
            .clamp(2, 8);
        let handles = (0..n)
            .map(|_| {
                let (rx, place): (Arc<Mutex<Receiver<Vec<Job>>>>, Place) =
                    (rx.clone(), place.clone());
                std::thread::spawn(move || loop {
                    let Ok(batch) = lock(&rx).recv() else {
                        return;
                    };
                    for job in batch {
                        if let Err(e) = place.small(job) {
                            let mut slot = lock(&place.shared.error);
                            if slot.is_none() {
                                *slot = Some(e);
                            }
                            // Stop taking work: the reader sees the error at its next
                            // member and the install fails.
                            return;
                        }
                    }
                })
            })
            .collect();
        Workers {
            tx: Some(tx),
            batch: Vec::with_capacity(BATCH_FILES),
            batch_bytes: 0,
            handles,
        }
    }

    /// Queues a job; false when the workers stopped (an error is waiting).
    pub fn send(&mut self, job: Job) -> bool {
        self.batch_bytes += job.data.len();
        self.batch.push(job);
        if self.batch.len() < BATCH_FILES && self.batch_bytes < BATCH_BYTES {
            return true;
        }
        self.flush()
    }

    /// Hands the open batch to the workers.
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_FILES));
        self.batch_bytes = 0;
        self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok())
    }

    /// Waits for every queued job.
    pub fn join(&mut self) {
        self.flush();
        drop(self.tx.take());
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.join();
    }
}

/// Names the member: the check may run on a worker while the reader is at a later member.
fn mismatch(path: &str, want: &[u8; 32], got: &[u8; 32]) -> SinkError {
    SinkError::RefusedMember {
        member: path.to_string(),
        why: Unsafe::ListMismatch(format!(
            "sha256 is {}, listed {}",
            hex::encode(got),
            hex::encode(want)
        )),
    }
}

fn truncated(path: &str) -> SinkError {
    SinkError::RefusedMember {
        member: path.to_string(),
        why: Unsafe::Truncated,
    }
}

fn bad_read(path: &str, e: std::io::Error) -> SinkError {
    SinkError::Fail(Error::BadArchive {
        archive: PathBuf::new(),
        detail: format!("{path}: {e}").into(),
    })
}

fn io(op: &'static str, tree: &Dir, path: &str, e: std::io::Error) -> SinkError {
    SinkError::Fail(Error::io(op, tree.join(path), e))
}

impl Place {
    fn record(&self, path: String, mode: FileMode, size: u64, sha256: [u8; 32]) {
        self.shared.files.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.records).push((path, Record::File { mode, size, sha256 }));
    }

    /// Links `path` to an identical file: the pool's object, or this install's first copy.
    /// Returns false when there is none.
    fn link_existing(
        &self,
        path: &str,
        sha: &[u8; 32],
        mode: FileMode,
        size: u64,
        pool_checked: bool,
    ) -> Result<bool, SinkError> {
        if !pool_checked && self.link_existing_pool_only(path, sha, mode, size)? {
            return Ok(true);
        }
        let first = lock(&self.shared.firsts).get(&(*sha, mode)).cloned();
        if let Some(first) = first {
            self.tree
                .link_within(&first, path)
                .map_err(|e| io("link", &self.tree, path, e))?;
            return Ok(true);
        }
        Ok(false)
    }

    fn create(&self, path: &str, mode: FileMode) -> Result<std::fs::File, SinkError> {
        let mode = mode.bits();
        let f = self
            .tree
            .create_file(path, mode)
            .map_err(|e| io("create", &self.tree, path, e))?;
        if crate::fsutil::umask() & mode != 0 {
            rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(mode))
                .map_err(|e| io("chmod", &self.tree, path, e.into()))?;
        }
        Ok(f)
    }

    /// Records a freshly written file as the first copy of its content in this install.
    /// When another worker wrote the same content meanwhile, this copy is replaced by a
    /// link to that one, so identical files of one package share one inode and one object.
    fn note_new(&self, path: &str, sha: [u8; 32], mode: FileMode) -> Result<(), SinkError> {
        let first = {
            let mut firsts = lock(&self.shared.firsts);
            match firsts.entry((sha, mode)) {
                std::collections::hash_map::Entry::Occupied(o) => Some(o.get().clone()),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(path.to_string());
                    None
                }
            }
        };
        match first {
            Some(first) => {
                self.tree
                    .unlink(path)
                    .map_err(|e| io("remove", &self.tree, path, e))?;
                self.tree
                    .link_within(&first, path)
                    .map_err(|e| io("link", &self.tree, path, e))?;
            }
            None => lock(&self.shared.new_objects).push((path.to_string(), sha, mode)),
        }
        Ok(())
    }

    /// Places one small file held in memory.
    pub fn small(&self, job: Job) -> Result<(), SinkError> {
        let Job {
            path,
            mode,
            data,
            expected,
            pool_checked,
            trust_pool,
        } = job;
        let size = data.len() as u64;
        if let (true, Some(want)) = (trust_pool && size > 0, expected) {
            if self.link_existing_pool_only(&path, &want, mode, size)? {
                self.record(path, mode, size, want);
                return Ok(());
            }
        }
        let pool_checked = pool_checked || trust_pool;
        // Otherwise every member is hashed, even one whose listed content is already
        // pooled: a package read from start to end must match its list byte for byte,
        // whatever the store holds.
        let sha: [u8; 32] = Sha256::digest(&data).into();
        if let Some(want) = expected {
            if want != sha {
                return Err(mismatch(&path, &want, &sha));
            }
        }
        if size > 0 && self.link_existing(&path, &sha, mode, size, pool_checked)? {
            self.record(path, mode, size, sha);
            return Ok(());
        }
        let mut f = self.create(&path, mode)?;
        f.write_all(&data)
            .map_err(|e| io("write", &self.tree, &path, e))?;
        crate::fsutil::set_file_mtime(&f).map_err(|e| io("set mtime", &self.tree, &path, e))?;
        drop(f);
        if size > 0 {
            self.note_new(&path, sha, mode)?;
        }
        self.record(path, mode, size, sha);
        Ok(())
    }

    /// Places a large file by streaming it (constant memory), then deduplicates it.
    pub fn streamed(
        &self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
        pool_checked: bool,
    ) -> Result<(), SinkError> {
        if let Some(want) = expected {
            if self.link_existing(path, &want, mode, size, pool_checked)? {
                // Linked on the listed hash; the member must still hash to it (if not, the
                // whole install fails and the staging tree with this link goes).
                let mut h = Sha256::new();
                let n = std::io::copy(data, &mut h).map_err(|e| bad_read(path, e))?;
                let sha: [u8; 32] = h.finalize().into();
                if n != size {
                    return Err(truncated(path));
                }
                if sha != want {
                    return Err(mismatch(path, &want, &sha));
                }
                self.record(path.to_string(), mode, size, want);
                return Ok(());
            }
        }
        let mut f = self.create(path, mode)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut n_total = 0u64;
        loop {
            let n = data.read(&mut buf).map_err(|e| bad_read(path, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            f.write_all(&buf[..n])
                .map_err(|e| io("write", &self.tree, path, e))?;
            n_total += n as u64;
        }
        if n_total != size {
            return Err(truncated(path));
        }
        let sha: [u8; 32] = h.finalize().into();
        if let Some(want) = expected {
            if want != sha {
                return Err(mismatch(path, &want, &sha));
            }
        }
        crate::fsutil::set_file_mtime(&f).map_err(|e| io("set mtime", &self.tree, path, e))?;
        crate::fsutil::start_writeback(&f);
        drop(f);
        // Written before its hash was known: if the content is already pooled, share it
        // (linked beside, then renamed over the fresh copy; DEL cannot occur in a member
        // name, so the temporary name cannot collide with one).
        let tmp = format!("{path}\u{7f}pooled");
        if self.link_existing_pool_only(&tmp, &sha, mode, size)? {
            self.tree
                .rename_raw(&tmp, path)
                .map_err(|e| io("rename", &self.tree, path, e))?;
        } else {
            self.note_new(path, sha, mode)?;
        }
        self.record(path.to_string(), mode, size, sha);
        Ok(())
    }

    /// Links `path` to the pooled object of listed content (`sha`, `mode`, `size`) without
    /// reading the member: objects were hashed when they entered the pool. False when the
    /// pool has none (or this is a repair, which trusts nothing pooled).
    pub fn link_pooled(
        &self,
        path: &str,
        mode: FileMode,
        size: u64,
        sha: &[u8; 32],
    ) -> Result<bool, SinkError> {
        if size == 0 || !self.link_existing_pool_only(path, sha, mode, size)? {
            return Ok(false);
        }
        self.record(path.to_string(), mode, size, *sha);
        Ok(true)
    }

    fn link_existing_pool_only(
        &self,
        path: &str,
        sha: &[u8; 32],
        mode: FileMode,
        size: u64,
    ) -> Result<bool, SinkError> {
        if !self.use_pool {
            return Ok(false);
        }
        match self.pool.link_out(sha, mode, size, &self.tree, path) {
            Ok(()) => Ok(true),
            Err(LinkError::Missing) => Ok(false),
            Err(e) => Err(self.pool_error(sha, mode, e)),
        }
    }

    fn pool_error(&self, sha: &[u8; 32], mode: FileMode, e: LinkError) -> SinkError {
        let path = self.pool.path(sha, mode);
        SinkError::Fail(match e {
            LinkError::Bad(why) => Error::Corrupt {
                entry: format!("pool object {}", path.display()),
                problem: format!("{why}; refusing to use it (`berth check --repair` removes it)"),
            },
            LinkError::Io(e) => Error::io("link from pool", path, e),
            LinkError::Missing => Error::io(
                "link from pool",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ),
        })
    }
}
