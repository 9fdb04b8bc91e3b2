//! The signed index of a repository (`index.json`): what it holds, and the checks every
//! index passes before anything trusts it (run after its signature has been verified).

use super::Error;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The index format this berth writes and reads.
pub const FORMAT: u64 = 1;
/// The index's file name in a repository.
pub const INDEX: &str = "index.json";
/// The detached signature's file name.
pub const SIGNATURE: &str = "index.json.minisig";

/// A repository index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Format version ([`FORMAT`]).
    pub format: u64,
    /// The channel this index is for (clients pin one).
    pub channel: String,
    /// Increases with every publish; clients refuse a lower one (rollback).
    pub serial: u64,
    /// When it was signed (RFC 3339, UTC).
    pub generated: String,
    /// After this, clients refuse it (freeze).
    pub expires: String,
    /// The packages, sorted by name then version.
    pub packages: Vec<Package>,
}

/// One published package file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// What the file is.
    pub kind: Kind,
    /// Where it is, relative to the repository's URL (`packages/ab/<sha256>-<file>`).
    pub path: String,
    /// Its exact size in bytes.
    pub size: u64,
    /// Its sha256 (lower-case hex).
    pub sha256: String,
    /// The id the store gives it (absent when this berth cannot read the format yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// Leading path components dropped on install (tarballs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strip_components: usize,
    /// A seekable `.berth`'s two ends, for an install that fetches only the frames it needs
    /// by HTTP range requests (absent: the file is always downloaded whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seek: Option<Seek>,
    /// One line for `search`.
    #[serde(default)]
    pub description: String,
}

/// The parts of a seekable `.berth` a range install reads first, authenticated by the
/// signed index: frame 0 (the manifest and the listing, which give every member's sha256)
/// and the seek table (where every frame is).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Seek {
    /// Bytes of frame 0, at the file's start.
    pub head: u64,
    /// sha256 of those bytes (lower-case hex).
    pub head_sha256: String,
    /// Bytes of the seek table's skippable frame, at the file's end.
    pub table: u64,
    /// sha256 of those bytes (lower-case hex).
    pub table_sha256: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The kinds of package files the store takes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A `.berth` package.
    Berth,
    /// A Debian package.
    Deb,
    /// An RPM package.
    Rpm,
    /// A plain tar, .tar.gz, .tar.xz or .tar.zst.
    Tarball,
}

impl Kind {
    /// Lower-case name, as in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Berth => "berth",
            Kind::Deb => "deb",
            Kind::Rpm => "rpm",
            Kind::Tarball => "tarball",
        }
    }
}

impl Package {
    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The file name the publisher gave it (the path's last part without the hash prefix).
    pub fn file_name(&self) -> &str {
        let last = self.path.rsplit('/').next().unwrap_or(&self.path);
        last.strip_prefix(&format!("{}-", self.sha256))
            .filter(|s| !s.is_empty())
            .unwrap_or(last)
    }
}

/// Parses and checks index bytes; `url` names the source in errors.
pub fn parse(bytes: &[u8], url: &str) -> Result<Index> {
    let bad = |why: String| Error::BadIndex {
        url: url.to_string(),
        why,
    };
    // The format decides how to read the rest, so it is looked at first.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    match value.get("format").and_then(|f| f.as_u64()) {
        Some(FORMAT) => {}
        Some(n) => {
            return Err(bad(format!(
                "format {n}; this berth reads format {FORMAT} (upgrade berth)"
            ))
            .into())
        }
        None => return Err(bad("no `format` number".into()).into()),
    }
    let index: Index = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    index.check().map_err(|e| bad(e.to_string()))?;
    Ok(index)
}

