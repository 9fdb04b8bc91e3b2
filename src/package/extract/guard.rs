//! The tar-header guard: watches the raw tar stream on its way to the tar crate and refuses
//! an extension header (PAX `x`, GNU `L`/`K`) too large to buffer, before the tar crate
//! reads it into memory whole.

use std::io::Read;

/// The largest PAX extended header or GNU long name or link accepted, in bytes.
pub const MAX_EXTENSION: u64 = 1 << 20;

/// Watches the tar stream on its way to the tar crate and refuses an extension header
/// (PAX `x`, GNU `L`/`K`) larger than [`MAX_EXTENSION`]. The tar crate reads those into
/// memory whole, before the member they describe is handed over, so without this a few
/// compressed kilobytes can make it allocate gigabytes: no limit on members would help.
/// It follows the block structure as the tar crate does (a PAX `size` overrides the next
/// member's header size) and stops watching at the end of the archive, at a sparse member
/// (refused as soon as it is seen) or at a header the tar crate will fail on anyway.
pub struct ExtensionGuard<R> {
    inner: R,
    /// Stream offset of the next byte.
    pos: u64,
    /// Stream offset of the next header block.
    next_header: u64,
    header: [u8; 512],
    filled: usize,
    /// Data of the current PAX header, collected until `pax_end`.
    pax: Vec<u8>,
    pax_end: u64,
    /// The PAX `size` that applies to the next member.
    pending_size: Option<u64>,
    off: bool,
}

impl<R: Read> ExtensionGuard<R> {
    /// Watches `inner`.
    pub fn new(inner: R) -> Self {
        ExtensionGuard {
            inner,
            pos: 0,
            next_header: 0,
            header: [0; 512],
            filled: 0,
            pax: Vec::new(),
            pax_end: 0,
            pending_size: None,
            off: false,
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() && !self.off {
            if self.pos < self.next_header {
                let take = (self.next_header - self.pos).min(data.len() as u64) as usize;
                if self.pos < self.pax_end {
                    let k = (self.pax_end - self.pos).min(take as u64) as usize;
                    self.pax.extend_from_slice(&data[..k]);
                    if self.pos + k as u64 == self.pax_end {
                        strict_pax(&self.pax).map_err(|detail| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("malformed PAX record: {detail}"),
                            )
                        })?;
                        self.pending_size = pax_size_record(&self.pax);
                        self.pax = Vec::new();
                    }
                }
                self.pos += take as u64;
                data = &data[take..];
                continue;
            }
            let take = (512 - self.filled).min(data.len());
            self.header[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            self.pos += take as u64;
            data = &data[take..];
            if self.filled == 512 {
                self.filled = 0;
                self.on_header()?;
            }
        }
        Ok(())
    }

    fn on_header(&mut self) -> std::io::Result<()> {
        let h = &self.header;
        if h.iter().all(|&b| b == 0) {
            self.off = true;
            return Ok(());
        }
        let Some(size) = header_size(&h[124..136]) else {
            self.off = true;
            return Ok(());
        };
        let span = match h[156] {
            t @ (b'x' | b'L' | b'K') => {
                if size > MAX_EXTENSION {
                    let what = match t {
                        b'x' => "PAX extended header",
                        b'L' => "GNU long name",
                        _ => "GNU long link name",
                    };
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{what} of {size} bytes at offset {} exceeds the limit of {} bytes",
                            self.pos - 512,
                            MAX_EXTENSION
                        ),
                    ));
                }
                if t == b'x' {
                    self.pending_size = None;
                    self.pax.clear();
                    self.pax_end = self.pos + size;
                }
                size
            }
            // A global header takes no PAX size, and uses up a pending local one.
            b'g' => {
                self.pending_size = None;
                size
            }
            b'S' => {
                self.off = true;
                return Ok(());
            }
            _ => self.pending_size.take().unwrap_or(size),
        };
        match span
            .checked_add(511)
            .map(|s| s & !511)
            .and_then(|s| self.pos.checked_add(s))
        {
            Some(next) => self.next_header = next,
            None => self.off = true,
        }
        Ok(())
    }
}

