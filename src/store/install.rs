//! Installing one artifact: extract into staging, make it durable, commit with one rename.

use super::entry::{Entry, Origin};
use super::listing::{FileList, Record};
use super::lock::LockedFile;
use super::object_pool::ObjectPool;
use super::staging::{Built, EntryWriter};
use super::Store;
use crate::error::{Error, IoContext, Result};
use crate::package::berth_format::BerthSink;
use crate::package::extract::{self, Limits, Options, SinkError};
use crate::package::manifest::{check_name, check_version, Manifest};
use crate::package::source::{decoder, Artifact};
use crate::package::tarball::name_version_from_file;
use crate::progress::Progress;
use std::path::{Path, PathBuf};

/// What the user asked to install.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The artifact.
    pub path: PathBuf,
    /// Package name (tarballs), checked against the manifest for `.berth` files.
    pub name: Option<String>,
    /// Package version (tarballs), checked against the manifest for `.berth` files.
    pub version: Option<String>,
    /// Leading components to drop (tarballs).
    pub strip_components: usize,
    /// Expected sha256 of the artifact.
    pub sha256: Option<String>,
    /// Extraction limits.
    pub limits: Limits,
}

/// What an install did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new entry.
    Installed {
        /// The entry.
        entry: Entry,
        /// Files whose setuid/setgid/sticky bits were dropped.
        special_bits_dropped: Vec<String>,
        /// Files written to the pool (the rest were linked).
        new_objects: usize,
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
        self.clean_leftovers(lock)?;
        let expected_sha = match &req.sha256 {
            Some(s) => Some(normalise_sha(s)?),
            None => None,
        };
        let artifact = Artifact::open(&req.path)?;
        let file_name = req
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_berth = file_name.ends_with(".berth");
        let format = if is_berth {
            "berth".to_string()
        } else {
            artifact.compression.tar_name().to_string()
        };
        // Tarballs need a name and version before anything is extracted.
        let tar_manifest = if is_berth {
            None
        } else {
            let guessed = name_version_from_file(&file_name);
            let name = req
                .name
                .clone()
                .or_else(|| guessed.as_ref().map(|g| g.0.clone()));
            let version = req
                .version
                .clone()
                .or_else(|| guessed.as_ref().map(|g| g.1.clone()));
            match (name, version) {
                (Some(n), Some(v)) => {
                    // A bad name or version here is a usage error (exit 2), not a bad manifest.
                    check_name("package name", &n)?;
                    check_version(&v)?;
                    Some(Manifest::new(&n, &v)?)
                }
                _ => {
                    return Err(Error::NeedNameVersion {
                        archive: req.path.clone(),
                    })
                }
            }
        };
        if is_berth && req.strip_components > 0 {
            return Err(Error::Usage(
                "--strip-components applies to tarballs, not .berth files".into(),
            ));
        }
        if let Some(n) = &req.name {
            check_name("package name", n)?;
        }
        if let Some(v) = &req.version {
            check_version(v)?;
        }

        let pool = ObjectPool::open(self.root.objects())?;
        let writer = EntryWriter::new(&self.root.staging(), pool.clone())?;
        let staging = writer.staging().to_path_buf();
        let result = self.extract_and_commit(
            req,
            artifact,
            writer,
            tar_manifest,
            &format,
            expected_sha.as_deref(),
            progress,
            &pool,
        );
        // On success the tree was renamed away; either way nothing of this try remains.
        let _ = crate::fsutil::remove_tree(&staging);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn extract_and_commit(
        &self,
        req: &Request,
        artifact: Artifact,
        mut writer: EntryWriter,
        tar_manifest: Option<Manifest>,
        format: &str,
        expected_sha: Option<&str>,
        progress: &Progress,
        pool: &ObjectPool,
    ) -> Result<Outcome> {
        let started = std::time::Instant::now();
        let is_berth = tar_manifest.is_none();
        let opts = Options {
            archive: req.path.clone(),
            strip_components: req.strip_components,
            limits: req.limits.clone(),
            allow_meta: is_berth,
        };
        progress.track(
            &format!("installing {}", req.path.display()),
            "files",
            crate::progress::Counters {
                bytes: artifact.reader.read.clone(),
                items: writer.files_counter(),
            },
            artifact.size,
        );
        let archive = req.path.clone();
        let Artifact {
            compression,
            mut reader,
            ..
        } = artifact;
        let (extracted, manifest) = {
            let dec = decoder(compression, &mut reader, &archive)?;
            if is_berth {
                let mut sink = BerthSink::new(&mut writer, &archive, Some(self.root.store()));
                let r = extract::extract(dec, &opts, &mut sink);
                (r, sink.manifest.take())
            } else {
                (extract::extract(dec, &opts, &mut writer), tar_manifest)
            }
        };
        // The artifact's hash decides first: a corrupt download is reported as such even
        // when the corruption also broke the archive.
        let actual_sha = reader.finish().ctx("read", &archive)?;
        if let Some(want) = expected_sha {
            if want != actual_sha {
                return Err(Error::ChecksumMismatch {
                    archive,
                    expected: want.to_string(),
                    actual: actual_sha,
                });
            }
        }
        progress.finish();
        tracing::debug!("extracted in {:?}", started.elapsed());
        let report = match extracted {
            Err(Error::AlreadyInstalled(dest)) => {
                return Ok(Outcome::AlreadyInstalled(Entry::load(&dest)?))
            }
            r => r?,
        };
        let manifest = manifest.ok_or_else(|| Error::BadArchive {
            archive: archive.clone(),
            detail: "no .berth/manifest.toml at the start of the package".into(),
        })?;
        if let Some(n) = &req.name {
            if n != &manifest.package.name {
                return Err(Error::Usage(format!(
                    "--name {n} does not match the package's name {}",
                    manifest.package.name
                )));
            }
        }
        if let Some(v) = &req.version {
            if v != &manifest.package.version {
                return Err(Error::Usage(format!(
                    "--version {v} does not match the package's version {}",
                    manifest.package.version
                )));
            }
        }
        let built = writer.finish().map_err(|e| name_archive(e, &archive))?;
        tracing::debug!("workers done after {:?}", started.elapsed());
        let origin = Origin {
            artifact: archive
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: actual_sha,
            format: format.to_string(),
            installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            files: built.list.file_count() as u64,
            bytes: built.list.bytes(),
        };
        let special = report.special_bits_dropped.clone();
        self.commit(built, &manifest, origin, pool, special)
    }

    /// Writes `.berth/`, makes everything read-only and durable, links new objects into
    /// the pool, and renames the tree into the store: the one commit point.
    fn commit(
        &self,
        built: Built,
        manifest: &Manifest,
        origin: Origin,
        pool: &ObjectPool,
        special_bits_dropped: Vec<String>,
    ) -> Result<Outcome> {
        let name = &manifest.package.name;
        let version = &manifest.package.version;
        let id = built.list.id(name, version);
        let dest = self.root.store().join(format!("{name}-{version}-{id}"));
        if dest.exists() {
            return Ok(Outcome::AlreadyInstalled(Entry::load(&dest)?));
        }
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
                archive: PathBuf::from(&origin.artifact),
            });
        }
        let tree = &built.tree;
        let meta = tree.join(".berth");
        std::fs::create_dir(&meta).ctx("create directory", &meta)?;
        write_ro(&meta.join("manifest.toml"), manifest.to_toml().as_bytes())?;
        write_ro(&meta.join("files"), built.list.to_text().as_bytes())?;
        let origin_text = toml::to_string(&origin).map_err(|e| Error::Other {
            message: format!("cannot record origin: {e}"),
            hint: "report this as a bug".into(),
        })?;
        write_ro(&meta.join("origin.toml"), origin_text.as_bytes())?;
        let t = std::time::Instant::now();
        let sealed_top = nix::unistd::geteuid().is_root();
        seal(tree, &built.list, sealed_top)?;
        tracing::debug!("sealed in {:?}", t.elapsed());
        crate::fsutil::syncfs(tree)?;
        tracing::debug!("data durable after {:?}", t.elapsed());
        // Only now, with the data durable, may the pool name these files: an object must
        // never exist with content that a power loss could still lose.
        use rayon::prelude::*;
        let tree_dir = super::dirfd::Dir::open(tree).ctx("open", tree)?;
        built
            .new_objects
            .par_iter()
            .try_for_each(|(path, sha, exec)| {
                match pool.link_in(&tree_dir, path, sha, *exec) {
                    Ok(()) => Ok(()),
                    // Two copies raced within this install: the other one is pooled.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                    Err(e) => Err(Error::io("link into pool", pool.path(sha, *exec), e)),
                }
            })?;
        tracing::debug!("pool links after {:?}", t.elapsed());
        if !built.new_objects.is_empty() {
            crate::fsutil::syncfs(tree)?;
        }
        tracing::debug!("links durable after {:?}", t.elapsed());
        std::fs::rename(tree, &dest).ctx("commit", &dest)?;
        if !sealed_top {
            // Only now can the top directory lose its write bit: moving a directory to
            // another parent rewrites its `..`, which needs write permission on it. Root
            // needs none and sealed it before the commit, so no crash leaves it writable.
            let top = super::dirfd::Dir::open(&dest).ctx("open", &dest)?;
            top.chmod(".", 0o555).ctx("chmod", &dest)?;
            top.set_mtime(".").ctx("set mtime", &dest)?;
            crate::fsutil::fsync_dir(&dest)?;
        }
        crate::fsutil::fsync_dir(&self.root.store())?;
        Ok(Outcome::Installed {
            entry: Entry::load(&dest)?,
            special_bits_dropped,
            new_objects: built.new_objects.len(),
        })
    }
}

