//! What a stream is compressed with, told from its first bytes, and its decoder, held to
//! bounds a hostile archive cannot stretch: the zstd window, xz's memory, and the ratio of
//! decoded to compressed bytes (a decompression bomb).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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
pub fn tar_checksum_ok(head: &[u8]) -> bool {
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

/// Wraps `r` in the decoder for `c`.
pub fn decoder<'a>(
    c: Compression,
    r: &'a mut (dyn Read + Send),
    archive: &Path,
) -> Result<Box<dyn Read + Send + 'a>> {
    let bad = |e: std::io::Error| Error::BadArchive {
        archive: archive.to_path_buf(),
        detail: e.to_string().into(),
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
