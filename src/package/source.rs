//! Opening an artifact: only a regular file (a fifo or `/dev/zero` would never end), its
//! format told from its content (magic bytes; the file name is only a hint for a tarball's
//! name and version), every byte hashed as it is read (the artifact's sha256 comes out of
//! the same pass as the extraction). A file that a download is still writing is read as it
//! grows ([`Growth`]).

use super::compression::{decoder, tar_checksum_ok, Compression};
use super::growth::{GrowingFile, Growth};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A berth package: a tar (zstd as `pack` writes it) starting with `.berth/manifest.toml`.
    Berth(Compression),
    /// A plain tarball.
    Tar(Compression),
    /// A Debian package (`ar` archive).
    Deb,
    /// An RPM package.
    Rpm,
}

impl Format {
    /// The name recorded in an entry's origin: `berth`, `tar.gz`, `deb` …
    pub fn name(self) -> &'static str {
        match self {
            Format::Berth(_) => "berth",
            Format::Tar(c) => c.tar_name(),
            Format::Deb => "deb",
            Format::Rpm => "rpm",
        }
    }
}

/// Bytes read from the start of a file to tell its format: more than one whole zstd block
/// (up to 128 KiB, stored raw when the data does not compress), so the first tar header
/// can be decoded whatever the content.
const SNIFF: usize = 256 << 10;

/// An opened artifact.
pub struct Source {
    path: PathBuf,
    size: u64,
    format: Format,
    /// Nothing but zero bytes (or none at all): an empty tar at best.
    looks_empty: bool,
    /// The reader positioned at the start.
    pub reader: HashingReader,
}

impl Source {
    /// Opens a regular file and tells its format from its content.
    pub fn open(path: &Path) -> Result<Source> {
        let file = match std::fs::OpenOptions::new()
            .read(true)
            // A fifo must not block the open; refused below anyway.
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::InputNotFound {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("open", path, e)),
        };
        Source::from_file(file, path)
    }

    /// [`Source::open`] for a file already opened (a cached download reached through the
    /// root's dir handle); `path` names it in messages.
    pub fn from_file(file: File, path: &Path) -> Result<Source> {
        let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        let ft = meta.file_type();
        if !ft.is_file() {
            let kind = match ft.is_dir() {
                true => "a directory; to make a package from a directory, use `berth pack`",
                false => crate::fsutil::kind_name(&ft),
            };
            return Err(Error::InputNotRegular {
                path: path.to_path_buf(),
                kind,
            });
        }
        let (format, looks_empty) = sniff_file(&file, path)?;
        Ok(Source::new(
            path,
            meta.len(),
            format,
            looks_empty,
            Inner::File(file),
        ))
    }

    /// Opens `file`, which another thread is writing and announces through `growth` (a
    /// download of `size` bytes; `path` is where it will be, for messages). Reads wait for
    /// the writer; the format is told once the first bytes are there. The caller checks the
    /// sha256 of what was read before anything is committed: bytes are trusted no more than
    /// those of a finished file.
    pub fn open_growing(file: File, path: &Path, size: u64, growth: Arc<Growth>) -> Result<Source> {
        let head = growth
            .wait_beyond((SNIFF.min(size as usize) as u64).saturating_sub(1))
            .map_err(|e| Error::io("read", path, e))?;
        let (format, looks_empty) = if head == 0 {
            (Format::Tar(Compression::None), true)
        } else {
            sniff_file(&file, path)?
        };
        let inner = Inner::Growing(GrowingFile::new(file, growth));
        Ok(Source::new(path, size, format, looks_empty, inner))
    }

    fn new(path: &Path, size: u64, format: Format, looks_empty: bool, inner: Inner) -> Source {
        Source {
            path: path.to_path_buf(),
            size,
            format,
            looks_empty,
            reader: HashingReader {
                inner: BufReader::with_capacity(256 << 10, inner),
                hasher: Sha256::new(),
                read: Arc::new(AtomicU64::new(0)),
            },
        }
    }

    /// The zstd seek table at the end of the file, if it has one that fits it exactly. A
    /// file still being downloaded has none yet: it is read from start to end.
    pub fn seek_table(&self) -> Option<super::seekable::SeekTable> {
        match self.reader.inner.get_ref() {
            Inner::File(f) => super::seekable::SeekTable::read(f, self.size),
            Inner::Growing(_) => None,
        }
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Its format.
    pub fn format(&self) -> Format {
        self.format
    }
    /// Whether it holds nothing but zero bytes (0 bytes, or an empty tar): refused unless
    /// the caller accepts empty packages.
    pub fn looks_empty(&self) -> bool {
        self.looks_empty
    }
}

/// Tells the format of an open file from its first bytes (read with `pread`, so the file's
/// position stays at the start), and whether those bytes are all zero (or none).
fn sniff_file(file: &File, path: &Path) -> Result<(Format, bool)> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; SNIFF];
    let mut n = 0;
    while n < head.len() {
        let k = file
            .read_at(&mut head[n..], n as u64)
            .map_err(|e| Error::io("read", path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    // Read as an empty tar; the reader refuses it (or --allow-empty takes it).
    if head.iter().all(|&b| b == 0) {
        return Ok((Format::Tar(Compression::None), true));
    }
    if head.starts_with(b"!<arch>\n") {
        return Ok((Format::Deb, false));
    }
    if head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        return Ok((Format::Rpm, false));
    }
    let c = Compression::sniff(&head);
    // Decode just enough of the start to read the first tar header's name.
    let mut first = Vec::with_capacity(512);
    let mut cursor: &[u8] = &head;
    let decoded = decoder(c, &mut cursor, path).and_then(|d| {
        d.take(512)
            .read_to_end(&mut first)
            .map_err(|e| Error::io("read", path, e))
    });
    if c == Compression::None {
        if !tar_checksum_ok(&head) {
            return Err(Error::BadArchive {
                archive: path.to_path_buf(),
                detail: format!(
                    "not a package format berth knows (it starts with {})",
                    describe_bytes(&head[..head.len().min(8)])
                )
                .into(),
            });
        }
    } else if decoded.is_err() && first.is_empty() {
        // A broken stream is reported when it is read; the format is still the tarball.
        return Ok((Format::Tar(c), false));
    }
    let name_end = first
        .iter()
        .take(100)
        .position(|&b| b == 0)
        .unwrap_or(100.min(first.len()));
    let name = &first[..name_end];
    // The content decides; a tar named `.berth` is held to the format's rules too (a
    // broken berth package should be refused as one, not installed as a tarball).
    let named_berth = path.extension().is_some_and(|e| e == "berth");
    if name == b".berth/manifest.toml" || name == b"./.berth/manifest.toml" || named_berth {
        Ok((Format::Berth(c), false))
    } else {
        Ok((Format::Tar(c), false))
    }
}

fn describe_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The file under a [`HashingReader`].
enum Inner {
    File(File),
    Growing(GrowingFile),
}

impl Read for Inner {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Inner::File(f) => f.read(buf),
            Inner::Growing(g) => g.read(buf),
        }
    }
}

/// Reads an artifact while hashing it and counting bytes (for progress and the ratio guard).
pub struct HashingReader {
    inner: BufReader<Inner>,
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
    /// Reads what is left of the file and returns the artifact's sha256.
    pub fn finish(mut self) -> std::io::Result<String> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(hex::encode(self.hasher.finalize()))
    }
}

/// Hashes a whole file (for `pack` outputs and checks).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io("read", path, e))?;
    Ok(hex::encode(h.finalize()))
}
