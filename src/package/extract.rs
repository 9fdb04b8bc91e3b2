//! Safe extraction, shared by every archive format. The tar crate only parses headers here;
//! every decision about a member is made lexically from its name (never by looking at the
//! disk), and the sink creates what survives inside a fresh private staging directory.

use crate::error::{Error, Result, Unsafe};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

/// Limits that keep a hostile archive from exhausting the machine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Sum of the sizes of all members.
    pub max_unpacked: u64,
    /// Number of members.
    pub max_entries: u64,
    /// Components in one path.
    pub max_depth: usize,
    /// Bytes in one path.
    pub max_path_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked: 32 << 30,
            max_entries: 2_000_000,
            max_depth: 128,
            max_path_len: 4096,
        }
    }
}

/// How to extract one archive.
#[derive(Debug, Clone)]
pub struct Options {
    /// The archive, named in every error.
    pub archive: PathBuf,
    /// Leading path components to drop (members with no more components are skipped).
    pub strip_components: usize,
    /// Size, count and depth limits.
    pub limits: Limits,
    /// Whether leading `.berth/` members are metadata (the `.berth` format) or refused.
    pub allow_meta: bool,
}

/// What a sink can answer: a refusal of the member, or a failure.
#[derive(Debug)]
pub enum SinkError {
    /// The member is refused (named by the extractor in the error).
    Refused(Unsafe),
    /// Anything else (I/O …).
    Fail(Error),
}

impl From<Error> for SinkError {
    fn from(e: Error) -> Self {
        SinkError::Fail(e)
    }
}

/// Receives the members that passed every check, in archive order. Paths are normalised,
/// relative, `/`-separated, and never pass through a symlink of the archive.
pub trait Sink {
    /// A `.berth/` member at the start of a `.berth` archive.
    fn meta(&mut self, name: &str, data: Vec<u8>) -> Result<(), SinkError> {
        let _ = (name, data);
        Err(SinkError::Refused(Unsafe::Reserved))
    }
    /// A directory (parents of every member are announced before it).
    fn dir(&mut self, path: &str) -> Result<(), SinkError>;
    /// A regular file of `size` bytes read from `data`.
    fn file(
        &mut self,
        path: &str,
        exec: bool,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), SinkError>;
    /// A symlink whose target stays inside the package.
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError>;
    /// A hard link to a regular file announced earlier.
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError>;
}

/// What extraction observed beyond the members themselves.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Files whose setuid/setgid/sticky bits were dropped.
    pub special_bits_dropped: Vec<String>,
    /// Members handed to the sink.
    pub members: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A directory; `explicit` when the archive had a member for it.
    Dir {
        explicit: bool,
    },
    File,
    Symlink,
}

/// The lexical state of an archive being checked.
struct Checker<'o> {
    opts: &'o Options,
    seen: HashMap<String, Kind>,
    folded: HashMap<String, String>,
    /// Symlinks and files removed by `--strip-components`, by folded path.
    stripped: HashMap<String, (String, Kind)>,
    total: u64,
    count: u64,
    payload_started: bool,
}

/// Reads a tar stream and hands every member that passes the checks to `sink`.
pub fn extract(reader: impl Read, opts: &Options, sink: &mut dyn Sink) -> Result<Report> {
    let mut archive = tar::Archive::new(ExtensionGuard::new(reader));
    let mut checker = Checker {
        opts,
        seen: HashMap::new(),
        folded: HashMap::new(),
        stripped: HashMap::new(),
        total: 0,
        count: 0,
        payload_started: false,
    };
    let mut report = Report::default();
    let bad = |detail: String| Error::BadArchive {
        archive: opts.archive.clone(),
        detail: explain(detail),
    };
    let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        checker
            .member(&mut entry, sink, &mut report)
            .map_err(|e| match e {
                SinkError::Refused(why) => Error::Unsafe {
                    archive: opts.archive.clone(),
                    member: printable(&raw_name),
                    why,
                },
                // A sink that checks off the decoding thread names the member itself.
                SinkError::Fail(Error::Unsafe { member, why, .. }) => Error::Unsafe {
                    archive: opts.archive.clone(),
                    member: printable(&member),
                    why,
                },
                SinkError::Fail(Error::BadArchive { detail, .. }) => bad(detail),
                SinkError::Fail(e) => e,
            })?;
    }
    Ok(report)
}

