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
    total: u64,
    count: u64,
    payload_started: bool,
}

/// Reads a tar stream and hands every member that passes the checks to `sink`.
pub fn extract(reader: impl Read, opts: &Options, sink: &mut dyn Sink) -> Result<Report> {
    let mut archive = tar::Archive::new(reader);
    let mut checker = Checker {
        opts,
        seen: HashMap::new(),
        folded: HashMap::new(),
        total: 0,
        count: 0,
        payload_started: false,
    };
    let mut report = Report::default();
    let bad = |detail: String| Error::BadArchive {
        archive: opts.archive.clone(),
        detail,
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
                SinkError::Fail(Error::BadArchive { detail, .. }) => bad(detail),
                SinkError::Fail(e) => e,
            })?;
    }
    Ok(report)
}

/// A member name safe to print on one line.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
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

        if components[0] == ".berth" {
            if self.opts.allow_meta && !self.payload_started && self.opts.strip_components == 0 {
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
        if components.len() <= self.opts.strip_components {
            return Ok(());
        }
        let components = &components[self.opts.strip_components..];
        if components.first() == Some(&".berth") {
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
        let what = match etype {
            tar::EntryType::Char => "character device",
            tar::EntryType::Block => "block device",
            tar::EntryType::Fifo => "fifo",
            tar::EntryType::GNUSparse => "sparse file",
            other => return refuse(Unsafe::UnknownType(other.as_byte())),
        };
        refuse(Unsafe::SpecialFile(what))
    }

    /// A PAX `size` record that disagrees with the ustar header is the TARmageddon class of
    /// bug: two readers would disagree on where the next member starts.
    fn check_pax_size<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<(), SinkError> {
        let ustar = entry.header().entry_size().map_err(|e| Error::BadArchive {
            archive: self.opts.archive.clone(),
            detail: e.to_string(),
        })?;
        let pax = entry.pax_extensions().ok().flatten().and_then(|exts| {
            exts.filter_map(|e| e.ok())
                .find(|e| e.key_bytes() == b"size")
                .map(|e| e.value_bytes().to_vec())
        });
        if let Some(v) = pax {
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
        let folded = path.to_lowercase();
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
}
