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
    if !pkg.sha256.bytes().all(|b| b.is_ascii_hexdigit()) || pkg.sha256.len() != 64 {
        return Err(Error::BadIndex {
            url: repo.name.clone(),
            why: format!("sha256 `{}` is not 64 hex digits", pkg.sha256),
        }
        .into());
    }
    let rel = format!("{}/{}", super::CACHE_DIR, pkg.sha256);
    let dir = paths.dir(&rel)?;
    let name = pkg.file_name();
    let path = dir.join(name);
    if is_verified(&dir, name, pkg)? {
        return Ok(Fetched {
            path,
            downloaded: false,
            url: None,
        });
    }
    // Leftovers of an interrupted download (we hold the lock: nobody else is writing).
    for old in dir.entries()? {
        let _ = crate::fsutil::remove_tree(&dir, &old.name.to_string_lossy());
    }
    let mut errors = Vec::new();
    for base in &repo.urls {
        let url = fetch::join(base, &pkg.path);
        match download(&url, &dir, name, pkg, fetcher, progress) {
            Ok(()) => {
                return Ok(Fetched {
                    path,
                    downloaded: true,
                    url: Some(url),
                })
            }
            Err(e) => {
                if repo.urls.len() > 1 {
                    let first = e.to_string().lines().next().unwrap_or("").to_string();
                    tracing::warn!("{first}; trying the next mirror");
                }
                errors.push(e);
            }
        }
    }
    paths.remove_dir_if_empty(&rel)?;
    Err(trust::most_serious(errors))
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

fn download(
    url: &str,
    dir: &Dir,
    name: &str,
    pkg: &Package,
    fetcher: &Fetcher,
    progress: &Progress,
) -> Result<()> {
    let tmp = crate::fsutil::temp_name(name);
    let result = (|| {
        let file = dir
            .create_file(&tmp, 0o644)
            .map_err(|e| crate::Error::io("create", dir.join(&tmp), e))?;
        let bytes = Arc::new(AtomicU64::new(0));
        let mut w = HashingWriter {
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            count: bytes.clone(),
        };
        progress.track(
            &format!("downloading {}", pkg.reference()),
            "file",
            Counters {
                bytes,
                items: Arc::new(AtomicU64::new(1)),
            },
            pkg.size,
        );
        let fetched = fetcher.exact(url, pkg.size, &mut w);
        progress.finish();
        fetched?;
        w.out
            .flush()
            .map_err(|e| crate::Error::io("write", dir.join(&tmp), e))?;
        let actual = hex::encode(w.hasher.finalize());
        if actual != pkg.sha256 {
            return Err(Error::HashMismatch {
                url: url.to_string(),
                expected: pkg.sha256.clone(),
                actual,
            }
            .into());
        }
        dir.rename(&tmp, dir, name)
    })();
    if result.is_err() {
        let _ = dir.remove_file(&tmp);
    }
    result
}

/// Writes through to a file while hashing and counting (for the progress bar).
struct HashingWriter {
    out: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    count: Arc<AtomicU64>,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count.fetch_add(n as u64, Ordering::Relaxed);
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
}

/// Resolves `reference` (`name` or `name@version`), refuses an expired index (freeze), and
/// returns a verified copy in the cache. The caller holds the root's lock.
pub fn for_install(paths: &Paths, reference: &str, progress: &Progress) -> Result<ForInstall> {
    let (repo, known, package) = super::resolve::resolve(paths, reference)?;
    let policy = trust::Policy {
        // Only the past matters here: the limit ahead was checked when it was fetched.
        max_validity: std::time::Duration::from_secs(u32::MAX as u64),
        now: std::time::SystemTime::now(),
    };
    trust::check_expiry(&known.index, &known.state.url, &policy)?;
    let fetched = get(paths, &repo, &package, &Fetcher::new(), progress)?;
    Ok(ForInstall {
        repo: repo.name,
        package,
        fetched,
    })
}
