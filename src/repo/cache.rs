//! Verified downloads: `cache/<sha256>/<file name>` holds only bytes whose size and sha256
//! are what a signed index says. A download goes to a temporary name, is hashed as it
//! arrives, and is renamed into place only when it matches; anything else is deleted, never
//! resumed. Cache files are not fsynced: each is re-hashed before it is used again.

use super::fetch::{self, Fetcher};
use super::index::Package;
use super::trust::{self, Repo};
use super::{Error, Paths};
use crate::error::Result;
use crate::fsutil::Dir;
use crate::package::growth::Growth;
use crate::progress::{Counters, Progress};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A verified local copy of a package.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The file in the cache.
    pub path: PathBuf,
    /// False when a verified cached copy was reused.
    pub downloaded: bool,
    /// The URL it came from (None when reused).
    pub url: Option<String>,
}

/// Returns a verified copy of `pkg` from `repo`'s mirrors (tried in order), reusing a
/// cached one whose size and sha256 match. The caller holds the root's lock.
pub fn get(
    paths: &Paths,
    repo: &Repo,
    pkg: &Package,
    fetcher: &Fetcher,
    progress: &Progress,
) -> Result<Fetched> {
    match prepare(paths, pkg)? {
        Prepared::Cached(f) => Ok(f),
        Prepared::Fresh(d) => {
            let file = create(&d)?;
            let got = d.fetch(repo, file, pkg, fetcher, progress, None);
            d.finish(paths, got)
        }
    }
}

/// Where a package goes in the cache, and whether a verified copy is already there.
enum Prepared {
    Cached(Fetched),
    Fresh(Download),
}

/// A download into `dir/tmp`, renamed to `dir/name` when verified.
struct Download {
    rel: String,
    dir: Dir,
    name: String,
    tmp: String,
}

fn prepare(paths: &Paths, pkg: &Package) -> Result<Prepared> {
    if !pkg.sha256.bytes().all(|b| b.is_ascii_hexdigit()) || pkg.sha256.len() != 64 {
        return Err(Error::BadIndex {
            url: pkg.reference(),
            why: format!("sha256 `{}` is not 64 hex digits", pkg.sha256),
        }
        .into());
    }
    let rel = format!("{}/{}", super::CACHE_DIR, pkg.sha256);
    let dir = paths.dir(&rel)?;
    let name = pkg.file_name();
    if is_verified(&dir, name, pkg)? {
        return Ok(Prepared::Cached(Fetched {
            path: dir.join(name),
            downloaded: false,
            url: None,
        }));
    }
    // Leftovers of an interrupted download (we hold the lock: nobody else is writing).
    for old in dir.entries()? {
        let _ = crate::fsutil::remove_tree(&dir, &old.name.to_string_lossy());
    }
    Ok(Prepared::Fresh(Download {
        tmp: crate::fsutil::temp_name(name),
        name: name.to_string(),
        dir,
        rel,
    }))
}

fn create(d: &Download) -> Result<std::fs::File> {
    d.dir
        .create_file(&d.tmp, 0o644)
        .map_err(|e| crate::Error::io("create", d.dir.join(&d.tmp), e))
}

impl Download {
    /// Tries each mirror in order, each from the first byte (a reader of a growing file
    /// hashes what it read, so bytes a later mirror writes again change nothing it trusts).
    /// Returns the URL that gave the right bytes.
    fn fetch(
        &self,
        repo: &Repo,
        file: std::fs::File,
        pkg: &Package,
        fetcher: &Fetcher,
        progress: &Progress,
        growth: Option<&Growth>,
    ) -> Result<String> {
        let mut errors = Vec::new();
        let mut w = HashingWriter {
            out: file,
            hasher: Sha256::new(),
            count: Arc::new(AtomicU64::new(0)),
            growth,
        };
        for base in &repo.urls {
            let url = fetch::join(base, &pkg.path);
            match self.attempt(&url, &mut w, pkg, fetcher, progress) {
                Ok(()) => return Ok(url),
                Err(e) => {
                    if repo.urls.len() > 1 {
                        tracing::warn!("{e}; trying the next mirror");
                    }
                    errors.push(e);
                }
            }
        }
        Err(trust::most_serious(errors))
    }

