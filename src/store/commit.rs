//! The commit of an install: write `.berth/`, seal everything read-only with the store's
//! mtime, make it durable, link new content into the pool, and rename the tree into the
//! store: the one commit point. A repair swaps a rebuilt tree with the damaged entry in one
//! `renameat2(RENAME_EXCHANGE)`, so the entry never disappears for a reader.

use super::entry::{Entry, Origin, FILES, MANIFEST, META, ORIGIN};
use super::object_pool::ObjectPool;
use super::writer::Built;
use super::{entry_dir_name, Store, STAGING};
use crate::error::{Error, Result};
use crate::fsutil::Dir;
use crate::package::listing::{FileList, FileMode, Record};
use rayon::prelude::*;

/// How the commit places the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new entry: refused when one of the same name and version exists.
    Install,
    /// Replace the damaged entry of the same id in one atomic exchange.
    Repair,
}

/// What a commit did.
pub struct Committed {
    /// The entry.
    pub entry: Entry,
    /// Files linked into the pool.
    pub new_objects: usize,
    /// The same content was already installed (nothing was committed).
    pub existed: bool,
}

impl Store {
    /// Commits a finished staging tree as an entry.
    pub fn commit(
        &self,
        built: Built,
        mut origin: Origin,
        pool: &ObjectPool,
        mode: Mode,
    ) -> Result<Committed> {
        let store = self.dir_mut()?;
        let name = &built.manifest.package.name;
        let version = &built.manifest.package.version;
        let id = built.list.id(&built.manifest)?;
        let dest = entry_dir_name(name, version, &id);
        let exists = store.stat(&dest)?.is_some();
        if exists && mode == Mode::Install {
            return Ok(Committed {
                entry: Entry::load(store, &dest)?,
                new_objects: 0,
                existed: true,
            });
        }
        // A made entry is one per set its package's scripts ran in: several of one version
        // are expected (their `[made] inputs` differ), so they never clash.
        if !exists && built.manifest.made.is_none() {
            if let Some(other) = self
                .entries()?
                .into_iter()
                .find(|e| e.name() == name && e.version() == version)
            {
                return Err(Error::VersionClash {
                    name: name.clone(),
                    version: version.clone(),
                    installed: other.id().to_string(),
                    new: id,
                    archive: origin.artifact.clone().into(),
                });
            }
        }
        origin.files = built.list.file_count() as u64;
        origin.bytes = built.list.bytes();
        let tree = &built.tree;
        let t = std::time::Instant::now();
        write_meta(tree, &built, &origin)?;
        let seal_top = rustix::process::geteuid().is_root();
        seal(tree, &built.list, seal_top)?;
        tracing::debug!("commit: meta and seal {:?}", t.elapsed());
        tree.syncfs()?;
        tracing::debug!("commit: syncfs {:?}", t.elapsed());
        // Only now, with the data durable, may the pool name these files: an object must
        // never exist with content that a power loss could still lose.
        let placed = link_objects(tree, pool, &built.new_objects, mode)
            .inspect(|()| tracing::debug!("commit: pool links {:?}", t.elapsed()))
            .and_then(|()| place(store, tree, &built, &dest, exists));
        tracing::debug!("commit: placed {:?}", t.elapsed());
        if let Err(e) = placed {
            unlink_orphans(tree, pool, &built.new_objects);
            return Err(e);
        }
        if !seal_top {
            // Only now can the top directory lose its write bit: moving a directory to
            // another parent rewrites its `..`, which needs write permission on it. Root
            // needs none and sealed it before the commit, so no crash leaves it writable.
            let top = store.open_dir(&dest)?;
            top.chmod(".", 0o555)
                .map_err(|e| Error::io("chmod", top.path(), e))?;
            top.set_mtime(".")
                .map_err(|e| Error::io("set mtime", top.path(), e))?;
            top.fsync()?;
        }
        store.fsync()?;
        Ok(Committed {
            entry: Entry::load(store, &dest)?,
            new_objects: built.new_objects.len(),
            existed: false,
        })
    }
}

/// Makes the pool links durable and renames the tree into the store.
fn place(store: &Dir, tree: &Dir, built: &Built, dest: &str, exists: bool) -> Result<()> {
    if !built.new_objects.is_empty() {
        tree.syncfs()?;
    }
    let staging = store.open_dir(STAGING)?;
    let from = format!("{}/tree", built.txn);
    if exists {
        exchange(&staging, &from, store, dest)?;
    } else {
        staging.rename_noreplace(&from, store, dest)?;
    }
    Ok(())
}

