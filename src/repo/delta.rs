//! Range installs: a seekable `.berth` whose index entry carries `seek` (its frame 0 and
//! seek table, by length and sha256) is installed from only the frames holding files the
//! store's object pool lacks, fetched by HTTP range requests, ONE range per request
//! (multi-range answers are unreliable on object stores and CDNs), near frames merged.
//!
//! Trust runs from the signature: index → sha256 of the seek table and of frame 0 → the
//! manifest and listing in frame 0 (whose store id must be the index's) → each member's
//! sha256 in the listing → the bytes of each fetched member, checked before use. The frame
//! of every member is planned from the listing (the packer cuts frames deterministically)
//! and accepted only when the plan gives the table's sizes exactly.
//!
//! The install itself is the store's usual one, from a local rebuild of the package under
//! the cache directory (never under the cache's verified name): frame 0 verbatim, then the
//! payload cut as the packer cuts it, real bytes for fetched members and zeros for pooled
//! ones (placed from the pool; were they not, their hash check would refuse the install).
//! The store checks the entry's id against the signed one before it commits anything.
//!
//! A server without range support (a `200` to a Range request, `416`, an odd
//! `Content-Range`) gets the full download, verified by the signed sha256. Bytes that do
//! not decode or do not hash as signed are refused, never replaced by a full download.

use super::fetch::{Fetcher, Ranged};
use super::index::{Kind, Package};
use super::Error;
use crate::error::{IoContext, Result};
use crate::fsutil::Dir;
use crate::package::listing::{FileList, FileMode, Record};
use crate::package::manifest::Manifest;
use crate::package::pack::{member_header, write_payload, GROUP_FRAME, OWN_FRAME};
use crate::package::seekable::{decode_frame, FrameWriter, SeekTable};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::Path;

/// How a package's bytes came over the wire (part of `install --json`'s row).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Transfer {
    /// `ranges` (only the missing frames), `full` (the whole file) or `cached` (none).
    pub mode: &'static str,
    /// Bytes of package data received.
    pub bytes: u64,
    /// Requests made for it.
    pub requests: u64,
}

impl Transfer {
    /// Nothing fetched: a verified cached copy.
    pub fn cached() -> Transfer {
        Transfer {
            mode: "cached",
            bytes: 0,
            requests: 0,
        }
    }
}

/// Needed frames at most this far apart are fetched by one request.
const MERGE_GAP: u64 = 8 << 10;
/// Merged ranges stop growing at this many bytes (a range is held in memory while it is
/// checked; a single frame larger than this is one range of its own).
const MAX_GROUP: u64 = 8 << 20;
/// Decoded bytes below which the compression ratio is not judged (as the reader does).
const RATIO_FLOOR: u64 = 64 << 20;

/// What the store offers a range install.
pub struct Want<'a> {
    /// Whether the object pool holds a regular file of this content, mode and size.
    pub pooled: &'a dyn Fn(&[u8; 32], FileMode, u64) -> bool,
    /// The reader's decompression-ratio limit (judged here on the real package).
    pub max_ratio: u64,
}

/// What a range install came to.
pub enum Attempt {
    /// The package rebuilt from verified parts, in the cache directory under `tmp`.
    Rebuilt {
        /// The temporary file's name in the cache directory (the caller removes it).
        tmp: String,
        /// The URL the ranges came from.
        url: String,
        /// What was fetched.
        transfer: Transfer,
    },
    /// No range install: download the whole file instead. `spent` is what the tries cost.
    Fallback {
        /// Why, for the debug log.
        why: String,
        /// Bytes and requests spent before giving up.
        spent: Transfer,
    },
}

/// Per frame, the files it holds that the store lacks: path, where the data starts in the
/// frame's decoded bytes, size, sha256 in the listing.
type Missing<'l> = BTreeMap<usize, Vec<(&'l str, u64, u64, [u8; 32])>>;

/// The data of the missing files in the frames `g` of a fetched range (`bytes`, which are
/// `span` of the file), each checked against the signed listing.
fn verified<'l>(
    bytes: &[u8],
    span: (u64, u64),
    g: (usize, usize),
    starts: &[u64],
    table: &SeekTable,
    missing: &Missing<'l>,
    url: &str,
) -> Result<HashMap<&'l str, Vec<u8>>> {
    let (start, end) = span;
    let mut out = HashMap::new();
    for f in g.0..=g.1 {
        let Some(members) = missing.get(&f) else {
            continue;
        };
        let from = (starts[f] - start) as usize;
        let raw = &bytes[from..from + table.frames[f].compressed as usize];
        let plain = decode_frame(raw, table.frames[f].decompressed)
            .map_err(|e| mismatch(url, start, end, format!("frame {f} does not decode: {e}")))?;
        for (rel, data_at, size, sha) in members {
            let got = plain
                .get(*data_at as usize..(*data_at + *size) as usize)
                .unwrap_or_default();
            let actual = sha256_hex(got);
            if actual != hex::encode(sha) {
                return Err(mismatch(
                    url,
                    start,
                    end,
                    format!(
                        "`{}` decodes to sha256 {actual}, the signed listing says {}",
                        crate::package::extract::printable(rel),
                        hex::encode(sha)
                    ),
                ));
            }
            out.insert(*rel, got.to_vec());
        }
    }
    Ok(out)
}