    fn attempt(
        &self,
        url: &str,
        w: &mut HashingWriter,
        pkg: &Package,
        fetcher: &Fetcher,
        progress: &Progress,
    ) -> Result<()> {
        use std::io::Seek;
        w.out
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| crate::Error::io("write", self.dir.join(&self.tmp), e))?;
        w.hasher = Sha256::new();
        w.count.store(0, Ordering::Relaxed);
        progress.track(
            &format!("downloading {}", pkg.reference()),
            "file",
            Counters {
                bytes: w.count.clone(),
                items: Arc::new(AtomicU64::new(1)),
            },
            pkg.size,
        );
        let fetched = fetcher.exact(url, pkg.size, w);
        progress.finish();
        fetched?;
        let actual = hex::encode(std::mem::take(&mut w.hasher).finalize());
        if actual != pkg.sha256 {
            return Err(Error::HashMismatch {
                url: url.to_string(),
                expected: pkg.sha256.clone(),
                actual,
            }
            .into());
        }
        Ok(())
    }

    /// Renames a verified download into place, or removes what a failed one left.
    fn finish(&self, paths: &Paths, got: Result<String>) -> Result<Fetched> {
        let url = match got {
            Ok(url) => url,
            Err(e) => {
                let _ = self.dir.remove_file(&self.tmp);
                paths.remove_dir_if_empty(&self.rel)?;
                return Err(e);
            }
        };
        self.dir.rename(&self.tmp, &self.dir, &self.name)?;
        Ok(Fetched {
            path: self.dir.join(&self.name),
            downloaded: true,
            url: Some(url),
        })
    }
}

/// True when the cached `name` exists with the package's size and sha256 (a wrong copy is
/// deleted).
fn is_verified(dir: &Dir, name: &str, pkg: &Package) -> Result<bool> {
    match dir.stat(name)? {
        None => return Ok(false),
        Some(st) if st.st_size as u64 == pkg.size => {
            if let Some(mut f) = dir.open_file(name)? {
                let mut h = Sha256::new();
                std::io::copy(&mut f, &mut h)
                    .map_err(|e| crate::Error::io("read", dir.join(name), e))?;
                if hex::encode(h.finalize()) == pkg.sha256 {
                    return Ok(true);
                }
            }
        }
        Some(_) => {}
    }
    tracing::warn!(
        "{}: cached copy does not match the index; downloading again",
        dir.join(name).display()
    );
    crate::fsutil::remove_tree(dir, name)?;
    Ok(false)
}

/// Writes through to a file while hashing and counting (for the progress bar).
/// Unbuffered (the fetcher writes large chunks), so what it announces to a reader of the
/// growing file is in the file.
struct HashingWriter<'g> {
    out: std::fs::File,
    hasher: Sha256,
    count: Arc<AtomicU64>,
    growth: Option<&'g Growth>,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        let total = self.count.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if let Some(g) = self.growth {
            g.grew(total);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A package named by `reference` in the last good indexes, as a verified local file.
#[derive(Debug, Clone)]
pub struct ForInstall {
    /// The repository.
    pub repo: String,
    /// Its index entry.
    pub package: Package,
    /// The local copy.
    pub fetched: Fetched,
    /// What came over the wire for it.
    pub transfer: super::delta::Transfer,
}