/// Makes a decoder's message say what it means for the user.
fn explain(detail: String) -> String {
    // libzstd's text for ZSTD_error_frameParameter_windowTooLarge.
    if detail.contains("Frame requires too much memory") {
        let log = crate::package::source::ZSTD_WINDOW_LOG_MAX;
        return format!(
            "zstd window larger than the limit of 2^{log} bytes ({} MiB); recompress it \
             without --long=28 or higher ({detail})",
            (1u64 << log) >> 20
        );
    }
    // liblzma's text for LZMA_MEMLIMIT_ERROR.
    if detail.contains("memory limit reached") {
        let limit = crate::package::source::XZ_MEMLIMIT >> 20;
        return format!(
            "xz stream needs more than {limit} MiB of memory to decode; recompress it with a \
             smaller dictionary (xz -9 or less) ({detail})"
        );
    }
    detail
}

/// Bytes in one path component (Linux's NAME_MAX).
const NAME_MAX: usize = 255;

/// Characters of a member name shown in an error; the rest is elided.
const PRINTABLE_MAX: usize = 512;

/// A member name safe to print on one line, and of bounded length.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(PRINTABLE_MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(PRINTABLE_MAX).is_some() {
        out.push_str(&format!("… ({} bytes in all)", s.len()));
    }
    out
}

/// The largest PAX extended header or GNU long name or link accepted, in bytes.
pub const MAX_EXTENSION: u64 = 1 << 20;

/// Watches the tar stream on its way to the tar crate and refuses an extension header
/// (PAX `x`, GNU `L`/`K`) larger than [`MAX_EXTENSION`]. The tar crate reads those into
/// memory whole, before the member they describe is handed over, so without this a few
/// compressed kilobytes can make it allocate gigabytes: no limit on members would help.
/// It follows the block structure as the tar crate does (a PAX `size` overrides the next
/// member's header size) and stops watching at the end of the archive, at a sparse member
/// (refused as soon as it is seen) or at a header the tar crate will fail on anyway.
struct ExtensionGuard<R> {
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
    fn new(inner: R) -> Self {
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
        return Some(tail.iter().fold(0u64, |v, &b| (v << 8) | b as u64));
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

fn refuse<T>(why: Unsafe) -> Result<T, SinkError> {
    Err(SinkError::Refused(why))
}

impl Checker<'_> {
    fn member<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        sink: &mut dyn Sink,
        report: &mut Report,
    ) -> Result<(), SinkError> {
        let etype = entry.header().entry_type();
        if etype.is_pax_global_extensions() {
            // Global PAX headers (git archive writes one) carry nothing berth uses.
            return Ok(());
        }
        self.count += 1;
        if self.count > self.opts.limits.max_entries {
            return refuse(Unsafe::TooManyEntries {
                limit: self.opts.limits.max_entries,
            });
        }
        self.check_pax_size(entry)?;

        let raw = entry.path_bytes().into_owned();
        let components = self.split_path(&raw)?;
        let is_dir = etype.is_dir();
        if components.is_empty() {
            // "." or "./": the package root itself.
            if is_dir {
                return Ok(());
            }
            return refuse(Unsafe::EmptyName);
        }

        // `.BERTH/` too: on a case-insensitive filesystem it is the metadata directory.
        if is_reserved(components[0]) {
            if components[0] == ".berth"
                && self.opts.allow_meta
                && !self.payload_started
                && self.opts.strip_components == 0
            {
                if is_dir {
                    return Ok(());
                }
                if etype.is_file() && components.len() == 2 {
                    let mut data = Vec::new();
                    entry
                        .take(1 << 24)
                        .read_to_end(&mut data)
                        .map_err(|e| Error::BadArchive {
                            archive: self.opts.archive.clone(),
                            detail: e.to_string(),
                        })?;
                    return sink.meta(components[1], data);
                }
            }
            return refuse(Unsafe::Reserved);
        }
        let strip = self.opts.strip_components;
        if components.len() <= strip {
            return self.stripped_member(&components, etype);
        }
        self.check_stripped_parents(&components[..strip])?;
        let components = &components[strip..];
        if is_reserved(components[0]) {
            return refuse(Unsafe::Reserved);
        }
        self.payload_started = true;
        let path = components.join("/");
        if components.len() > self.opts.limits.max_depth {
            return refuse(Unsafe::TooDeep {
                limit: self.opts.limits.max_depth,
            });
        }
        if path.len() > self.opts.limits.max_path_len {
            return refuse(Unsafe::TooLong {
                limit: self.opts.limits.max_path_len,
            });
        }

        self.ensure_parents(components, sink)?;

        if is_dir {
            match self.seen.get(&path) {
                Some(Kind::Dir { explicit: false }) => {
                    self.seen.insert(path, Kind::Dir { explicit: true });
                    return Ok(());
                }
                Some(_) => return refuse(Unsafe::Duplicate),
                None => {}
            }
            self.claim(&path, Kind::Dir { explicit: true })?;
            report.members += 1;
            return sink.dir(&path);
        }
        if self.seen.contains_key(&path) {
            return refuse(Unsafe::Duplicate);
        }

        if etype.is_file() || etype == tar::EntryType::Continuous {
            let size = entry.size();
            self.total = self.total.saturating_add(size);
            if self.total > self.opts.limits.max_unpacked {
                return refuse(Unsafe::TooLarge {
                    limit: self.opts.limits.max_unpacked,
                });
            }
            let mode = entry.header().mode().map_err(|e| Error::BadArchive {
                archive: self.opts.archive.clone(),
                detail: format!("{path}: {e}"),
            })?;
            if mode & 0o7000 != 0 {
                report.special_bits_dropped.push(path.clone());
            }
            self.claim(&path, Kind::File)?;
            report.members += 1;
            report.bytes += size;
            let exec = mode & 0o111 != 0;
            return sink.file(&path, exec, size, entry);
        }
        if etype.is_symlink() {
            let target = self.link_text(entry)?;
            check_symlink_target(&path, &target)?;
            self.claim(&path, Kind::Symlink)?;
            report.members += 1;
            return sink.symlink(&path, &target);
        }
        if etype.is_hard_link() {
            let target_raw = self.link_text(entry)?;
            let target = self.hardlink_target(&target_raw)?;
            self.claim(&path, Kind::File)?;
            report.members += 1;
            return sink.hardlink(&path, &target);
        }
        refuse_special(etype)
    }