fn write_ro(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).ctx("write", path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o444))
        .ctx("chmod", path)?;
    set_mtime(path)
}

fn set_mtime(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).ctx("open", path)?;
    super::dirfd::set_file_mtime(&f).ctx("set mtime", path)
}

/// Makes every directory (the top one only with `seal_top`) 0555 with the store's mtime, deepest first
/// (creating an entry in a directory changes its mtime, so parents come after their children).
fn seal(tree: &Path, list: &FileList, seal_top: bool) -> Result<()> {
    let dir = super::dirfd::Dir::open(tree).ctx("open", tree)?;
    let mut dirs: Vec<&str> = list
        .records
        .iter()
        .filter(|(_, r)| matches!(r, Record::Dir))
        .map(|(p, _)| p.as_str())
        .collect();
    dirs.push(".berth");
    dirs.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for d in dirs {
        dir.chmod(d, 0o555).ctx("chmod", tree.join(d))?;
        dir.set_mtime(d).ctx("set mtime", tree.join(d))?;
    }
    if seal_top {
        dir.chmod(".", 0o555).ctx("chmod", tree)?;
        dir.set_mtime(".").ctx("set mtime", tree)?;
    }
    Ok(())
}

fn name_archive(e: SinkError, archive: &Path) -> Error {
    match e {
        SinkError::Refused(why) => Error::Unsafe {
            archive: archive.to_path_buf(),
            member: String::new(),
            why,
        },
        SinkError::Fail(Error::Unsafe { member, why, .. }) => Error::Unsafe {
            archive: archive.to_path_buf(),
            member,
            why,
        },
        SinkError::Fail(Error::BadArchive { detail, .. }) => Error::BadArchive {
            archive: archive.to_path_buf(),
            detail,
        },
        SinkError::Fail(e) => e,
    }
}

fn normalise_sha(s: &str) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "--sha256 `{s}` is not 64 hexadecimal digits"
        )));
    }
    Ok(s)
}
