//! Verified downloads: `cache/<sha256>/<file name>` holds only bytes whose size and sha256
//! are what a signed index says. A download goes to a temporary name, is hashed as it
//! arrives, and is renamed into place only when it matches; anything else is deleted, never
//! resumed. Cache files are not fsynced: each is re-hashed before it is used again.

use super::fetch::{self, Fetcher};
use super::index::Package;
use super::trust::{self, Repo};
use super::{Error, Paths};
use crate::error::{IoContext, Result};
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
    let dir = paths.cache().join(&pkg.sha256);
    let path = dir.join(pkg.file_name());
    if is_verified(&path, pkg)? {
        return Ok(Fetched {
            path,
            downloaded: false,
            url: None,
        });
    }
    crate::fsutil::create_dir_all(&dir)?;
    // Leftovers of an interrupted download (we hold the lock: nobody else is writing).
    for old in crate::fsutil::children(&dir)? {
        let _ = std::fs::remove_file(old);
    }
    let mut errors = Vec::new();
    for base in &repo.urls {
        let url = fetch::join(base, &pkg.path);
        match download(&url, &path, pkg, fetcher, progress) {
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
    let _ = std::fs::remove_dir(&dir);
    Err(trust::most_serious(errors))
}

/// True when `path` exists with the package's size and sha256 (a wrong copy is deleted).
fn is_verified(path: &std::path::Path, pkg: &Package) -> Result<bool> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(crate::Error::io("stat", path, e)),
        Ok(m) if m.len() == pkg.size => {
            if crate::package::source::sha256_file(path)? == pkg.sha256 {
                return Ok(true);
            }
        }
        Ok(_) => {}
    }
    tracing::warn!(
        "{}: cached copy does not match the index; downloading again",
        path.display()
    );
    std::fs::remove_file(path).ctx("remove", path)?;
    Ok(false)
}

fn download(
    url: &str,
    path: &std::path::Path,
    pkg: &Package,
    fetcher: &Fetcher,
    progress: &Progress,
) -> Result<()> {
    let tmp = crate::fsutil::temp_sibling(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp).ctx("create", &tmp)?;
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
        w.out.flush().ctx("write", &tmp)?;
        let actual = hex::encode(w.hasher.finalize());
        if actual != pkg.sha256 {
            return Err(Error::HashMismatch {
                url: url.to_string(),
                expected: pkg.sha256.clone(),
                actual,
            }
            .into());
        }
        std::fs::rename(&tmp, path).ctx("rename into place", path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
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