    /// A member that `--strip-components` removes whole. Nothing of it is created, but
    /// what it is still matters: in the archive's own meaning a later member under a
    /// stripped symlink or file passes through it, and a device is refused wherever it is.
    fn stripped_member(
        &mut self,
        components: &[&str],
        etype: tar::EntryType,
    ) -> Result<(), SinkError> {
        if let Some((_, parents)) = components.split_last() {
            self.check_stripped_parents(parents)?;
        }
        let kind = if etype.is_dir() {
            return Ok(());
        } else if etype.is_symlink() {
            Kind::Symlink
        } else if etype.is_file() || etype.is_hard_link() || etype == tar::EntryType::Continuous {
            Kind::File
        } else {
            return refuse_special(etype);
        };
        self.stripped.insert(
            fold_case(&components.join("/")),
            (components.join("/"), kind),
        );
        Ok(())
    }

    /// Refuses a path whose stripped leading components were a symlink or a file of the
    /// archive (compared with case folded, as the filesystem would).
    fn check_stripped_parents(&self, prefix: &[&str]) -> Result<(), SinkError> {
        if self.stripped.is_empty() {
            return Ok(());
        }
        for i in 1..=prefix.len() {
            match self.stripped.get(&fold_case(&prefix[..i].join("/"))) {
                Some((name, Kind::Symlink)) => return refuse(Unsafe::ThroughSymlink(name.clone())),
                Some((name, Kind::File)) => return refuse(Unsafe::NotADirectory(name.clone())),
                _ => {}
            }
        }
        Ok(())
    }

