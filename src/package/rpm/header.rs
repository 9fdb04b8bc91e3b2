//! An rpm's lead, signature header and main header, read with bounded memory and checked
//! the way rpm's own `hdrchk` rules do (tag count, data size, entry types, offsets,
//! alignment, sizes and string terminators inside the data) before the `rpm` crate parses
//! them: a hostile header is refused here, never handed to a parser that would allocate
//! what it claims or index out of range. The payload is not read.

use crate::error::Unsafe;
use crate::package::extract::tar::TarError;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::Read;

/// Size of the lead.
const LEAD: usize = 96;
/// The most index entries in one header (rpm's `hdrchkTags`).
const MAX_TAGS: u32 = 0xffff;
/// The most data bytes in one header (rpm's `HEADER_DATA_MAX` is 256 MiB; real headers,
/// even with many files, stay far below this).
const MAX_DATA: u32 = 64 << 20;

fn refuse(member: &str, why: String) -> TarError {
    TarError::Member {
        member: member.to_string(),
        why: Unsafe::RpmHeader(why),
    }
}

fn read_exact(r: &mut dyn Read, buf: &mut [u8], member: &str) -> Result<(), TarError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            TarError::Member {
                member: member.to_string(),
                why: Unsafe::Truncated,
            }
        } else {
            TarError::Stream(format!("{member}: {e}"))
        }
    })
}

/// What [`read`] gives: the parsed headers, and the MD5 the signature header records over
/// the main header and the payload together (checked by the caller, which streams the
/// payload), with the hasher already fed the header's bytes.
pub struct Headers {
    /// Both headers, parsed.
    pub meta: rpm::PackageMetadata,
    /// `RPMSIGTAG_MD5` and an MD5 state over the main header; `None` when the tag is absent.
    pub md5: Option<([u8; 16], md5::Md5)>,
}

/// Reads lead, signature and header from `r` (left at the payload's first byte) and
/// parses them with the `rpm` crate. Every header digest the signature header records
/// (SHA256, SHA1 over the main header) is checked here, as `rpm -K` does; a package
/// that records none of them (nor an MD5) is refused: its header would be unchecked.
pub fn read(r: &mut dyn Read) -> Result<Headers, TarError> {
    let mut bytes = vec![0u8; LEAD];
    read_exact(r, &mut bytes, "lead")?;
    check_lead(&bytes)?;
    read_header(r, &mut bytes, "signature header", true)?;
    let header_start = bytes.len();
    read_header(r, &mut bytes, "header", false)?;
    // The checks above leave nothing for the parser to trip on; a panic in it would still
    // be a refusal, not a crash.
    let parsed = std::panic::catch_unwind(|| rpm::PackageMetadata::parse(&mut bytes.as_slice()));
    let meta = match parsed {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Err(refuse("header", short(&e.to_string()))),
        Err(_) => return Err(refuse("header", "the rpm parser gave up on it".into())),
    };
    let header = &bytes[header_start..];
    let sig = &meta.signature;
    let hex_digest = |tag: rpm::IndexSignatureTag, name: &str| -> Result<bool, TarError> {
        if !sig.entry_is_present(tag as u32) {
            return Ok(false);
        }
        let want = sig.get_entry_data_as_string(tag).map_err(|_| {
            refuse(
                "signature header",
                format!("its {name} header digest is not a string"),
            )
        })?;
        let got = match tag {
            rpm::IndexSignatureTag::RPMSIGTAG_SHA1 => hex::encode(Sha1::digest(header)),
            _ => hex::encode(Sha256::digest(header)),
        };
        if !want.eq_ignore_ascii_case(&got) {
            return Err(refuse(
                "header",
                format!(
                    "its {name} is {got}, the signature header says {}",
                    short(&crate::package::printable::printable(want))
                ),
            ));
        }
        Ok(true)
    };
    let sha256 = hex_digest(rpm::IndexSignatureTag::RPMSIGTAG_SHA256, "sha256")?;
    let sha1 = hex_digest(rpm::IndexSignatureTag::RPMSIGTAG_SHA1, "sha1")?;
    let md5 = if sig.entry_is_present(rpm::IndexSignatureTag::RPMSIGTAG_MD5 as u32) {
        let want: [u8; 16] = sig
            .get_entry_data_as_binary(rpm::IndexSignatureTag::RPMSIGTAG_MD5)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                refuse(
                    "signature header",
                    "its md5 digest is not 16 bytes of binary data".into(),
                )
            })?;
        let mut h = md5::Md5::new();
        h.update(header);
        Some((want, h))
    } else {
        None
    };
    if !sha256 && !sha1 && md5.is_none() {
        return Err(refuse(
            "signature header",
            "it records no digest of the header (sha256, sha1 or md5), so nothing proves \
             the header intact"
                .into(),
        ));
    }
    Ok(Headers { meta, md5 })
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

fn check_lead(l: &[u8]) -> Result<(), TarError> {
    let bad = |why: &str| Err(refuse("lead", why.to_string()));
    if l[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return bad("wrong magic");
    }
    if l[4] != 3 && l[4] != 4 {
        return bad(&format!("unsupported rpm format {}.{}", l[4], l[5]));
    }
    match u16::from_be_bytes([l[6], l[7]]) {
        0 => {}
        1 => {
            return bad(
                "it is a source package (.src.rpm), which holds sources, not an installable tree",
            )
        }
        t => return bad(&format!("unknown package type {t}")),
    }
    if u16::from_be_bytes([l[78], l[79]]) != 5 {
        return bad("the signature is not a header-style signature (type 5)");
    }
    Ok(())
}

