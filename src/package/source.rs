//! Opening an artifact: only a regular file (a fifo or `/dev/zero` would never end), its
//! format told from its content (magic bytes; the file name is only a hint for a tarball's
//! name and version), every byte hashed as it is read (the artifact's sha256 comes out of
//! the same pass as the extraction), and decoders that refuse decompression bombs. A file
//! that a download is still writing is read as it grows ([`Growth`]), so download, hashing
//! and extraction overlap and the bytes are read once.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// The largest zstd window accepted (2^27 = 128 MiB): a bigger one is a memory bomb.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// The most memory an xz stream may need to decode (xz -9 needs 65 MiB).
pub const XZ_MEMLIMIT: u64 = 128 << 20;

/// Compression of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// None.
    None,
    /// gzip (several members are read as one stream).
    Gzip,
    /// xz.
    Xz,
    /// Zstandard (skippable frames allowed anywhere, as `pzstd` writes them).
    Zstd,
    /// bzip2.
    Bzip2,
    /// The legacy `.lzma` format.
    Lzma,
}

impl Compression {
    /// Decoders much slower than checking and storing what they produce (everything but
    /// zstd): worth a thread of their own ([`super::pump`]).
    pub fn is_slow(self) -> bool {
        !matches!(self, Compression::None | Compression::Zstd)
    }

    /// Detects compression from magic bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        let skippable =
            head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18];
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || skippable {
            Compression::Zstd
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(b"BZh") && head.get(3).is_some_and(|c| (b'1'..=b'9').contains(c))
        {
            Compression::Bzip2
        } else if is_lzma(head) {
            Compression::Lzma
        } else {
            Compression::None
        }
    }

    /// The name used in origins and messages (`tar.gz` …).
    pub fn tar_name(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "tar.gz",
            Compression::Xz => "tar.xz",
            Compression::Zstd => "tar.zst",
            Compression::Bzip2 => "tar.bz2",
            Compression::Lzma => "tar.lzma",
        }
    }
}

/// The legacy lzma header: properties byte 0x5d (the only one lzma tools write), a
/// power-of-two dictionary size, and a tar header would never look like this.
fn is_lzma(head: &[u8]) -> bool {
    if head.len() < 13 || head[0] != 0x5d {
        return false;
    }
    let dict = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    dict.is_power_of_two() && dict >= 1 << 12 && !tar_checksum_ok(head)
}