    /// A PAX `size` record that disagrees with the ustar header is the TARmageddon class of
    /// bug: two readers would disagree on where the next member starts.
    fn check_pax_size<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<(), SinkError> {
        let ustar = entry.header().entry_size().map_err(|e| Error::BadArchive {
            archive: self.opts.archive.clone(),
            detail: e.to_string(),
        })?;
        // Every `size` record counts: readers differ on whether the first or the last wins.
        let sizes: Vec<Vec<u8>> = match entry.pax_extensions() {
            Ok(Some(exts)) => exts
                .filter_map(|e| e.ok())
                .filter(|e| e.key_bytes() == b"size")
                .map(|e| e.value_bytes().to_vec())
                .collect(),
            _ => Vec::new(),
        };
        if sizes.iter().any(|v| v != &sizes[0]) {
            return refuse(Unsafe::BadHeader("conflicting PAX size records".into()));
        }
        for v in sizes {
            let pax: u64 = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| {
                    SinkError::Refused(Unsafe::BadHeader(format!(
                        "PAX size `{}` is not a number",
                        String::from_utf8_lossy(&v)
                    )))
                })?;
            // A ustar field of 0 with a PAX size beyond its 8 GiB reach is legitimate.
            let overflowed = ustar == 0 && pax > 0o77777777777;
            if pax != ustar && !overflowed {
                return refuse(Unsafe::PaxSizeMismatch { pax, ustar });
            }
        }
        Ok(())
    }

    /// Splits a raw member name into normalised components, refusing what is unsafe.
    fn split_path<'a>(&self, raw: &'a [u8]) -> Result<Vec<&'a str>, SinkError> {
        let s = std::str::from_utf8(raw).or(refuse(Unsafe::NonUtf8))?;
        if s.is_empty() {
            return refuse(Unsafe::EmptyName);
        }
        check_chars(s)?;
        if s.starts_with('/') {
            return refuse(Unsafe::AbsolutePath);
        }
        let mut out = Vec::new();
        for c in s.split('/') {
            match c {
                "" | "." => {}
                ".." => return refuse(Unsafe::DotDot),
                c if c.len() > NAME_MAX => {
                    return refuse(Unsafe::ComponentTooLong { limit: NAME_MAX })
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }

    /// Announces implicit parent directories and refuses a path through a symlink or file.
    fn ensure_parents(
        &mut self,
        components: &[&str],
        sink: &mut dyn Sink,
    ) -> Result<(), SinkError> {
        for i in 1..components.len() {
            let prefix = components[..i].join("/");
            match self.seen.get(&prefix) {
                Some(Kind::Dir { .. }) => continue,
                Some(Kind::Symlink) => return refuse(Unsafe::ThroughSymlink(prefix)),
                Some(Kind::File) => return refuse(Unsafe::NotADirectory(prefix)),
                None => {
                    self.claim(&prefix, Kind::Dir { explicit: false })?;
                    sink.dir(&prefix)?;
                }
            }
        }
        Ok(())
    }

    /// Records a new path, refusing one that collides with another when case is folded
    /// (on a case-insensitive filesystem they would be the same file).
    fn claim(&mut self, path: &str, kind: Kind) -> Result<(), SinkError> {
        let folded = fold_case(path);
        if let Some(other) = self.folded.get(&folded) {
            if other != path {
                return refuse(Unsafe::CaseCollision(other.clone()));
            }
        }
        self.folded.insert(folded, path.to_string());
        self.seen.insert(path.to_string(), kind);
        Ok(())
    }

    fn link_text<R: Read>(&self, entry: &tar::Entry<'_, R>) -> Result<String, SinkError> {
        let raw = entry
            .link_name_bytes()
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let s = String::from_utf8(raw).or(refuse(Unsafe::NonUtf8))?;
        if s.is_empty() {
            return refuse(Unsafe::EmptyName);
        }
        check_chars(&s)?;
        // The filesystem's limits, decided here rather than met as an I/O error later.
        if s.len() > self.opts.limits.max_path_len {
            return refuse(Unsafe::TooLong {
                limit: self.opts.limits.max_path_len,
            });
        }
        if s.split('/').any(|c| c.len() > NAME_MAX) {
            return refuse(Unsafe::ComponentTooLong { limit: NAME_MAX });
        }
        Ok(s)
    }

    /// A hard link's target, normalised like a member path; it must be a regular file of
    /// this archive that came earlier.
    fn hardlink_target(&self, raw: &str) -> Result<String, SinkError> {
        if raw.starts_with('/') {
            return refuse(Unsafe::HardlinkOutside(raw.to_string()));
        }
        let mut comps = Vec::new();
        for c in raw.split('/') {
            match c {
                "" | "." => {}
                ".." => return refuse(Unsafe::HardlinkOutside(raw.to_string())),
                c => comps.push(c),
            }
        }
        if comps.len() <= self.opts.strip_components {
            return refuse(Unsafe::HardlinkOutside(raw.to_string()));
        }
        self.check_stripped_parents(&comps[..self.opts.strip_components])?;
        let target = comps[self.opts.strip_components..].join("/");
        match self.seen.get(&target) {
            Some(Kind::File) => Ok(target),
            Some(Kind::Symlink) => refuse(Unsafe::HardlinkBadTarget(target, "it is a symlink")),
            Some(Kind::Dir { .. }) => {
                refuse(Unsafe::HardlinkBadTarget(target, "it is a directory"))
            }
            None => refuse(Unsafe::HardlinkBadTarget(
                target,
                "no such member before it",
            )),
        }
    }
}

/// A key under which names that a case-insensitive filesystem would confuse are equal.
/// Lowercasing alone is not enough: `to_lowercase` turns a final `Σ` into `ς`, so `ΑΣ`
/// would fold to `ας` and miss `ασ`; uppercasing the result folds `ς`, `σ` and `Σ` (and
/// the Kelvin sign and `K`) together.
fn fold_case(path: &str) -> String {
    path.to_lowercase().to_uppercase()
}

/// Whether a top-level component names the entry's metadata directory, case folded.
fn is_reserved(component: &str) -> bool {
    fold_case(component) == fold_case(".berth")
}

/// Refuses a member that is neither a directory, a file nor a link.
fn refuse_special(etype: tar::EntryType) -> Result<(), SinkError> {
    let what = match etype {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "fifo",
        tar::EntryType::GNUSparse => "sparse file",
        other => return refuse(Unsafe::UnknownType(other.as_byte())),
    };
    refuse(Unsafe::SpecialFile(what))
}

fn check_chars(s: &str) -> Result<(), SinkError> {
    if s.contains('\\') {
        return refuse(Unsafe::Backslash);
    }
    if s.chars().any(|c| c.is_control()) {
        return refuse(Unsafe::ControlChar);
    }
    Ok(())
}

/// A symlink target must be relative and must stay inside the package. It may climb out of
/// the link's own directory with leading `..` (those parents are real directories: no member
/// passes through a symlink), but never climb after descending, because a descended
/// component may itself be a symlink and `..` would then be resolved from wherever it leads.
pub fn check_symlink_target(path: &str, target: &str) -> Result<(), SinkError> {
    if target.starts_with('/') {
        return refuse(Unsafe::SymlinkAbsolute(target.to_string()));
    }
    let depth = path.split('/').count() - 1;
    let mut climbs = 0usize;
    let mut descended = false;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if descended {
                    return refuse(Unsafe::SymlinkEscapes(target.to_string()));
                }
                climbs += 1;
                if climbs > depth {
                    return refuse(Unsafe::SymlinkEscapes(target.to_string()));
                }
            }
            _ => descended = true,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets() {
        assert!(check_symlink_target("a/b", "c").is_ok());
        assert!(check_symlink_target("a/b", "../c").is_ok());
        assert!(check_symlink_target("a/b", "./c/d").is_ok());
        assert!(check_symlink_target("a/b", "../../c").is_err());
        assert!(check_symlink_target("b", "..").is_err());
        assert!(check_symlink_target("a/b", "/etc").is_err());
        assert!(check_symlink_target("a/m", "l/..").is_err());
        assert!(check_symlink_target("a/b", "..").is_ok());
    }

    #[test]
    fn case_folding() {
        assert_eq!(fold_case("ΑΣ"), fold_case("ασ"));
        assert_eq!(fold_case("ας"), fold_case("ασ"));
        assert_eq!(fold_case("\u{212a}elvin"), fold_case("kelvin"));
        assert_eq!(fold_case("Androi~2"), fold_case("ANDROI~2"));
        assert_ne!(fold_case("a"), fold_case("b"));
    }
}
