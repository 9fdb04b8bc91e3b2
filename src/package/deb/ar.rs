//! The `ar` container of a .deb, read strictly and in one pass: the global magic, then
//! 60-byte member headers whose every field must be well formed (space-padded decimal and
//! octal numbers, the "`\n" terminator), member sizes that fit in what is left of the
//! file, and the one `\n` of padding after an odd-sized member. Long-name and symbol-table
//! members (GNU `/`, `//`, BSD `#1/`) never occur in a .deb and are refused.

use crate::error::Unsafe;
use crate::package::extract::tar::TarError;
use std::io::Read;

/// The global header of every `ar` archive.
pub const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER: usize = 60;

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (trailing spaces and a GNU `/` removed).
    pub name: String,
    /// Bytes of data (padding not counted).
    pub size: u64,
}

/// A strict reader of `ar` members over the raw file.
pub struct ArReader<'r> {
    inner: &'r mut (dyn Read + Send),
    /// Bytes consumed so far.
    offset: u64,
    /// The file's size, so a header cannot claim more than there is.
    file_size: u64,
}

/// A refusal naming `member`.
pub fn refuse(member: impl Into<String>, why: Unsafe) -> TarError {
    TarError::Member {
        member: member.into(),
        why,
    }
}

fn io_error(member: &str, e: std::io::Error) -> TarError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        refuse(member, Unsafe::Truncated)
    } else {
        TarError::Stream(format!("{member}: {e}"))
    }
}

