//! Tar archives for the tests: a byte-level builder for streams no well-behaved tool
//! would write (hostile names, forged PAX records, wrong types), and a plain tarball writer
//! on top of the tar crate for ordinary packages.

use std::path::Path;

// Tar streams written by hand: the tar crate's builder refuses most of what is tested.

pub const BLOCK: usize = 512;

/// Writes `value` as a NUL-terminated octal field.
pub fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    assert_eq!(s.len(), digits, "{value} does not fit the field");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// Computes and stores a header's checksum.
pub fn set_checksum(h: &mut [u8; BLOCK]) {
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// A ustar header with exactly these bytes as name and link name (nothing is checked).
pub fn ustar(name: &[u8], typeflag: u8, mode: u32, size: u64, link: &[u8]) -> [u8; BLOCK] {
    assert!(
        name.len() <= 100 && link.len() <= 100,
        "use a PAX or GNU long name"
    );
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    set_checksum(&mut h);
    h
}

/// One PAX record, `"<len> <key>=<value>\n"` with its own length counted.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + body.to_string().len();
    if len.to_string().len() != body.to_string().len() {
        len += 1;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    assert_eq!(r.len(), len);
    r
}

/// A tar stream under construction.
#[derive(Default)]
pub struct Tar {
    /// The bytes so far (no end-of-archive marker until [`Tar::finish`]).
    pub buf: Vec<u8>,
}

impl Tar {
    /// An empty stream.
    pub fn new() -> Tar {
        Tar::default()
    }

    /// A header and its data, padded to whole blocks.
    pub fn raw(mut self, header: [u8; BLOCK], data: &[u8]) -> Tar {
        self.buf.extend_from_slice(&header);
        self.buf.extend_from_slice(data);
        let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
        self.buf.extend(std::iter::repeat_n(0, pad));
        self
    }

    /// A regular file with this mode.
    pub fn file_mode(self, name: impl AsRef<[u8]>, data: &[u8], mode: u32) -> Tar {
        let h = ustar(name.as_ref(), b'0', mode, data.len() as u64, b"");
        self.raw(h, data)
    }

    /// A regular file, 0644.
    pub fn file(self, name: impl AsRef<[u8]>, data: &[u8]) -> Tar {
        self.file_mode(name, data, 0o644)
    }

    /// A directory, 0755.
    pub fn dir(self, name: impl AsRef<[u8]>) -> Tar {
        let h = ustar(name.as_ref(), b'5', 0o755, 0, b"");
        self.raw(h, b"")
    }

    /// A symbolic link.
    pub fn symlink(self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Tar {
        let h = ustar(name.as_ref(), b'2', 0o777, 0, target.as_ref());
        self.raw(h, b"")
    }

    /// A hard link to an earlier member.
    pub fn hardlink(self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Tar {
        let h = ustar(name.as_ref(), b'1', 0o644, 0, target.as_ref());
        self.raw(h, b"")
    }

    /// A member of any type, without data.
    pub fn typed(self, name: impl AsRef<[u8]>, typeflag: u8) -> Tar {
        let h = ustar(name.as_ref(), typeflag, 0o644, 0, b"");
        self.raw(h, b"")
    }

    /// A PAX extended header (`x`) applying to the next member.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Tar {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let h = ustar(b"PaxHeaders/next", b'x', 0o644, data.len() as u64, b"");
        self.raw(h, &data)
    }

    /// A GNU long name (`L`) applying to the next member.
    pub fn gnu_longname(self, name: &[u8]) -> Tar {
        let mut data = name.to_vec();
        data.push(0);
        let mut h = ustar(b"././@LongLink", b'L', 0o644, data.len() as u64, b"");
        // GNU magic, which the tar crate wants for `L` headers.
        h[257..265].copy_from_slice(b"ustar  \0");
        set_checksum(&mut h);
        self.raw(h, &data)
    }

    /// The end-of-archive marker.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend(std::iter::repeat_n(0, 2 * BLOCK));
        self.buf
    }
}

/// zstd at level 3.
pub fn zstd_compress(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

/// Writes a plain tarball of `files` (path, content) at `path`: members under `bin/` are
/// 0755, the rest 0644, mtime 0.
pub fn write_tar(path: &Path, files: &[(&str, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(if name.starts_with("bin/") {
            0o755
        } else {
            0o644
        });
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

// The seekable `.berth`: zstd frames cut at member boundaries, the seek table at the end.

/// One zstd frame of a seekable file: where it starts, its compressed and decoded sizes.
#[derive(Debug, Clone, Copy)]
pub struct SeekFrame {
    pub offset: u64,
    pub compressed: u64,
    pub decompressed: u64,
}

fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

/// The frames listed by the zstd seekable-format seek table at the end of `bytes`
/// (skippable frame 0x184D2A5E, footer magic 0x8F92EAB1); `None` when there is none.
pub fn seek_frames(bytes: &[u8]) -> Option<Vec<SeekFrame>> {
    let len = bytes.len();
    if len < 17 || le32(bytes, len - 4) != 0x8F92_EAB1 {
        return None;
    }
    let n = le32(bytes, len - 9) as usize;
    let entry = if bytes[len - 5] & 0x80 != 0 { 12 } else { 8 };
    let table = len - 9 - n * entry - 8;
    assert_eq!(le32(bytes, table), 0x184D_2A5E, "skippable frame magic");
    assert_eq!(
        le32(bytes, table + 4) as usize,
        n * entry + 9,
        "table frame size"
    );
    let mut offset = 0u64;
    let frames: Vec<SeekFrame> = (0..n)
        .map(|i| {
            let e = table + 8 + i * entry;
            let f = SeekFrame {
                offset,
                compressed: le32(bytes, e),
                decompressed: le32(bytes, e + 4),
            };
            offset += f.compressed;
            f
        })
        .collect();
    assert_eq!(offset as usize, table, "frames end where the table starts");
    Some(frames)
}

/// The frame of a seekable `.berth` that starts with the tar header of `member` (a member
/// packed in a frame of its own), decoded on its own as any zstd tool would.
pub fn frame_of_member(bytes: &[u8], member: &str) -> SeekFrame {
    for f in seek_frames(bytes).expect("a seek table") {
        let raw = &bytes[f.offset as usize..(f.offset + f.compressed) as usize];
        let data = zstd::decode_all(raw).unwrap();
        assert_eq!(data.len() as u64, f.decompressed, "frame size as listed");
        let name_end = data[..100].iter().position(|&b| b == 0).unwrap_or(100);
        if &data[..name_end] == member.as_bytes() {
            return f;
        }
    }
    panic!("no frame starts with member {member}");
}

/// The frame (an index into [`seek_frames`]) that holds each member's tar header, by path:
/// which members of a seekable `.berth` share a frame.
pub fn member_frames(bytes: &[u8]) -> std::collections::BTreeMap<String, usize> {
    let mut starts = Vec::new();
    let mut at = 0u64;
    for f in seek_frames(bytes).expect("a seek table") {
        starts.push(at);
        at += f.decompressed;
    }
    let data = zstd::decode_all(bytes).unwrap();
    let mut archive = tar::Archive::new(data.as_slice());
    let mut out = std::collections::BTreeMap::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let pos = e.raw_header_position();
        let frame = starts.partition_point(|&s| s <= pos) - 1;
        out.insert(e.path().unwrap().to_string_lossy().into_owned(), frame);
    }
    out
}
