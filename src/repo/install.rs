//! Installing one `berth install` argument: a local file held to the signature policy, or
//! a package named in the repositories' indexes (the one path that `install NAME[@VERSION]`
//! and `berth apply` share). A named package is resolved in the last good indexes,
//! downloaded into the cache and read into the store as it arrives; the store commits it
//! only when its sha256 is the one the signed index gives. Returns what to tell the user;
//! the caller prints it.

use super::cache::{self, ForInstall};
use super::policy::{check_local, Verdict};
use super::Paths;
use crate::error::{Error, Result};
use crate::lock::LockedFile;
use crate::package::listing::FileMode;
use crate::package::source::Source;
use crate::progress::Progress;
use crate::store::install::{Outcome, Request};
use crate::store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where one argument's bytes came from (part of `install --json`'s row).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Origin {
    /// The repository it was resolved in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Whether it was downloaded (false: a verified cached copy was reused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloaded: Option<bool>,
    /// The key id that signed a local file (`--signature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// The store id the index gives.
    #[serde(skip)]
    pub store_id: Option<String>,
    /// What came over the wire: by ranges, whole, or nothing (cached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<super::delta::Transfer>,
}

/// Something the user is told about one argument, besides its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A local file installed without the signature config.toml requires (`--insecure`).
    Unsigned {
        /// The file.
        file: PathBuf,
    },
    /// Downloaded from a repository.
    Downloaded {
        /// `name@version`.
        reference: String,
        /// Where from.
        url: String,
        /// Its size in bytes.
        size: u64,
    },
    /// Fetched by range requests: only the frames of files the store lacked.
    Ranges {
        /// `name@version`.
        reference: String,
        /// Where from.
        url: String,
        /// Bytes fetched.
        fetched: u64,
        /// The package's size in bytes.
        size: u64,
        /// Requests made.
        requests: u64,
    },
    /// A verified cached copy was reused.
    Cached {
        /// `name@version`.
        reference: String,
    },
}

/// One argument installed.
#[derive(Debug)]
pub struct Installed {
    /// What the store did.
    pub outcome: Outcome,
    /// Where its bytes came from.
    pub origin: Origin,
    /// What to tell the user.
    pub notice: Option<Notice>,
}

/// The signature flags of a local file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signature<'a> {
    /// `--signature FILE`: a detached minisign signature.
    pub file: Option<&'a Path>,
    /// `--insecure`: install without the signature config.toml requires.
    pub insecure: bool,
}

/// Installs one argument: an existing file (held to the signature policy), or a repository
/// reference when it is not a file, looks like one and repositories are configured. `req`
/// gives the path, the read options and `repair`.
pub fn install_arg(
    store: &Store,
    lock: &LockedFile,
    mut req: Request,
    sig: Signature<'_>,
    from: Option<&str>,
    progress: &Progress,
) -> Result<Installed> {
    let paths = Paths::new(store.root());
    let arg = req.path.clone();
    let named = !arg.is_file()
        && super::resolve::looks_like_reference(&arg.to_string_lossy())
        && !super::trust::Repos::load(&paths)?.repos.is_empty();
    if !named {
        if from.is_some() {
            return Err(Error::BadFlag {
                flag: "--from",
                why: format!(
                    "{} is a local file (or no repository is configured); --from names the repository a NAME[@VERSION] comes from",
                    arg.display()
                ),
            });
        }
        let verdict = check_local(&paths, &arg, sig.file, sig.insecure)?;
        let notice = (verdict == Verdict::Insecure).then_some(Notice::Unsigned { file: arg });
        let signed_by = match verdict {
            Verdict::Signed { key_id, sha256 } => {
                // The store refuses the file if it changed since it was verified.
                req.read.sha256 = req.read.sha256.or(Some(sha256));
                Some(key_id)
            }
            _ => None,
        };
        let outcome = store.install(lock, &req, progress)?;
        let origin = Origin {
            signed_by,
            ..Origin::default()
        };
        return Ok(Installed {
            outcome,
            origin,
            notice,
        });
    }
    let r = &req.read;
    if sig.file.is_some() || r.sha256.is_some() || r.name.is_some() || r.version.is_some() {
        return Err(Error::BadFlag {
            flag: "--signature/--sha256/--name/--version",
            why: "they apply to local files; a repository's index already says them".into(),
        });
    }
    let (got, outcome) = by_name_from(store, lock, &arg.to_string_lossy(), from, req, progress)?;
    let p = &got.package;
    let notice = match &got.fetched.url {
        Some(url) if got.transfer.mode == "ranges" => Notice::Ranges {
            reference: p.reference(),
            url: url.clone(),
            fetched: got.transfer.bytes,
            size: p.size,
            requests: got.transfer.requests,
        },
        Some(url) => Notice::Downloaded {
            reference: p.reference(),
            url: url.clone(),
            size: p.size,
        },
        None => Notice::Cached {
            reference: p.reference(),
        },
    };
    let origin = Origin {
        repository: Some(got.repo.clone()),
        downloaded: Some(got.fetched.downloaded),
        signed_by: None,
        store_id: p.store_id.clone(),
        transfer: Some(got.transfer.clone()),
    };
    Ok(Installed {
        outcome,
        origin,
        notice: Some(notice),
    })
}