/// A refusal naming the URL, the byte range and what did not match.
fn mismatch(url: &str, start: u64, end: u64, what: String) -> crate::Error {
    Error::RangeMismatch {
        url: url.to_string(),
        start,
        end,
        what,
    }
    .into()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Tries to install `pkg` from `url` by ranges. Errors are refusals (bytes that are not the
/// signed ones) or transport failures; anything else falls back to a full download.
pub fn attempt(
    dir: &Dir,
    name: &str,
    pkg: &Package,
    url: &str,
    fetcher: &Fetcher,
    want: &Want<'_>,
) -> Result<Attempt> {
    let mut spent = Transfer {
        mode: "ranges",
        bytes: 0,
        requests: 0,
    };
    macro_rules! fallback {
        ($($why:tt)*) => {
            return Ok(Attempt::Fallback { why: format!($($why)*), spent })
        };
    }
    let (Some(seek), Some(store_id)) = (&pkg.seek, &pkg.store_id) else {
        fallback!("the index gives no `seek` for it")
    };
    if pkg.kind != Kind::Berth || !(url.starts_with("http://") || url.starts_with("https://")) {
        fallback!("not a .berth over HTTP")
    }
    let size = pkg.size;
    let get = |start: u64, end: u64, spent: &mut Transfer| -> Result<Option<Vec<u8>>> {
        spent.requests += 1;
        match fetcher.range(url, start, end, size)? {
            Ranged::Bytes(b) => {
                spent.bytes += b.len() as u64;
                Ok(Some(b))
            }
            Ranged::Unserved(why) => {
                tracing::debug!("{url}: bytes {start}-{end}: {why}");
                Ok(None)
            }
        }
    };
    // The seek table, at the end.
    let (t0, t1) = (size - seek.table, size - 1);
    let Some(tail) = get(t0, t1, &mut spent)? else {
        fallback!("the server does not serve ranges")
    };
    let actual = sha256_hex(&tail);
    if actual != seek.table_sha256 {
        return Err(mismatch(
            url,
            t0,
            t1,
            format!(
                "the seek table's sha256 is {actual}, the signed index says {}",
                seek.table_sha256
            ),
        ));
    }
    let Some(table) = SeekTable::parse(&tail, size) else {
        return Err(mismatch(
            url,
            t0,
            t1,
            format!("the signed seek table does not describe a file of {size} bytes"),
        ));
    };
    if table.frames[0].compressed != seek.head {
        return Err(mismatch(
            url,
            t0,
            t1,
            format!(
                "the seek table's frame 0 is {} bytes, the signed index says {}",
                table.frames[0].compressed, seek.head
            ),
        ));
    }
    let decoded: u64 = table.frames.iter().map(|f| f.decompressed).sum();
    if decoded > RATIO_FLOOR && decoded / size.max(1) > want.max_ratio {
        fallback!("it expands more than {}:1", want.max_ratio)
    }
    // Frame 0: the manifest and the listing.
    let (h0, h1) = (0, seek.head - 1);
    let Some(head) = get(h0, h1, &mut spent)? else {
        fallback!("the server does not serve ranges")
    };
    let actual = sha256_hex(&head);
    if actual != seek.head_sha256 {
        return Err(mismatch(
            url,
            h0,
            h1,
            format!(
                "frame 0's sha256 is {actual}, the signed index says {}",
                seek.head_sha256
            ),
        ));
    }
    let (manifest, list) = decode_frame(&head, table.frames[0].decompressed)
        .map_err(|e| e.to_string())
        .and_then(|plain| read_head(&plain, url))
        .map_err(|e| mismatch(url, h0, h1, format!("frame 0: {e}")))?;
    let id = list.id(&manifest)?;
    if &id != store_id {
        return Err(mismatch(
            url,
            h0,
            h1,
            format!("its listing gives store id {id}, the signed index says {store_id}"),
        ));
    }
    // The plan: which frame holds each member, and which frames hold missing files.
    let Some(places) = plan(&list, &table) else {
        fallback!("its frames are not cut as this berth packs (or hold other modes)")
    };
    let mut starts = Vec::with_capacity(table.frames.len());
    let mut at = 0u64;
    for f in &table.frames {
        starts.push(at);
        at += f.compressed;
    }
    let mut missing: Missing<'_> = BTreeMap::new();
    let mut pooled = 0usize;
    for ((rel, rec), (frame, data_at)) in list.records.iter().zip(&places) {
        if let Record::File { mode, size, sha256 } = rec {
            if *size == 0 {
                continue;
            }
            if (want.pooled)(sha256, *mode, *size) {
                pooled += 1;
            } else {
                missing
                    .entry(*frame)
                    .or_default()
                    .push((rel, *data_at, *size, *sha256));
            }
        }
    }
    if pooled == 0 {
        fallback!("the store holds none of its files")
    }
    // Needed frames, merged into few requests.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &f in missing.keys() {
        match groups.last_mut() {
            Some((first, last))
                if starts[f] - (starts[*last] + table.frames[*last].compressed) <= MERGE_GAP
                    && starts[f] + table.frames[f].compressed - starts[*first] <= MAX_GROUP =>
            {
                *last = f;
            }
            _ => groups.push((f, f)),
        }
    }
    let span = |(a, b): (usize, usize)| (starts[a], starts[b] + table.frames[b].compressed - 1);
    let need: u64 = groups.iter().map(|g| span(*g).1 + 1 - span(*g).0).sum();
    if need > size / 4 * 3 {
        fallback!("most of it is not in the store ({need} of {size} bytes)")
    }
    // The rebuild asks for members in listing order, and frames follow that order: each
    // group is fetched and verified when its first member is reached, and only one group's
    // bytes are held at a time.
    let frame_of: HashMap<&str, usize> = missing
        .iter()
        .flat_map(|(f, ms)| ms.iter().map(move |m| (m.0, *f)))
        .collect();
    let mut next = 0usize;
    let mut held: HashMap<&str, Vec<u8>> = HashMap::new();
    let mut unserved = false;
    let tmp = crate::fsutil::temp_name(name);
    let file = dir
        .create_file(&tmp, 0o644)
        .map_err(|e| crate::Error::io("create", dir.join(&tmp), e))?;
    let path = dir.join(&tmp);
    let built = rebuild(file, &path, &head, &table, &list, |rel, size| {
        if !frame_of.contains_key(rel) {
            return Ok(Box::new(std::io::repeat(0).take(size)));
        }
        while !held.contains_key(rel) {
            let Some(g) = groups.get(next) else {
                return Err(crate::Error::Internal {
                    what: "range install",
                    detail: format!("`{rel}` is in no planned range"),
                });
            };
            next += 1;
            let (start, end) = span(*g);
            let Some(bytes) = get(start, end, &mut spent)? else {
                unserved = true;
                return Err(crate::Error::Internal {
                    what: "range install",
                    detail: "the server stopped serving ranges".into(),
                });
            };
            held = verified(&bytes, (start, end), *g, &starts, &table, &missing, url)?;
        }
        let d = held.remove(rel).unwrap_or_default();
        Ok(Box::new(std::io::Cursor::new(d)))
    });
    if let Err(e) = built {
        let _ = dir.remove_file(&tmp);
        if unserved {
            fallback!("the server stopped serving ranges")
        }
        return Err(e);
    }
    tracing::debug!(
        "{url}: {} of {size} bytes by {} range requests ({} frames, {pooled} files from the pool)",
        spent.bytes,
        spent.requests,
        missing.len()
    );
    Ok(Attempt::Rebuilt {
        tmp,
        url: url.to_string(),
        transfer: spent,
    })
}

/// The manifest and listing of a decoded frame 0 (the two `.berth/` members, in order).
fn read_head(plain: &[u8], url: &str) -> std::result::Result<(Manifest, FileList), String> {
    let mut manifest = None;
    let mut list = None;
    let mut ar = tar::Archive::new(plain);
    for e in ar.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        let path = e.path_bytes().into_owned();
        let mut text = String::new();
        e.read_to_string(&mut text).map_err(|e| e.to_string())?;
        match (&path[..], &manifest, &list) {
            (b".berth/manifest.toml", None, None) => {
                let named = Path::new(url).join(".berth/manifest.toml");
                manifest = Some(Manifest::parse(&text, &named).map_err(|e| e.to_string())?);
            }
            (b".berth/files", Some(_), None) => {
                list = Some(FileList::parse(&text).map_err(|e| format!(".berth/files {e}"))?);
            }
            _ => return Err("not .berth/manifest.toml then .berth/files".into()),
        }
    }
    match (manifest, list) {
        (Some(m), Some(l)) => Ok((m, l)),
        _ => Err("no .berth/manifest.toml and .berth/files".into()),
    }
}