/// Parses an RFC 3339 timestamp: a date, `T`, a time (fractions allowed) and a zone,
/// `Z` or an offset (`+14:00`); a time without a zone is refused (it means no instant).
pub fn time(s: &str) -> Option<SystemTime> {
    let (local, offset) = if let Some(l) = s.strip_suffix(['Z', 'z']) {
        (l, 0i64)
    } else {
        let at = s.len().checked_sub(6)?;
        let (l, zone) = (s.get(..at)?, s.get(at..)?);
        let b = zone.as_bytes();
        let sign = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        if b[3] != b':'
            || !zone[1..3]
                .bytes()
                .chain(zone[4..].bytes())
                .all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let (h, m): (i64, i64) = (zone[1..3].parse().ok()?, zone[4..].parse().ok()?);
        if h > 23 || m > 59 {
            return None;
        }
        (l, sign * (h * 3600 + m * 60))
    };
    // humantime reads the strict UTC form; the offset is applied here.
    if local.len() < 19 || local.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let utc = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let shift = std::time::Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl Index {
    /// An empty index.
    pub fn new(channel: &str, now: SystemTime) -> Index {
        Index {
            format: FORMAT,
            channel: channel.to_string(),
            serial: 0,
            generated: format_time(now),
            expires: format_time(now),
            packages: vec![],
        }
    }

    /// The canonical bytes (pretty JSON with a final newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// When it expires.
    pub fn expires_at(&self) -> SystemTime {
        time(&self.expires).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Every rule an index follows; the first one broken.
    pub fn check(&self) -> std::result::Result<(), IndexError> {
        check_channel(&self.channel)?;
        let bad_time = |field, value: &str| IndexError::BadTime {
            field,
            value: value.to_string(),
        };
        let generated =
            time(&self.generated).ok_or_else(|| bad_time("generated", &self.generated))?;
        let expires = time(&self.expires).ok_or_else(|| bad_time("expires", &self.expires))?;
        if expires < generated {
            return Err(IndexError::ExpiresFirst);
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.packages {
            p.check().map_err(|why| IndexError::Package {
                reference: shown(&p.reference()),
                why,
            })?;
            if !seen.insert((p.name.as_str(), p.version.as_str())) {
                return Err(IndexError::ListedTwice {
                    reference: shown(&p.reference()),
                });
            }
        }
        Ok(())
    }
}

/// The rule of the index format that an index breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// A channel name outside the allowed characters or length.
    #[error("channel `{0}` must be 1-64 lowercase letters, digits, - _ .")]
    BadChannel(String),
    /// `generated` or `expires` that is not a time.
    #[error("`{field}` is not an RFC 3339 time: {value}")]
    BadTime { field: &'static str, value: String },
    /// `expires` before `generated`.
    #[error("`expires` is before `generated`")]
    ExpiresFirst,
    /// One package's entry breaks a rule.
    #[error("package {reference}: {why}")]
    Package {
        reference: String,
        why: PackageFault,
    },
    /// The same name and version twice.
    #[error("package {reference} is listed twice")]
    ListedTwice { reference: String },
}

/// The rule a package's entry in an index breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageFault {
    /// Its name or version is not one berth accepts.
    #[error("{0}")]
    BadName(String),
    #[error("sha256 is not 64 lower-case hex digits")]
    BadSha256,
    #[error("store_id is not 32 lower-case hex digits")]
    BadStoreId,
    /// Its path climbs, leaves `packages/` or has other characters.
    #[error("path `{0}` must be packages/…, with parts of at most 255 bytes of letters, digits and . _ + ~ - only")]
    BadPath(String),
    #[error("description is longer than 1024 bytes or has control, bidirectional or zero-width characters")]
    BadDescription,
    #[error("strip_components is larger than 64")]
    TooManyStripped,
    /// A `seek` field that cannot describe this file.
    #[error("seek: {0}")]
    BadSeek(&'static str),
}

/// Checks a channel name (also used for `--channel`).
pub fn check_channel(c: &str) -> std::result::Result<(), IndexError> {
    if c.is_empty()
        || c.len() > 64
        || !c
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "-_.".contains(ch))
    {
        return Err(IndexError::BadChannel(c.to_string()));
    }
    Ok(())
}

impl Package {
    fn check(&self) -> std::result::Result<(), PackageFault> {
        let bad_name = |e: crate::Error| PackageFault::BadName(e.to_string());
        crate::package::name::check_name("package name", &self.name).map_err(bad_name)?;
        crate::package::name::check_version(&self.version).map_err(bad_name)?;
        if !is_hex(&self.sha256, 64) {
            return Err(PackageFault::BadSha256);
        }
        if let Some(id) = &self.store_id {
            if !is_hex(id, 32) {
                return Err(PackageFault::BadStoreId);
            }
        }
        check_path(&self.path)?;
        if self.description.len() > 1024 || self.description.chars().any(hidden_or_control) {
            return Err(PackageFault::BadDescription);
        }
        if self.version.chars().any(hidden_or_control) {
            return Err(PackageFault::BadName(format!(
                "version `{}` has control, bidirectional or zero-width characters",
                shown(&self.version)
            )));
        }
        if self.strip_components > 64 {
            return Err(PackageFault::TooManyStripped);
        }
        if let Some(seek) = &self.seek {
            self.check_seek(seek)?;
        }
        Ok(())
    }

    fn check_seek(&self, seek: &Seek) -> std::result::Result<(), PackageFault> {
        let bad = PackageFault::BadSeek;
        if self.kind != Kind::Berth || self.store_id.is_none() {
            return Err(bad("only for a .berth with a store_id"));
        }
        if !is_hex(&seek.head_sha256, 64) || !is_hex(&seek.table_sha256, 64) {
            return Err(bad(
                "head_sha256 and table_sha256 must be 64 lower-case hex digits",
            ));
        }
        // A table holds at least one 8-byte entry, its 8-byte frame header and 9-byte footer.
        if seek.head == 0 || seek.table < 25 || !(seek.table - 17).is_multiple_of(8) {
            return Err(bad("head or table has an impossible length"));
        }
        if seek
            .head
            .checked_add(seek.table)
            .is_none_or(|n| n > self.size)
        {
            return Err(bad("head and table are longer than the file"));
        }
        Ok(())
    }
}

/// Characters that change how text around them is shown without showing themselves:
/// controls, bidirectional overrides and isolates (Trojan Source), zero-width ones.
fn hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // isolates
            | '\u{061C}'               // Arabic letter mark
            | '\u{FEFF}'               // zero-width no-break space
            | '\u{180E}'               // Mongolian vowel separator
            | '\u{00AD}') // soft hyphen
}