/// Installs `reference` (`name` or `name@version`); `req` gives the limits and `repair`,
/// and its path, name, version, strip and sha256 are set from the index.
pub fn by_name(
    store: &Store,
    lock: &LockedFile,
    reference: &str,
    req: Request,
    progress: &Progress,
) -> Result<(ForInstall, Outcome)> {
    by_name_from(store, lock, reference, None, req, progress)
}

/// As [`by_name`], from repository `from` when given (`install --from`); the name is then
/// bound to the repository it came from (pinned: see `resolve::resolve`).
pub fn by_name_from(
    store: &Store,
    lock: &LockedFile,
    reference: &str,
    from: Option<&str>,
    req: Request,
    progress: &Progress,
) -> Result<(ForInstall, Outcome)> {
    let paths = Paths::new(store.root());
    let pool = match store.dir() {
        Some(d) => crate::store::object_pool::ObjectPool::open_existing(d)?,
        None => None,
    };
    let pooled = |sha: &[u8; 32], mode: FileMode, size: u64| {
        pool.as_ref().is_some_and(|p| {
            p.dir()
                .stat(&crate::store::object_pool::ObjectPool::rel(sha, mode))
                .ok()
                .flatten()
                .is_some_and(|st| {
                    st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_size as u64 == size
                })
        })
    };
    let want = super::delta::Want {
        pooled: &pooled,
        max_ratio: req.read.limits.max_ratio,
    };
    // A repair rebuilds an entry from the package's own bytes, not from the pool.
    let delta = (pool.is_some() && !req.repair).then_some(&want);
    let (got, outcome) = cache::for_install(&paths, reference, from, delta, |got, growing| {
        let mut req = req.clone();
        let p = &got.package;
        req.path = got.fetched.path.clone();
        req.read.name = Some(p.name.clone());
        req.read.version = Some(p.version.clone());
        req.read.strip_components = p.strip_components;
        req.read.sha256 = Some(p.sha256.clone());
        match growing {
            cache::Artifact::Cached(file) => {
                let source = Source::from_file(file, &req.path)?;
                store.install_source(lock, &req, source, progress)
            }
            cache::Artifact::Rebuilt(file) => {
                let Some(store_id) = p.store_id.clone() else {
                    return Err(Error::Internal {
                        what: "range install",
                        detail: "no store id in the index".into(),
                    });
                };
                req.read.sha256 = None;
                req.read.rebuilt_of = Some(crate::package::stream::RebuiltOf {
                    store_id,
                    sha256: p.sha256.clone(),
                });
                // The ratio was judged on the real package; pooled files are zeros here.
                req.read.limits.max_ratio = u64::MAX;
                let source = Source::from_file(file, &req.path)?;
                store.install_source(lock, &req, source, progress)
            }
            cache::Artifact::Growing(g) => {
                let source = Source::open_growing(g.file, &req.path, p.size, g.growth)?;
                store.install_source(lock, &req, source, progress)
            }
        }
    })?;
    super::resolve::pin(&paths, &got.package.name, &got.repo, from.is_some())?;
    Ok((got, outcome))
}