/// Resolves `reference` (`name` or `name@version`), refuses an expired index (freeze), and
/// hands the package to `install` while it downloads: `install` gets the file being written
/// (with its [`Growth`]) and reads it as it arrives, or the verified cached copy, opened through
/// the root's dir handle (named by `ForInstall::fetched`). The download runs on its own thread, so
/// download, hashing and extraction overlap; it still ends in `cache/` only when its size
/// and sha256 match. The caller holds the root's lock and must verify the sha256 of what it
/// read before committing anything.
///
/// With `delta` (what the store holds), a seekable `.berth` whose index entry allows it and
/// whose files the store partly holds is fetched by ranges instead ([`super::delta`]) and
/// handed over as [`Artifact::Rebuilt`]; nothing of it stays in the cache.
pub fn for_install<T>(
    paths: &Paths,
    reference: &str,
    from: Option<&str>,
    delta: Option<&super::delta::Want<'_>>,
    mut install: impl FnMut(&ForInstall, Artifact) -> Result<T>,
) -> Result<(ForInstall, T)> {
    let super::resolve::Resolved {
        repo,
        known,
        package,
    } = super::resolve::resolve(paths, reference, from)?;
    let fetcher = trust::fetcher(paths)?;
    let policy = trust::Policy {
        // Only the past matters here: the limit ahead was checked when it was fetched.
        max_validity: std::time::Duration::from_secs(u32::MAX as u64),
        now: std::time::SystemTime::now(),
    };
    trust::check_expiry(&known.index, &known.state.url, &policy)?;
    let d = match prepare(paths, &package)? {
        Prepared::Cached(fetched) => {
            // Reopened through the cache's dir handle, never by its path string: a link
            // planted in the root must not lead the install outside it.
            let dir = paths.dir(&format!("{}/{}", super::CACHE_DIR, package.sha256))?;
            let Some(file) = dir.open_file(package.file_name())? else {
                return Err(crate::Error::InputNotFound { path: fetched.path });
            };
            let fi = ForInstall {
                repo: repo.name,
                package,
                fetched,
                transfer: super::delta::Transfer::cached(),
            };
            let t = install(&fi, Artifact::Cached(file))?;
            return Ok((fi, t));
        }
        Prepared::Fresh(d) => d,
    };
    let mut spent = super::delta::Transfer::cached();
    if let (Some(want), Some(base)) = (delta, repo.urls.first()) {
        let url = fetch::join(base, &package.path);
        let tried = super::delta::attempt(&d.dir, &d.name, &package, &url, &fetcher, want);
        match tried {
            Ok(super::delta::Attempt::Rebuilt { tmp, url, transfer }) => {
                let fi = ForInstall {
                    repo: repo.name.clone(),
                    package: package.clone(),
                    fetched: Fetched {
                        path: d.dir.join(&d.name),
                        downloaded: true,
                        url: Some(url),
                    },
                    transfer,
                };
                let t = match d.dir.open_file(&tmp) {
                    Ok(Some(file)) => install(&fi, Artifact::Rebuilt(file)),
                    Ok(None) => Err(crate::Error::InputNotFound {
                        path: d.dir.join(&tmp),
                    }),
                    Err(e) => Err(e),
                };
                // The rebuild is not the signed file: it never stays in the cache.
                let _ = d.dir.remove_file(&tmp);
                paths.remove_dir_if_empty(&d.rel)?;
                return t.map(|t| (fi, t));
            }
            Ok(super::delta::Attempt::Fallback { why, spent: s }) => {
                tracing::debug!("{}: no range install: {why}", package.reference());
                spent = s;
            }
            // Another mirror may answer: the full download tries each in turn.
            Err(e)
                if repo.urls.len() > 1
                    && e.downcast_ref::<Error>().is_some_and(Error::is_network) =>
            {
                tracing::warn!("{e}; downloading the whole file instead");
            }
            Err(e) => {
                paths.remove_dir_if_empty(&d.rel)?;
                return Err(e);
            }
        }
    }
    let writer = create(&d)?;
    let Some(reader) = d.dir.open_file(&d.tmp)? else {
        return Err(crate::Error::InputNotFound {
            path: d.dir.join(&d.tmp),
        });
    };
    let growth = Growth::new();
    let fi = ForInstall {
        repo: repo.name.clone(),
        package: package.clone(),
        fetched: Fetched {
            path: d.dir.join(&d.name),
            downloaded: true,
            url: None,
        },
        transfer: super::delta::Transfer {
            mode: "full",
            bytes: spent.bytes + package.size,
            requests: spent.requests + 1,
        },
    };
    let (got, t) = std::thread::scope(|s| {
        let downloading = s.spawn(|| {
            // The reader must never wait for a writer that is gone, whatever happens here.
            let ender = EndGuard(&growth);
            let got = d.fetch(
                &repo,
                writer,
                &package,
                &fetcher,
                &Progress::hidden(),
                Some(&growth),
            );
            ender.end(&got);
            got
        });
        let t = install(
            &fi,
            Artifact::Growing(Growing {
                file: reader,
                growth: growth.clone(),
            }),
        );
        let got = downloading.join().unwrap_or_else(|_| {
            Err(crate::Error::io(
                "download",
                d.dir.join(&d.name),
                std::io::Error::other("the download thread failed"),
            ))
        });
        (got, t)
    });
    let first = repo.urls.first().map(|b| fetch::join(b, &package.path));
    let fetched = d.finish(paths, got);
    // A mirror before the one that gave the right bytes gave wrong ones, and the install
    // read those as they arrived: install again from the copy now verified in the cache.
    let t = match (&fetched, t) {
        (Ok(f), Err(e)) if f.url.is_some() && f.url != first => {
            tracing::debug!("install from the growing download failed: {e}");
            tracing::warn!(
                "{}: installing again from the copy verified from {}, since an earlier mirror's bytes were wrong",
                fi.package.reference(),
                f.url.as_deref().unwrap_or_default()
            );
            let Some(file) = d.dir.open_file(&d.name)? else {
                return Err(crate::Error::InputNotFound {
                    path: f.path.clone(),
                });
            };
            install(&fi, Artifact::Cached(file))
        }
        (_, t) => t,
    };
    settle(fi, fetched, t)
}

