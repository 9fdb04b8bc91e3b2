//! A strict reader of the cpio "newc" archives rpm payloads are: the `070701` magic only
//! (rpm's stripped `07070X` form, used for files over 4 GiB, is refused as unsupported),
//! 13 fields of exactly 8 hex digits, a NUL-terminated name without inner NULs, zero
//! padding to 4 bytes after header and data, a checksum field of zero, and only zero
//! padding after the `TRAILER!!!` member. Members are handed out one at a time; their
//! data is read by the caller through [`CpioReader::data`].

use crate::error::Unsafe;
use std::io::Read;

const MAGIC: &[u8; 6] = b"070701";
const HEADER: usize = 110;
const TRAILER: &[u8] = b"TRAILER!!!";
/// The longest name accepted (PATH_MAX with its NUL).
const MAX_NAME: usize = 4097;
/// Zero padding accepted after the trailer (block-padded archives).
const MAX_PADDING: u64 = 1 << 20;

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Inode number (equal for the names of one hard-linked file).
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u32,
    /// Number of names of this inode.
    pub nlink: u32,
    /// Bytes of data.
    pub size: u32,
    /// Device of the inode (with `ino`, what identifies a hard-link set).
    pub dev: (u32, u32),
    /// The name as stored.
    pub name: Vec<u8>,
}

/// A refusal and the member it concerns (empty when no name was read yet).
pub type Refusal = (String, Unsafe);

/// Reads newc members from a decoded payload.
pub struct CpioReader<R> {
    inner: R,
    /// Bytes of the current member's data not yet read.
    left: u64,
    /// Padding after the current member's data.
    pad: usize,
    /// The current member's name, for messages.
    current: String,
}

fn bad(member: &str, why: String) -> Refusal {
    (member.to_string(), Unsafe::CpioHeader(why))
}

fn read_err(member: &str, e: std::io::Error) -> Refusal {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        (member.to_string(), Unsafe::Truncated)
    } else {
        (member.to_string(), Unsafe::Decode(e.to_string().into()))
    }
}

/// The magic and the 13 hexadecimal fields of a newc header (`prev` names the member
/// before it, for messages).
fn parse_fields(h: &[u8; HEADER], prev: &str) -> Result<[u32; 13], Refusal> {
    if &h[..6] != MAGIC {
        let why = if &h[..6] == b"07070X" {
            "a stripped (large-file) rpm payload, which berth does not support".to_string()
        } else {
            format!(
                "magic `{}` is not 070701",
                String::from_utf8_lossy(&h[..6]).escape_debug()
            )
        };
        return Err(bad(&format!("(the header after `{prev}`)"), why));
    }
    let mut f = [0u32; 13];
    for (i, v) in f.iter_mut().enumerate() {
        let raw = &h[6 + i * 8..14 + i * 8];
        let text = std::str::from_utf8(raw)
            .ok()
            .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
        *v = text
            .and_then(|t| u32::from_str_radix(t, 16).ok())
            .ok_or_else(|| {
                bad(
                    prev,
                    format!(
                        "field {i} `{}` is not 8 hex digits",
                        String::from_utf8_lossy(raw).escape_debug()
                    ),
                )
            })?;
    }
    Ok(f)
}

impl<R: Read> CpioReader<R> {
    /// A reader of the archive `inner`.
    pub fn new(inner: R) -> Self {
        CpioReader {
            inner,
            left: 0,
            pad: 0,
            current: String::new(),
        }
    }