/// Whether `head` starts with a tar header whose checksum is right.
fn tar_checksum_ok(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    let field = &head[148..156];
    let end = field.iter().position(|&b| b == 0 || b == b' ').unwrap_or(8);
    let Ok(want) = std::str::from_utf8(&field[..end]).map(str::trim) else {
        return false;
    };
    let Ok(want) = u32::from_str_radix(want, 8) else {
        return false;
    };
    let sum: u32 = head[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == want
}

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
            let kind = if ft.is_dir() {
                "a directory; to make a package from a directory, use `berth pack`"
            } else if ft.is_fifo() {
                "a fifo"
            } else if ft.is_char_device() {
                "a character device"
            } else if ft.is_block_device() {
                "a block device"
            } else {
                "a socket"
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
        let inner = Inner::Growing(GrowingFile {
            file,
            pos: 0,
            growth,
        });
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
                ),
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

/// How far a file being written has come, shared between its writer and its reader.
#[derive(Debug, Default)]
pub struct Growth {
    state: Mutex<GrowthState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GrowthState {
    /// Bytes at the start of the file that are written.
    written: u64,
    /// Set when the writer is done: `Ok` when the file is whole, else why it is not.
    end: Option<std::result::Result<(), String>>,
}

impl Growth {
    /// A file nothing has been written to yet.
    pub fn new() -> Arc<Growth> {
        Arc::new(Growth::default())
    }

    /// The first `written` bytes are in the file (never goes back).
    pub fn grew(&self, written: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.written = st.written.max(written);
        self.changed.notify_all();
    }

    /// The writer is done: the file is whole (`Ok`), or it failed and the reader must stop.
    pub fn end(&self, outcome: std::result::Result<(), String>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.end.get_or_insert(outcome);
        self.changed.notify_all();
    }

    /// Waits until byte `pos` is written or the writer is done; returns how many bytes are
    /// written then (at most `pos` only when the file ended there).
    fn wait_beyond(&self, pos: u64) -> std::io::Result<u64> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.written > pos {
                return Ok(st.written);
            }
            match &st.end {
                Some(Ok(())) => return Ok(st.written),
                Some(Err(why)) => return Err(std::io::Error::other(why.clone())),
                None => st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

/// A file read as its writer announces new bytes.
struct GrowingFile {
    file: File,
    pos: u64,
    growth: Arc<Growth>,
}

impl Read for GrowingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        let written = self.growth.wait_beyond(self.pos)?;
        if written <= self.pos {
            return Ok(0);
        }
        let want = buf.len().min((written - self.pos) as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            // Announced but not readable: the file was cut behind the writer's back.
            return Err(std::io::Error::other(
                "the download's file is shorter than what was written to it",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
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

/// Wraps `r` in the decoder for `c`.
pub fn decoder<'a>(
    c: Compression,
    r: &'a mut (dyn Read + Send),
    archive: &Path,
) -> Result<Box<dyn Read + Send + 'a>> {
    let bad = |e: std::io::Error| Error::BadArchive {
        archive: archive.to_path_buf(),
        detail: e.to_string(),
    };
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Xz | Compression::Lzma => {
            // Same idea as the zstd window cap: refuse streams that need more memory than
            // any sane package (xz -9 needs 65 MiB to decode).
            let stream = if c == Compression::Xz {
                xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
            } else {
                xz2::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT)
            }
            .map_err(|e| bad(e.into()))?;
            Box::new(xz2::read::XzDecoder::new_stream(r, stream))
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(r).map_err(bad)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(bad)?;
            Box::new(d)
        }
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
    })
}

/// Counts decoded bytes against the compressed bytes read so far and stops a stream that
/// expands more than `limit` times (a decompression bomb), besides the absolute size cap.
pub struct RatioGuard<R> {
    inner: R,
    raw: Arc<AtomicU64>,
    out: u64,
    limit: u64,
    /// Set when the guard stopped the stream, so the caller can say why.
    pub tripped: Arc<AtomicBool>,
}

/// Decoded bytes below which the ratio is not judged (small archives of empty files
/// compress very well and are harmless).
const RATIO_FLOOR: u64 = 64 << 20;

impl<R: Read> RatioGuard<R> {
    /// Guards `inner`, whose compressed input is counted by `raw`.
    pub fn new(inner: R, raw: Arc<AtomicU64>, limit: u64) -> Self {
        RatioGuard {
            inner,
            raw,
            out: 0,
            limit,
            tripped: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if self.out > RATIO_FLOOR {
            let raw = self.raw.load(Ordering::Relaxed).max(1);
            if self.out / raw > self.limit {
                self.tripped.store(true, Ordering::Relaxed);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("expands more than {}:1", self.limit),
                ));
            }
        }
        Ok(n)
    }
}

/// Hashes a whole file (for `pack` outputs and checks).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io("read", path, e))?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_every_compression() {
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(
            Compression::sniff(&[0x50, 0x2a, 0x4d, 0x18]),
            Compression::Zstd
        );
        assert_eq!(
            Compression::sniff(&[0x5f, 0x2a, 0x4d, 0x18]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::sniff(b"BZh91AY&SY"), Compression::Bzip2);
        assert_eq!(Compression::sniff(b"BZhx"), Compression::None);
        let lzma = [
            0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
        ];
        assert_eq!(Compression::sniff(&lzma), Compression::Lzma);
        assert_eq!(Compression::sniff(b"hello"), Compression::None);
    }
}