/// One index entry.
struct Entry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// Reads one header (intro, index, data; the signature's padding) onto `out`, checking it.
fn read_header(
    r: &mut dyn Read,
    out: &mut Vec<u8>,
    member: &str,
    pad: bool,
) -> Result<(), TarError> {
    let mut intro = [0u8; 16];
    read_exact(r, &mut intro, member)?;
    if intro[..4] != [0x8e, 0xad, 0xe8, 0x01] {
        return Err(refuse(member, "wrong header magic".into()));
    }
    if intro[4..8] != [0; 4] {
        return Err(refuse(member, "reserved bytes are not zero".into()));
    }
    let n = u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]);
    let dl = u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]);
    if n == 0 || n > MAX_TAGS {
        return Err(refuse(
            member,
            format!("{n} index entries (at most {MAX_TAGS})"),
        ));
    }
    if dl > MAX_DATA {
        return Err(refuse(
            member,
            format!("{dl} bytes of data (at most {MAX_DATA})"),
        ));
    }
    let index_len = n as usize * 16;
    let start = out.len();
    out.extend_from_slice(&intro);
    out.resize(start + 16 + index_len + dl as usize, 0);
    read_exact(r, &mut out[start + 16..], member)?;
    let (index, data) = out[start + 16..].split_at(index_len);
    for raw in index.chunks_exact(16) {
        let be = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let e = Entry {
            tag: be(0),
            kind: be(4),
            offset: be(8),
            count: be(12),
        };
        check_entry(&e, data).map_err(|why| refuse(member, format!("tag {}: {why}", e.tag)))?;
    }
    if pad {
        let padding = (8 - (index_len + dl as usize) % 8) % 8;
        let mut p = [0u8; 8];
        read_exact(r, &mut p[..padding], member)?;
        if p.iter().any(|b| *b != 0) {
            return Err(refuse(member, "padding bytes are not zero".into()));
        }
        out.extend_from_slice(&p[..padding]);
    }
    Ok(())
}

/// rpm's entry rules: a known type, a count, an offset inside the data, aligned for its
/// type, and all of it (strings up to their NUL) inside the data.
fn check_entry(e: &Entry, data: &[u8]) -> Result<(), EntryError> {
    let dl = data.len();
    let offset = e.offset as usize;
    if e.count == 0 {
        return Err(EntryError::ZeroCount);
    }
    if offset >= dl {
        return Err(EntryError::OffsetOutside { offset, len: dl });
    }
    let width = match e.kind {
        1 | 2 | 7 => 1,
        3 => 2,
        4 => 4,
        5 => 8,
        6 if e.count != 1 => return Err(EntryError::StringCount),
        6 | 8 | 9 => 0,
        k => return Err(EntryError::UnknownType(k)),
    };
    if width > 0 {
        if !offset.is_multiple_of(width) {
            return Err(EntryError::Misaligned { offset, width });
        }
        let end = (e.count as usize)
            .checked_mul(width)
            .and_then(|len| offset.checked_add(len));
        if end.is_none_or(|end| end > dl) {
            return Err(EntryError::ItemsPastEnd { count: e.count });
        }
        return Ok(());
    }
    let mut pos = offset;
    for _ in 0..e.count {
        if pos >= dl {
            return Err(EntryError::StringsPastEnd);
        }
        let nul = memchr_zero(&data[pos..]).ok_or(EntryError::Unterminated)?;
        pos += nul + 1;
    }
    Ok(())
}

/// How a header entry breaks rpm's rules.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum EntryError {
    #[error("count is zero")]
    ZeroCount,
    #[error("offset {offset} is outside the {len} bytes of data")]
    OffsetOutside { offset: usize, len: usize },
    #[error("a STRING with a count other than 1")]
    StringCount,
    #[error("unknown type {0}")]
    UnknownType(u32),
    #[error("offset {offset} is not aligned to {width}")]
    Misaligned { offset: usize, width: usize },
    #[error("{count} items run past the end of the data")]
    ItemsPastEnd { count: u32 },
    #[error("strings run past the end of the data")]
    StringsPastEnd,
    #[error("a string is not terminated inside the data")]
    Unterminated,
}

fn memchr_zero(b: &[u8]) -> Option<usize> {
    b.iter().position(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        let data = b"ab\0cd\0\0\0\x01\x02\x03\x04";
        let e = |kind, offset, count| Entry {
            tag: 1000,
            kind,
            offset,
            count,
        };
        let check = |kind, offset, count| check_entry(&e(kind, offset, count), data);
        assert_eq!(check(6, 0, 1), Ok(()));
        assert_eq!(check(8, 0, 3), Ok(()));
        assert_eq!(check(8, 0, 4), Ok(()));
        assert_eq!(check(8, 0, 5), Err(EntryError::Unterminated));
        assert_eq!(check(8, 0, 0), Err(EntryError::ZeroCount));
        assert_eq!(check(4, 8, 1), Ok(()));
        assert_eq!(check(4, 8, 2), Err(EntryError::ItemsPastEnd { count: 2 }));
        assert_eq!(
            check(4, 6, 1),
            Err(EntryError::Misaligned {
                offset: 6,
                width: 4
            })
        );
        assert_eq!(
            check(4, 99, 1),
            Err(EntryError::OffsetOutside {
                offset: 99,
                len: 12
            })
        );
        assert_eq!(check(42, 0, 1), Err(EntryError::UnknownType(42)));
        assert_eq!(check(6, 0, 2), Err(EntryError::StringCount));
        assert_eq!(
            check(3, 0, u32::MAX),
            Err(EntryError::ItemsPastEnd { count: u32::MAX })
        );
    }
}
