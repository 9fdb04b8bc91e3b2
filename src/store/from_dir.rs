//! Installing a tree berth prepared itself (what a package's maintainer scripts made) as an
//! entry: through the same writer, pool and commit as any archive, so it is content
//! addressed, immutable and durable like every entry.

use super::commit::Mode;
use super::entry::{Entry, Origin};
use super::object_pool::ObjectPool;
use super::writer::EntryWriter;
use super::Store;
use crate::error::{Error, Result};
use crate::lock::LockedFile;
use crate::package::listing::FileMode;
use crate::package::manifest::Manifest;
use crate::package::sink::{Sink, SinkError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

impl Store {
    /// Installs the regular files, directories and symlinks under `src` (other kinds are
    /// skipped) with `manifest`; `artifact` names where it came from in `origin.toml`.
    pub fn install_dir(
        &self,
        lock: &LockedFile,
        manifest: &Manifest,
        artifact: &str,
        src: &Path,
    ) -> Result<Entry> {
        self.clean_leftovers(lock)?;
        let pool = ObjectPool::open(self.dir_mut()?)?;
        let mut writer = EntryWriter::new(self, pool.clone(), false)?;
        let staging = writer.staging().try_clone()?;
        let txn = writer.txn().to_string();
        let result = (|| {
            sink(writer.begin(manifest, None))?;
            if src.is_dir() {
                walk(&mut writer, src, "")?;
            }
            sink(writer.finish())?;
            let built = writer.into_built()?;
            let origin = Origin {
                artifact: artifact.to_string(),
                sha256: String::new(),
                format: "made".into(),
                installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                files: 0,
                bytes: 0,
            };
            Ok(self.commit(built, origin, &pool, Mode::Install)?.entry)
        })();
        let _ = crate::fsutil::remove_tree(&staging, &txn);
        result
    }
}

fn sink<T>(r: std::result::Result<T, SinkError>) -> Result<T> {
    r.map_err(|e| match e {
        SinkError::Fail(e) => e,
        SinkError::Refused(why) => Error::Internal {
            what: "made entry",
            detail: why.to_string(),
        },
        SinkError::RefusedMember { member, why } => Error::Internal {
            what: "made entry",
            detail: format!("{member}: {why}"),
        },
    })
}

/// Delivers `dir/rel`'s children in name order, parents first.
fn walk(w: &mut EntryWriter, dir: &Path, rel: &str) -> Result<()> {
    let here = dir.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)
        .map_err(|e| Error::io("read directory", &here, e))?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for ent in names {
        let Some(name) = ent.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let full = dir.join(&path);
        let m = std::fs::symlink_metadata(&full).map_err(|e| Error::io("stat", &full, e))?;
        if m.is_dir() {
            sink(w.dir(&path))?;
            walk(w, dir, &path)?;
        } else if m.file_type().is_symlink() {
            let t = std::fs::read_link(&full).map_err(|e| Error::io("read link", &full, e))?;
            sink(w.symlink(&path, &t.to_string_lossy()))?;
        } else if m.is_file() {
            let mut f = std::fs::File::open(&full).map_err(|e| Error::io("open", &full, e))?;
            let mode = FileMode::native(m.permissions().mode());
            sink(w.file(&path, mode, m.len(), &mut f, None))?;
        }
    }
    Ok(())
}
