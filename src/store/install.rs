//! Installing one artifact: read it into a fresh staging tree, make it durable, commit with
//! one rename. Whatever the format, the package module reads it; the store only receives.

use super::commit::Mode;
use super::entry::{Entry, Origin};
use super::object_pool::ObjectPool;
use super::writer::EntryWriter;
use super::Store;
use crate::error::Result;
use crate::lock::LockedFile;
use crate::package::read::{check_options, read_source, ReadOptions};
use crate::package::source::Source;
use crate::progress::Progress;
use std::path::PathBuf;

/// What the user asked to install.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The artifact.
    pub path: PathBuf,
    /// Hints, expectations and limits for reading it.
    pub read: ReadOptions,
    /// Rebuild an installed entry of the same content from this artifact.
    pub repair: bool,
}

/// What an install did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new entry (or, with `repair`, a rebuilt one).
    Installed {
        /// The entry.
        entry: Entry,
        /// Files whose setuid/setgid/sticky bits were dropped.
        special_bits_dropped: Vec<String>,
        /// Files written to the pool (the rest were linked).
        new_objects: usize,
        /// Whether an existing entry was rebuilt.
        repaired: bool,
    },
    /// The same content was already installed; nothing changed.
    AlreadyInstalled(Entry),
}

impl Outcome {
    /// The entry concerned.
    pub fn entry(&self) -> &Entry {
        match self {
            Outcome::Installed { entry, .. } | Outcome::AlreadyInstalled(entry) => entry,
        }
    }
}

impl Store {
    /// Installs one artifact. Nothing under its real name appears unless it is complete.
    pub fn install(
        &self,
        lock: &LockedFile,
        req: &Request,
        progress: &Progress,
    ) -> Result<Outcome> {
        check_options(&req.read)?;
        self.install_source(lock, req, Source::open(&req.path)?, progress)
    }

    /// [`Store::install`] from an opened artifact (a download still being written, read as
    /// it grows); `req.path` names it in messages.
    pub fn install_source(
        &self,
        lock: &LockedFile,
        req: &Request,
        source: Source,
        progress: &Progress,
    ) -> Result<Outcome> {
        self.clean_leftovers(lock)?;
        let expected = check_options(&req.read)?;
        let pool = ObjectPool::open(self.dir_mut()?)?;
        let mut writer = EntryWriter::new(self, pool.clone(), req.repair)?;
        let staging = writer.staging().try_clone()?;
        let txn = writer.txn().to_string();
        progress.track(
            &format!("installing {}", req.path.display()),
            "files",
            crate::progress::Counters {
                bytes: source.reader.read.clone(),
                items: writer.files_counter(),
            },
            source.size(),
        );
        let result = (|| {
            let started = std::time::Instant::now();
            let read = read_source(source, &req.read, expected.as_deref(), &mut writer);
            progress.finish();
            let read = read?;
            tracing::debug!("extracted in {:?}", started.elapsed());
            let rebuilt = req.read.rebuilt_of.as_ref();
            let (name, version) = (&read.manifest.package.name, &read.manifest.package.version);
            let refuse = |actual: &str, want: &str| {
                crate::Error::Corrupt {
                entry: format!("{name}@{version}"),
                problem: format!(
                    "rebuilt from ranges, its store id is {actual}, the signed index says {want}; nothing was committed"
                ),
            }
            };
            if read.skipped {
                let existing = writer.existing.clone().unwrap_or_default();
                if let Some(r) = rebuilt {
                    if existing != super::entry_dir_name(name, version, &r.store_id) {
                        return Err(refuse(&existing, &r.store_id));
                    }
                }
                return Ok(Outcome::AlreadyInstalled(Entry::load(
                    self.dir_mut()?,
                    &existing,
                )?));
            }
            let repaired = req.repair && writer.existing.is_some();
            let built = writer.into_built()?;
            if let Some(r) = rebuilt {
                let id = built.list.id(&built.manifest)?;
                if id != r.store_id {
                    return Err(refuse(&id, &r.store_id));
                }
            }
            let origin = Origin {
                artifact: req
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: rebuilt.map_or(read.sha256, |r| r.sha256.clone()),
                format: read.format.name().to_string(),
                installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                files: 0,
                bytes: 0,
            };
            let mode = if req.repair {
                Mode::Repair
            } else {
                Mode::Install
            };
            let c = self.commit(built, origin, &pool, mode)?;
            tracing::debug!("committed after {:?}", started.elapsed());
            if c.existed {
                return Ok(Outcome::AlreadyInstalled(c.entry));
            }
            Ok(Outcome::Installed {
                entry: c.entry,
                special_bits_dropped: read.report.special_bits_dropped,
                new_objects: c.new_objects,
                repaired,
            })
        })();
        // On success the tree was renamed away; either way nothing of this try remains.
        let _ = crate::fsutil::remove_tree(&staging, &txn);
        result.map_err(|e| match e {
            // A full disk is about the root, not the member that happened to hit it.
            crate::Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
                crate::Error::DiskFull {
                    archive: req.path.clone(),
                    root: self.root().path().to_path_buf(),
                }
            }
            e => e,
        })
    }
}