impl<'r> ArReader<'r> {
    /// Checks the global magic of `inner`, a file of `file_size` bytes.
    pub fn new(inner: &'r mut (dyn Read + Send), file_size: u64) -> Result<ArReader<'r>, TarError> {
        let mut magic = [0u8; 8];
        inner
            .read_exact(&mut magic)
            .map_err(|e| io_error("(ar magic)", e))?;
        if &magic != MAGIC {
            return Err(refuse(
                "(ar magic)",
                Unsafe::ArHeader("the file does not start with `!<arch>\\n`".into()),
            ));
        }
        Ok(ArReader {
            inner,
            offset: 8,
            file_size,
        })
    }

    /// The next member's header, or `None` at the very end of the file.
    pub fn next_member(&mut self) -> Result<Option<Member>, TarError> {
        let at = format!("(ar header at byte {})", self.offset);
        let mut h = [0u8; HEADER];
        let mut got = 0;
        while got < HEADER {
            let n = self
                .inner
                .read(&mut h[got..])
                .map_err(|e| io_error(&at, e))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER {
            return Err(refuse(at, Unsafe::Truncated));
        }
        self.offset += HEADER as u64;
        let member = parse_header(&h).map_err(|why| refuse(at.clone(), why))?;
        let remaining = self.file_size.saturating_sub(self.offset);
        if member.size > remaining {
            return Err(refuse(
                member.name,
                Unsafe::PastEnd {
                    size: member.size,
                    remaining,
                },
            ));
        }
        Ok(Some(member))
    }

    /// The data of the member just announced (`size` bytes); call [`ArReader::end_member`]
    /// after it was read.
    pub fn body(&mut self, size: u64) -> std::io::Take<&mut (dyn Read + Send + 'r)> {
        (&mut *self.inner).take(size)
    }

    /// Accounts for the member's data and reads its padding byte. `unread` bytes of the
    /// data that its reader left are refused: every byte of a member must mean something.
    pub fn end_member(&mut self, m: &Member, unread: u64) -> Result<(), TarError> {
        if unread > 0 {
            return Err(refuse(&m.name, Unsafe::TrailingData(unread)));
        }
        self.offset += m.size;
        if m.size % 2 == 1 {
            let mut pad = [0u8; 1];
            self.inner
                .read_exact(&mut pad)
                .map_err(|e| io_error(&m.name, e))?;
            self.offset += 1;
            if pad[0] != b'\n' {
                return Err(refuse(
                    &m.name,
                    Unsafe::ArHeader(format!("padding byte is {:#04x}, not `\\n`", pad[0])),
                ));
            }
        }
        Ok(())
    }

    /// Reads and discards a member's data (members reserved for local use, `_…`).
    pub fn skip(&mut self, m: &Member) -> Result<(), TarError> {
        let mut body = self.body(m.size);
        let n = std::io::copy(&mut body, &mut std::io::sink()).map_err(|e| io_error(&m.name, e))?;
        if n != m.size {
            return Err(refuse(&m.name, Unsafe::Truncated));
        }
        self.end_member(m, 0)
    }

    /// Reads a whole member of at most `limit` bytes into memory.
    pub fn read_small(&mut self, m: &Member, limit: u64) -> Result<Vec<u8>, TarError> {
        if m.size > limit {
            return Err(refuse(
                &m.name,
                Unsafe::MemberTooLarge {
                    size: m.size,
                    limit,
                },
            ));
        }
        let mut buf = Vec::with_capacity(m.size as usize);
        self.body(m.size)
            .read_to_end(&mut buf)
            .map_err(|e| io_error(&m.name, e))?;
        if buf.len() as u64 != m.size {
            return Err(refuse(&m.name, Unsafe::Truncated));
        }
        self.end_member(m, 0)?;
        Ok(buf)
    }
}

/// Parses one 60-byte header: name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n".
fn parse_header(h: &[u8; HEADER]) -> Result<Member, Unsafe> {
    let bad = |s: String| Unsafe::ArHeader(s);
    if &h[58..60] != b"`\n" {
        return Err(bad("the header does not end with \"`\\n\"".into()));
    }
    let raw_name = &h[..16];
    if !raw_name.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err(bad("the name field holds non-printable bytes".into()));
    }
    let name = std::str::from_utf8(raw_name)
        .map_err(|_| bad("the name is not ASCII".into()))?
        .trim_end_matches(' ');
    if name.contains(' ') {
        return Err(bad(format!("the name `{name}` contains a space")));
    }
    if name.starts_with('/') || name.starts_with("#1/") {
        return Err(bad(format!(
            "`{name}` is a symbol table or long-name member, which a .deb never holds"
        )));
    }
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.is_empty() || name.contains('/') {
        return Err(bad(format!("`{name}` is not a plain member name")));
    }
    number(&h[16..28], 10, "mtime")?;
    number(&h[28..34], 10, "uid")?;
    number(&h[34..40], 10, "gid")?;
    number(&h[40..48], 8, "mode")?;
    let size =
        number(&h[48..58], 10, "size")?.ok_or_else(|| bad("the size field is empty".into()))?;
    Ok(Member {
        name: name.to_string(),
        size,
    })
}

/// A field of digits in `radix` followed by spaces only (all spaces: `None`).
fn number(field: &[u8], radix: u32, what: &str) -> Result<Option<u64>, Unsafe> {
    let digits = field.iter().take_while(|b| **b != b' ').count();
    let ok_digits = field[..digits].iter().all(|b| (*b as char).is_digit(radix));
    if !ok_digits || field[digits..].iter().any(|b| *b != b' ') {
        return Err(Unsafe::ArHeader(format!(
            "the {what} field `{}` is not a space-padded base-{radix} number",
            String::from_utf8_lossy(field).escape_debug()
        )));
    }
    if digits == 0 {
        return Ok(None);
    }
    let s = std::str::from_utf8(&field[..digits]).unwrap_or("0");
    u64::from_str_radix(s, radix)
        .map(Some)
        .map_err(|_| Unsafe::ArHeader(format!("the {what} field is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: &str) -> [u8; HEADER] {
        let s = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
            0, 0, 0, 100644
        );
        s.as_bytes().try_into().unwrap()
    }

    #[test]
    fn headers() {
        let m = parse_header(&header("debian-binary", "4")).unwrap();
        assert_eq!((m.name.as_str(), m.size), ("debian-binary", 4));
        let m = parse_header(&header("data.tar.xz/", "10")).unwrap();
        assert_eq!(m.name, "data.tar.xz");
        assert!(parse_header(&header("/", "4")).is_err());
        assert!(parse_header(&header("#1/20", "4")).is_err());
        assert!(parse_header(&header("x", "-4")).is_err());
        assert!(parse_header(&header("x", "4x")).is_err());
        assert!(parse_header(&header("x", "")).is_err());
        let mut h = header("x", "4");
        h[59] = b'x';
        assert!(parse_header(&h).is_err());
    }
}