    /// The next member's header; `None` after the trailer (and its padding) was read.
    pub fn next_header(&mut self) -> Result<Option<Header>, Refusal> {
        self.skip_rest()?;
        let prev = std::mem::take(&mut self.current);
        let mut h = [0u8; HEADER];
        self.inner
            .read_exact(&mut h)
            .map_err(|e| read_err(&format!("(the header after `{prev}`)"), e))?;
        let [ino, mode, _uid, _gid, nlink, _mtime, size, maj, min, _rmaj, _rmin, namesize, check] =
            parse_fields(&h, &prev)?;
        let namesize = namesize as usize;
        if !(2..=MAX_NAME).contains(&namesize) {
            return Err(bad(
                &prev,
                format!(
                    "name size {namesize} (1 to {} bytes and a NUL)",
                    MAX_NAME - 1
                ),
            ));
        }
        let mut name = vec![0u8; namesize];
        self.inner
            .read_exact(&mut name)
            .map_err(|e| read_err(&prev, e))?;
        let shown = String::from_utf8_lossy(&name[..namesize - 1]).into_owned();
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(bad(
                &shown,
                "the name is not one NUL-terminated string".into(),
            ));
        }
        if check != 0 {
            return Err(bad(
                &shown,
                "the checksum field of a newc header is not zero".into(),
            ));
        }
        self.read_padding(pad4(HEADER + namesize), &shown)?;
        if name == TRAILER {
            self.verify_end()?;
            return Ok(None);
        }
        self.current = shown;
        self.left = u64::from(size);
        self.pad = pad4(size as usize);
        Ok(Some(Header {
            ino,
            mode,
            nlink,
            size,
            dev: (maj, min),
            name,
        }))
    }

    /// The current member's data (read it all, or it is skipped at the next header).
    pub fn data(&mut self) -> Data<'_, R> {
        Data { r: self }
    }

    fn skip_rest(&mut self) -> Result<(), Refusal> {
        if self.left > 0 {
            let member = self.current.clone();
            // `Data` fails on an early end, so a successful copy leaves nothing unread.
            std::io::copy(&mut self.data(), &mut std::io::sink())
                .map_err(|e| read_err(&member, e))?;
        }
        if self.pad > 0 {
            let (pad, member) = (self.pad, self.current.clone());
            self.pad = 0;
            self.read_padding(pad, &member)?;
        }
        Ok(())
    }

    fn read_padding(&mut self, n: usize, member: &str) -> Result<(), Refusal> {
        let mut p = [0u8; 4];
        self.inner
            .read_exact(&mut p[..n])
            .map_err(|e| read_err(member, e))?;
        if p.iter().any(|b| *b != 0) {
            return Err(bad(member, "padding bytes are not zero".into()));
        }
        Ok(())
    }

    /// After the trailer: only zeros, up to [`MAX_PADDING`], then the end of the stream
    /// (reaching it makes the decoder check its own integrity).
    fn verify_end(&mut self) -> Result<(), Refusal> {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        loop {
            let n = self
                .inner
                .read(&mut buf)
                .map_err(|e| read_err("TRAILER!!!", e))?;
            if n == 0 {
                return Ok(());
            }
            total += n as u64;
            if buf[..n].iter().any(|b| *b != 0) || total > MAX_PADDING {
                return Err(bad(
                    "TRAILER!!!",
                    "data after the end of the cpio archive".into(),
                ));
            }
        }
    }
}

/// The data of the current member.
pub struct Data<'a, R> {
    r: &'a mut CpioReader<R>,
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let max = buf
            .len()
            .min(usize::try_from(self.r.left).unwrap_or(usize::MAX));
        if max == 0 {
            return Ok(0);
        }
        let n = self.r.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.r.left -= n as u64;
        Ok(n)
    }
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v.resize(v.len() + pad4(HEADER + name.len() + 1), 0);
        v.extend_from_slice(data);
        v.resize(v.len() + pad4(data.len()), 0);
        v
    }

    #[test]
    fn reads_members_and_trailer() {
        let mut a = member("./usr/bin/x", 0o100755, b"hello");
        a.extend(member("TRAILER!!!", 0, b""));
        a.extend([0u8; 100]);
        let mut r = CpioReader::new(a.as_slice());
        let h = r.next_header().unwrap().unwrap();
        assert_eq!(h.name, b"./usr/bin/x");
        let mut s = String::new();
        r.data().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert!(r.next_header().unwrap().is_none());
    }

    #[test]
    fn refuses_garbage() {
        let mut a = member("x", 0o100644, b"abc");
        a[10] = b'g';
        assert!(CpioReader::new(a.as_slice()).next_header().is_err());
        let mut a = member("x", 0o100644, b"abc");
        a.extend(member("TRAILER!!!", 0, b""));
        a.push(1);
        let mut r = CpioReader::new(a.as_slice());
        r.next_header().unwrap();
        assert!(r.next_header().is_err());
        let a = member("x", 0o100644, b"abc");
        let mut r = CpioReader::new(&a[..a.len() - 3]);
        r.next_header().unwrap();
        assert!(r.next_header().is_err());
    }
}