/// Counts bytes written.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tar bytes of a member before its data: its header, and a GNU long-name (or long link
/// name) entry before it when its path (or link target) is longer than a header holds.
fn header_len(rel: &str, rec: &Record) -> std::io::Result<u64> {
    let mut b = tar::Builder::new(Count(0));
    b.mode(tar::HeaderMode::Deterministic);
    let mut h = member_header(rec);
    h.set_size(0);
    match rec {
        Record::Symlink { target } => b.append_link(&mut h, rel, target)?,
        _ => b.append_data(&mut h, rel, std::io::empty())?,
    }
    // `into_inner` adds the archive's two final zero blocks.
    Ok(b.into_inner()?.0 - 1024)
}

/// For each member in listing order: its frame and where its data starts in the frame's
/// decoded bytes, as the packer cuts frames (see `pack::write_payload`). `None` unless
/// the plan gives every frame's decoded size in `table` exactly, or when a member has a
/// mode the packer does not write.
fn plan(list: &FileList, table: &SeekTable) -> Option<Vec<(usize, u64)>> {
    let mut frames = vec![table.frames.first()?.decompressed];
    let mut cur = 0u64;
    let mut out = Vec::with_capacity(list.records.len());
    for (rel, rec) in &list.records {
        let (own, data) = match rec {
            Record::File { mode, size, .. } => {
                if *mode != FileMode::of_exec(mode.exec()) {
                    return None;
                }
                (*size >= OWN_FRAME, size.div_ceil(512) * 512)
            }
            _ => (false, 0),
        };
        let head = header_len(rel, rec).ok()?;
        if (own || cur >= GROUP_FRAME) && cur > 0 {
            frames.push(cur);
            cur = 0;
        }
        out.push((frames.len(), cur + head));
        cur += head + data;
        if own {
            frames.push(cur);
            cur = 0;
        }
    }
    if cur > 0 {
        frames.push(cur);
    }
    // The archive's two final zero blocks, in a frame of their own.
    frames.push(1024);
    let sizes: Vec<u64> = table.frames.iter().map(|f| f.decompressed).collect();
    (frames == sizes).then_some(out)
}