fn write_meta(tree: &Dir, built: &Built, origin: &Origin) -> Result<()> {
    tree.mkdir(META, 0o755)
        .map_err(|e| Error::io("create directory", tree.join(META), e))?;
    let origin_text = toml::to_string(origin).map_err(|e| Error::Internal {
        what: "origin",
        detail: e.to_string(),
    })?;
    let manifest_text = built.manifest.to_toml()?;
    let seal = super::verify::seal_of(&manifest_text, &origin_text);
    for (rel, text) in [
        (MANIFEST, manifest_text),
        (FILES, built.list.to_text()),
        (ORIGIN, origin_text),
        (super::verify::SEAL, seal),
    ] {
        let mut f = tree
            .create_file(rel, 0o444)
            .map_err(|e| Error::io("create", tree.join(rel), e))?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|e| Error::io("write", tree.join(rel), e))?;
        rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(0o444))
            .map_err(|e| Error::io("chmod", tree.join(rel), e.into()))?;
        crate::fsutil::set_file_mtime(&f).map_err(|e| Error::io("set mtime", tree.join(rel), e))?;
    }
    Ok(())
}

/// Makes every directory (the top one only with `seal_top`) 0555 with the store's mtime,
/// deepest first (creating an entry in a directory changes its mtime, so parents come after
/// their children).
fn seal(tree: &Dir, list: &FileList, seal_top: bool) -> Result<()> {
    let mut dirs: Vec<&str> = list
        .records
        .iter()
        .filter(|(_, r)| matches!(r, Record::Dir))
        .map(|(p, _)| p.as_str())
        .collect();
    dirs.push(META);
    dirs.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for d in dirs {
        tree.chmod(d, 0o555)
            .map_err(|e| Error::io("chmod", tree.join(d), e))?;
        tree.set_mtime(d)
            .map_err(|e| Error::io("set mtime", tree.join(d), e))?;
    }
    if seal_top {
        tree.chmod(".", 0o555)
            .map_err(|e| Error::io("chmod", tree.path(), e))?;
        tree.set_mtime(".")
            .map_err(|e| Error::io("set mtime", tree.path(), e))?;
    }
    Ok(())
}

/// Links this install's new files into the pool. A repair replaces an object of the same
/// name (it may be the damaged one) with the freshly verified copy.
fn link_objects(
    tree: &Dir,
    pool: &ObjectPool,
    objects: &[(String, [u8; 32], FileMode)],
    mode: Mode,
) -> Result<()> {
    objects.par_iter().try_for_each(|(path, sha, file_mode)| {
        match pool.link_in(tree, path, sha, *file_mode) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && mode == Mode::Repair => {
                let rel = ObjectPool::rel(sha, *file_mode);
                let tmp = format!("{rel}.{}", crate::fsutil::temp_name("repair"));
                pool.dir()
                    .link_from_dir(tree, path, &tmp)
                    .map_err(|e| Error::io("link into pool", pool.dir().join(&tmp), e))?;
                pool.dir()
                    .rename_raw(&tmp, &rel)
                    .map_err(|e| Error::io("replace pool object", pool.path(sha, *file_mode), e))
            }
            // Two copies raced within this install, or an earlier crash pooled it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io("link into pool", pool.path(sha, *file_mode), e)),
        }
    })
}

/// After a failed commit: objects this install pooled whose only other link was in the
/// staging tree are orphans once the tree goes; remove them now rather than leave them to
/// `check` (the staging tree is removed by the caller first).
fn unlink_orphans(tree: &Dir, pool: &ObjectPool, objects: &[(String, [u8; 32], FileMode)]) {
    for (path, sha, file_mode) in objects {
        let rel = ObjectPool::rel(sha, *file_mode);
        let (Ok(Some(ours)), Ok(Some(obj))) = (tree.stat(path), pool.dir().stat(&rel)) else {
            continue;
        };
        // Only an object that is our own file, linked by nothing but the pool and the
        // staging tree.
        if (ours.st_dev, ours.st_ino) == (obj.st_dev, obj.st_ino) && obj.st_nlink <= 2 {
            let _ = pool.dir().remove_file(&rel);
        }
    }
}

/// Swaps the rebuilt tree with the damaged entry (both stay complete at every instant),
/// leaving the damaged one in staging to be removed with the transaction.
fn exchange(staging: &Dir, from: &str, store: &Dir, dest: &str) -> Result<()> {
    let (fp, fname) = match from.rsplit_once('/') {
        Some((p, n)) => (staging.open_dir(p)?, n),
        None => (staging.try_clone()?, from),
    };
    if !rustix::process::geteuid().is_root() {
        // Moving a directory to another parent needs write permission on it (for `..`).
        let _ = store.open_dir(dest)?.chmod(".", 0o755);
    }
    rustix::fs::renameat_with(
        fp.fd(),
        fname,
        store.fd(),
        dest,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| Error::io("exchange", store.join(dest), e.into()))
}
