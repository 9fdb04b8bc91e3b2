//! Opening an artifact: telling its format from its first bytes, hashing every byte read
//! (the artifact's sha256 comes out of the same pass as the extraction), and decoding.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The largest zstd window accepted (2^27 = 128 MiB): a bigger one is a memory bomb.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Compression of a tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// xz.
    Xz,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Detects compression from magic bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else {
            Compression::None
        }
    }

    /// The name used in origins and messages.
    pub fn tar_name(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "tar.gz",
            Compression::Xz => "tar.xz",
            Compression::Zstd => "tar.zst",
        }
    }
}

/// Reads an artifact while hashing it and counting bytes (for progress).
pub struct HashingReader {
    inner: BufReader<File>,
    hasher: Sha256,
    /// Bytes read so far, shared with a progress bar.
    pub read: Arc<AtomicU64>,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl HashingReader {
    /// Reads what the decoder left (trailing padding) and returns the artifact's sha256.
    pub fn finish(mut self) -> std::io::Result<String> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(hex::encode(self.hasher.finalize()))
    }
}

/// An opened artifact.
pub struct Artifact {
    /// The path as given.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Compression detected from its content.
    pub compression: Compression,
    /// The hashing reader positioned at the start.
    pub reader: HashingReader,
}

impl Artifact {
    /// Opens a file and sniffs its compression.
    pub fn open(path: &Path) -> Result<Artifact> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::InputNotFound {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        if meta.is_dir() {
            return Err(Error::BadArchive {
                archive: path.to_path_buf(),
                detail: "is a directory (to make a package from a directory, use `berth pack`)"
                    .into(),
            });
        }
        let mut head = [0u8; 6];
        let mut probe = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let n = probe
            .read(&mut head)
            .map_err(|e| Error::io("read", path, e))?;
        Ok(Artifact {
            path: path.to_path_buf(),
            size: meta.len(),
            compression: Compression::sniff(&head[..n]),
            reader: HashingReader {
                inner: BufReader::with_capacity(256 << 10, file),
                hasher: Sha256::new(),
                read: Arc::new(AtomicU64::new(0)),
            },
        })
    }
}

/// Wraps `r` in the decoder for `c`.
pub fn decoder<'a>(
    c: Compression,
    r: &'a mut HashingReader,
    archive: &Path,
) -> Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new(r)),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(r).map_err(|e| Error::BadArchive {
                archive: archive.to_path_buf(),
                detail: e.to_string(),
            })?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| Error::BadArchive {
                    archive: archive.to_path_buf(),
                    detail: e.to_string(),
                })?;
            Box::new(d)
        }
    })
}

/// Hashes a whole file (for `pack` outputs and checks).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io("read", path, e))?;
    Ok(hex::encode(h.finalize()))
}