/// Publisher text for a message: hidden and control characters written as `\u{…}`.
pub fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if hidden_or_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A package path is relative, under `packages/`, made of plain characters, and never
/// climbs: it is joined to a URL and becomes a file name in the cache.
pub fn check_path(path: &str) -> std::result::Result<(), PackageFault> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._+~-".contains(c);
    // Each part becomes a file name in the cache: at most 255 bytes, like every file name.
    let ok = path.len() <= 512
        && path.starts_with("packages/")
        && path.split('/').all(|part| {
            !part.is_empty()
                && part.len() <= 255
                && part != "."
                && part != ".."
                && part.chars().all(plain)
        });
    if !ok {
        return Err(PackageFault::BadPath(shown(path)));
    }
    Ok(())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        let mut i = Index::new("stable", SystemTime::now());
        i.packages.push(Package {
            name: "myapp".into(),
            version: "1.5.0".into(),
            kind: Kind::Berth,
            path: format!("packages/ab/{}-myapp-1.5.0.berth", "a".repeat(64)),
            size: 10,
            sha256: "a".repeat(64),
            store_id: Some("b".repeat(32)),
            strip_components: 0,
            seek: None,
            description: "x".into(),
        });
        i
    }

    #[test]
    fn a_malformed_seek_field_is_refused() {
        let good = Seek {
            head: 4,
            head_sha256: "c".repeat(64),
            table: 25,
            table_sha256: "d".repeat(64),
        };
        let mut i = sample();
        i.packages[0].size = 100;
        i.packages[0].seek = Some(good.clone());
        assert_eq!(i.check(), Ok(()));
        let back = parse(&i.to_bytes(), "t").unwrap();
        assert_eq!(back.packages[0].seek, Some(good.clone()));
        let bad = |f: &dyn Fn(&mut Package)| {
            let mut i = sample();
            i.packages[0].size = 100;
            i.packages[0].seek = Some(good.clone());
            f(&mut i.packages[0]);
            i.check()
        };
        for broken in [
            bad(&|p| p.seek.as_mut().unwrap().head_sha256 = "C".repeat(64)),
            bad(&|p| p.seek.as_mut().unwrap().table_sha256 = "d".repeat(63)),
            bad(&|p| p.seek.as_mut().unwrap().head = 0),
            bad(&|p| p.seek.as_mut().unwrap().table = 26),
            bad(&|p| p.seek.as_mut().unwrap().head = 90),
            bad(&|p| p.seek.as_mut().unwrap().head = u64::MAX),
            bad(&|p| p.kind = Kind::Tarball),
            bad(&|p| p.store_id = None),
        ] {
            assert!(
                matches!(
                    broken,
                    Err(IndexError::Package {
                        why: PackageFault::BadSeek(_),
                        ..
                    })
                ),
                "{broken:?}"
            );
        }
        // Unknown fields inside `seek` are refused like anywhere else.
        let text = String::from_utf8(i.to_bytes()).unwrap().replacen(
            "\"head\": 4",
            "\"head\": 4, \"frames\": 9",
            1,
        );
        assert!(parse(text.as_bytes(), "t").is_err());
    }

    #[test]
    fn round_trips_and_checks() {
        let i = sample();
        let back = parse(&i.to_bytes(), "t").unwrap();
        assert_eq!(back, i);
        assert_eq!(back.packages[0].file_name(), "myapp-1.5.0.berth");
    }

    #[test]
    fn refuses_climbing_paths_and_unknown_fields() {
        let mut i = sample();
        i.packages[0].path = "packages/../../etc/passwd".into();
        assert!(parse(&i.to_bytes(), "t").is_err());
        assert_eq!(
            i.check(),
            Err(IndexError::Package {
                reference: i.packages[0].reference(),
                why: PackageFault::BadPath("packages/../../etc/passwd".into())
            })
        );
        let mut twice = sample();
        twice.packages.push(twice.packages[0].clone());
        assert!(matches!(twice.check(), Err(IndexError::ListedTwice { .. })));
        let mut late = sample();
        late.expires = "1970-01-01T00:00:00Z".into();
        assert_eq!(late.check(), Err(IndexError::ExpiresFirst));
        let text = String::from_utf8(sample().to_bytes()).unwrap().replacen(
            "\"serial\"",
            "\"extra\": 1, \"serial\"",
            1,
        );
        assert!(parse(text.as_bytes(), "t").is_err());
        let newer = String::from_utf8(sample().to_bytes()).unwrap().replacen(
            "\"format\": 1",
            "\"format\": 2",
            1,
        );
        let e = parse(newer.as_bytes(), "t").unwrap_err().to_string();
        assert!(e.contains("upgrade berth"), "{e}");
    }

    #[test]
    fn expires_takes_rfc3339_offsets_and_refuses_a_time_without_a_zone() {
        let z = time("2026-06-01T12:00:00Z").unwrap();
        assert_eq!(time("2026-06-02T02:00:00+14:00"), Some(z));
        assert_eq!(time("2026-06-01T02:30:00-09:30"), Some(z));
        assert_eq!(
            time("2026-06-01T12:00:00.250+00:00").map(|t| t > z),
            Some(true)
        );
        for bad in [
            "2026-06-01T12:00:00",
            "2026-06-01 12:00:00Z",
            "2026-06-01T12:00:00+1400",
            "2026-06-01T12:00:00+24:00",
        ] {
            assert_eq!(time(bad), None, "{bad}");
        }
    }

    #[test]
    fn hidden_characters_and_long_path_parts_are_refused() {
        let mut i = sample();
        i.packages[0].description = "safe \u{202E}txt.exe".into();
        assert!(matches!(
            i.check(),
            Err(IndexError::Package {
                why: PackageFault::BadDescription,
                ..
            })
        ));
        let mut i = sample();
        i.packages[0].version = "1.0\u{200B}".into();
        assert!(i.check().is_err());
        let mut i = sample();
        i.packages[0].path = format!("packages/{}", "a".repeat(256));
        assert!(matches!(
            i.check(),
            Err(IndexError::Package {
                why: PackageFault::BadPath(_),
                ..
            })
        ));
    }
}
