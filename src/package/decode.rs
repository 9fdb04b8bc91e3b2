//! A decoder's failure, sorted once into [`Decode`] where its message arrives, so that the
//! messages and hints after it match a type, never text. The decoders (flate2, libzstd,
//! liblzma, libbzip2) report through `io::Error` text only; this is the one place that
//! reads it.

use super::compression::{XZ_MEMLIMIT, ZSTD_WINDOW_LOG_MAX};
use super::extract::printable;
use crate::error::Decode;

/// Sorts a decoder's (or the tar reader's) message, made printable on one line: the tar
/// crate quotes raw header bytes, and a corrupt stream puts newlines and escapes there.
pub fn classify(detail: String) -> Decode {
    let detail = printable(&detail);
    // libzstd's text for ZSTD_error_frameParameter_windowTooLarge.
    if detail.contains("Frame requires too much memory") {
        return Decode::WindowTooLarge {
            log: ZSTD_WINDOW_LOG_MAX,
            detail,
        };
    }
    // liblzma's text for LZMA_MEMLIMIT_ERROR.
    if detail.contains("memory limit reached") {
        return Decode::MemoryLimit {
            limit_mib: XZ_MEMLIMIT >> 20,
            detail,
        };
    }
    // flate2, zstd, liblzma (xz and lzma) and bzip2 say it each their own way.
    let lower = detail.to_ascii_lowercase();
    if [
        "corrupt",
        "invalid gzip header",
        "checksum",
        "lzma data error",
        "bzip2: invalid data",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return Decode::Corrupt(detail);
    }
    Decode::Other(detail)
}

/// Sorts a failure that reached a sink unsorted (its text came from an `io::Error` below
/// the tar reader); one already sorted stays as it is.
pub fn reclassify(d: Decode) -> Decode {
    match d {
        Decode::Other(detail) => classify(detail),
        sorted => sorted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_each_decoder_s_words() {
        assert!(matches!(
            classify("Frame requires too much memory for decoding".into()),
            Decode::WindowTooLarge { log: 27, .. }
        ));
        assert!(matches!(
            classify("memory limit reached".into()),
            Decode::MemoryLimit { limit_mib: 128, .. }
        ));
        for corrupt in [
            "corrupt deflate stream",
            "invalid gzip header",
            "lzma data error",
            "bzip2: invalid data",
        ] {
            assert_eq!(classify(corrupt.into()), Decode::Corrupt(corrupt.into()));
        }
        assert_eq!(
            classify("bad\nheader".into()),
            Decode::Other("bad?header".into())
        );
        assert_eq!(
            reclassify(Decode::Other("checksum mismatch".into())),
            Decode::Corrupt("checksum mismatch".into())
        );
    }
}