/// The outcome of an install that read a download as it arrived, from both sides' results.
fn settle<T>(
    mut fi: ForInstall,
    fetched: Result<Fetched>,
    t: Result<T>,
) -> Result<(ForInstall, T)> {
    match (fetched, t) {
        (Ok(f), Ok(t)) => {
            fi.fetched = f;
            Ok((fi, t))
        }
        // The download's own error is the cause when it failed (bytes other than the signed
        // ones, cut, too many): the install only saw its bytes stop or go wrong. The download
        // is allowed to finish after a refused install for this (it is capped at the size
        // the index gives).
        (Err(e), Err(_)) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        // The entry is committed from bytes whose sha256 matched; only the cache copy is
        // missing.
        (Err(e), Ok(t)) => {
            tracing::warn!("{e}; the package is installed but not kept in the cache");
            Ok((fi, t))
        }
    }
}

/// What the installer reads: a verified cached copy, or a download in progress.
pub enum Artifact {
    /// The verified cached copy, opened through the root's dir handle.
    Cached(std::fs::File),
    /// A download still being written.
    Growing(Growing),
    /// A local rebuild of the package from verified ranges ([`super::delta`]): not the
    /// signed file, so it is installed by its signed store id, not by its sha256.
    Rebuilt(std::fs::File),
}

/// A download in progress, for the installer.
pub struct Growing {
    /// The file being written, opened for reading.
    pub file: std::fs::File,
    /// How far it has come.
    pub growth: Arc<Growth>,
}

/// Ends the growth with the download's outcome, or with an error when the thread unwinds.
struct EndGuard<'g>(&'g Growth);

impl EndGuard<'_> {
    fn end(self, got: &Result<String>) {
        self.0
            .end(got.as_ref().map(|_| ()).map_err(|e| e.to_string()));
    }
}

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        self.0.end(Err("the download stopped".into()));
    }
}