impl<R> ExtensionGuard<R> {
    /// The stream, positioned wherever the tar crate stopped reading.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for ExtensionGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.off {
            self.observe(&buf[..n])?;
        }
        Ok(n)
    }
}

/// A header's size field as the tar crate reads it: octal text up to the first NUL, or
/// base-256 when the high bit of the first byte is set.
fn header_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let tail = &field[field.len() - 8..];
        return Some(tail.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)));
    }
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let text = std::str::from_utf8(&field[..end]).ok()?;
    u64::from_str_radix(text.trim(), 8).ok()
}

/// The PAX `size` the tar crate applies: the first `size` record, if every record up to
/// it parses and its value is a number.
fn pax_size_record(data: &[u8]) -> Option<u64> {
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.ok()?;
        if ext.key() != Ok("size") {
            continue;
        }
        return ext.value().ok()?.parse().ok();
    }
    None
}

/// Holds PAX extended-header data to POSIX's exact form: records `LEN KEY=VALUE\n`, where
/// LEN is the decimal length of the whole record including itself and the newline, one
/// after another to the end of the data. The tar crate is lenient (a missing final newline
/// or an empty line that hides the records after it pass), and two lenient readers may
/// disagree on what a member is.
fn strict_pax(data: &[u8]) -> Result<(), PaxError> {
    let mut at = 0usize;
    while at < data.len() {
        let rest = &data[at..];
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(PaxError::NoLength { at })?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or(PaxError::BadLength { at })?;
        if len <= space + 1 || len > rest.len() {
            return Err(PaxError::LengthMisfit { at, len });
        }
        let record = &rest[space + 1..len];
        if record.last() != Some(&b'\n') {
            return Err(PaxError::NoNewline { at });
        }
        if !record[..record.len() - 1].contains(&b'=') {
            return Err(PaxError::NoEquals { at });
        }
        at += len;
    }
    Ok(())
}

/// How a PAX extended header breaks POSIX's form (`at` is the record's offset).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum PaxError {
    #[error("no length at offset {at}")]
    NoLength { at: usize },
    #[error("bad length at offset {at}")]
    BadLength { at: usize },
    #[error("length {len} at offset {at} does not fit the header")]
    LengthMisfit { at: usize, len: usize },
    #[error("record at offset {at} does not end with a newline")]
    NoNewline { at: usize },
    #[error("record at offset {at} has no `=`")]
    NoEquals { at: usize },
}

#[cfg(test)]
mod tests {
    use super::{strict_pax, PaxError};

    #[test]
    fn strict_pax_takes_posix_records_and_refuses_the_rest() {
        assert_eq!(strict_pax(b""), Ok(()));
        assert_eq!(strict_pax(b"12 path=abc\n"), Ok(()));
        assert_eq!(strict_pax(b"12 path=abc\n11 size=42\n"), Ok(()));
        assert_eq!(
            strict_pax(b"11 path=abc"),
            Err(PaxError::NoNewline { at: 0 })
        );
        assert_eq!(
            strict_pax(b"13 path=abc\n"),
            Err(PaxError::LengthMisfit { at: 0, len: 13 })
        );
        assert_eq!(
            strict_pax(b"\n12 path=abc\n"),
            Err(PaxError::BadLength { at: 0 })
        );
        assert_eq!(
            strict_pax(b"11 pathabc\n"),
            Err(PaxError::NoEquals { at: 0 })
        );
        assert_eq!(
            strict_pax(b"9 pathabc\n"),
            Err(PaxError::NoNewline { at: 0 })
        );
        assert_eq!(
            strict_pax(b"x path=abc\n"),
            Err(PaxError::BadLength { at: 0 })
        );
        assert_eq!(
            strict_pax(b"12path=abc\n"),
            Err(PaxError::NoLength { at: 0 })
        );
    }
}