/// Writes the local rebuild: frame 0 verbatim, then the payload as the packer writes it,
/// each file's data fetched (and verified) or zeros for one the pool holds.
fn rebuild<'d>(
    file: std::fs::File,
    path: &Path,
    head: &[u8],
    table: &SeekTable,
    list: &FileList,
    data: impl FnMut(&str, u64) -> Result<Box<dyn Read + 'd>>,
) -> Result<()> {
    let frames = FrameWriter::new(std::io::BufWriter::new(file), 1).ctx("compress", path)?;
    frames
        .raw_frame(head, table.frames[0].decompressed)
        .ctx("write", path)?;
    let mut b = tar::Builder::new(frames.clone());
    b.mode(tar::HeaderMode::Deterministic);
    write_payload(&frames, &mut b, list, path, data)?;
    frames.end_frame().ctx("compress", path)?;
    drop(b.into_inner().ctx("write", path)?);
    let w = frames.finish().ctx("compress", path)?;
    w.into_inner()
        .map_err(|e| crate::Error::io("write", path, e.into_error()))?;
    Ok(())
}

/// The `seek` field of a published `.berth`: `None` unless it is seekable and its frames
/// are cut as this berth plans them (then a range install can use it).
pub fn describe(path: &Path, size: u64) -> Result<Option<super::index::Seek>> {
    use std::os::unix::fs::FileExt;
    let file = crate::fsutil::open_input(path)?;
    let Some(table) = SeekTable::read(&file, size) else {
        return Ok(None);
    };
    let at = |off: u64, len: u64| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, off).ctx("read", path)?;
        Ok(buf)
    };
    let head = at(0, table.frames[0].compressed)?;
    let tail = at(size - table.table_len, table.table_len)?;
    let Ok(plain) = decode_frame(&head, table.frames[0].decompressed) else {
        return Ok(None);
    };
    let Ok((_, list)) = read_head(&plain, &path.display().to_string()) else {
        return Ok(None);
    };
    if plan(&list, &table).is_none() {
        tracing::debug!(
            "{}: frames not cut as planned; no `seek` in the index",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(super::index::Seek {
        head: head.len() as u64,
        head_sha256: sha256_hex(&head),
        table: tail.len() as u64,
        table_sha256: sha256_hex(&tail),
    }))
}
