//! The file list of a package (`.berth/files`): one line per member, tab-separated
//! `type mode size sha256 path [target]`, sorted by path. It is what an entry's id is
//! computed from and what `verify` re-hashes against.

use super::manifest::Manifest;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The mode of a regular file in the store: never writable, by anyone. A berth package or
/// a tarball gets 0444 or 0555 (only its exec bit counts); a native package keeps its own
/// read and exec bits, so a 0600 or 0640 file a .deb ships (a key, a sudoers file) stays
/// unreadable to others as 0400 or 0440.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileMode(u32);

impl FileMode {
    /// 0444: a file anyone may read.
    pub const PLAIN: FileMode = FileMode(0o444);
    /// 0555: a file anyone may read and run.
    pub const EXEC: FileMode = FileMode(0o555);

    /// [`FileMode::EXEC`] or [`FileMode::PLAIN`]: what a berth package or tarball gets.
    pub fn of_exec(exec: bool) -> FileMode {
        if exec {
            FileMode::EXEC
        } else {
            FileMode::PLAIN
        }
    }

    /// A native package's mode as its archive gives it, minus write and special bits.
    pub fn native(archive_mode: u32) -> FileMode {
        FileMode(archive_mode & 0o555)
    }

    /// The mode in the store, a subset of 0555, when it is one (`None` for write or
    /// special bits, which no store file has).
    pub fn from_bits(bits: u32) -> Option<FileMode> {
        (bits & !0o555 == 0).then_some(FileMode(bits))
    }

    /// Whether anyone may run it.
    pub fn exec(self) -> bool {
        self.0 & 0o111 != 0
    }

    /// The permission bits in the store.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether it is one of the two modes a berth package can have (what the pool and the
    /// file list name the short way, as before native modes were kept).
    pub fn is_usual(self) -> bool {
        self == FileMode::PLAIN || self == FileMode::EXEC
    }

    /// Its field in the file list: `644` and `755` for the usual modes (the list's text,
    /// hence every berth package's id, stays what it always was), the store's bits
    /// otherwise (`400`, `440`, `550` …).
    fn list_field(self) -> String {
        match self {
            FileMode::PLAIN => "644".into(),
            FileMode::EXEC => "755".into(),
            m => format!("{:03o}", m.0),
        }
    }

    /// Reads [`FileMode::list_field`] back; one spelling per mode.
    fn parse_list_field(f: &str) -> Option<FileMode> {
        match f {
            "644" => Some(FileMode::PLAIN),
            "755" => Some(FileMode::EXEC),
            _ if f.len() == 3 && f.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
                let m = FileMode::from_bits(u32::from_str_radix(f, 8).ok()?)?;
                (!m.is_usual()).then_some(m)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:o}", self.0)
    }
}

/// One member of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A directory (mode 755 in the list, 0555 in the store).
    Dir,
    /// A regular file (mode 644 or 755 in the list for 0444 or 0555 in the store, else the
    /// store's mode: see [`FileMode`]).
    File {
        /// Its mode in the store.
        mode: FileMode,
        /// Length in bytes.
        size: u64,
        /// SHA-256 of the content.
        sha256: [u8; 32],
    },
    /// A symbolic link.
    Symlink {
        /// Where it points (relative, inside the package).
        target: String,
    },
}

impl Record {
    /// "a directory", "an executable file of 12 bytes", "a symlink to `x`".
    pub fn describe(&self) -> String {
        match self {
            Record::Dir => "a directory".into(),
            Record::File { mode, size, .. } => {
                let what = if mode.exec() {
                    "an executable file"
                } else {
                    "a file"
                };
                format!("{what} of {size} bytes")
            }
            Record::Symlink { target } => format!("a symlink to `{target}`"),
        }
    }
}

/// A whole file list, keyed by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileList {
    /// Path (relative, `/`-separated) to record.
    pub records: BTreeMap<String, Record>,
}

/// Error parsing a file list: the line number and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl FileList {
    /// The canonical text (sorted, one line per record, trailing newline).
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.records.len() * 100);
        for (path, rec) in &self.records {
            match rec {
                Record::Dir => {
                    let _ = writeln!(out, "d\t755\t0\t-\t{path}");
                }
                Record::File { mode, size, sha256 } => {
                    let mode = mode.list_field();
                    let _ = writeln!(out, "f\t{mode}\t{size}\t{}\t{path}", hex::encode(sha256));
                }
                Record::Symlink { target } => {
                    let _ = writeln!(out, "l\t777\t0\t-\t{path}\t{target}");
                }
            }
        }
        out
    }

    /// Parses the text written by [`FileList::to_text`].
    pub fn parse(text: &str) -> Result<FileList, ParseError> {
        let mut records = BTreeMap::new();
        // Split on `\n` only: `lines()` would also eat a `\r` before it.
        for (i, line) in text.split_terminator('\n').enumerate() {
            let err = |problem: &str| ParseError {
                line: i + 1,
                problem: problem.to_string(),
            };
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 5 {
                return Err(err("expected at least 5 tab-separated fields"));
            }
            let path = f[4].to_string();
            if path.is_empty() {
                return Err(err("empty path"));
            }
            // Only what to_text writes: a normalised relative path and a link target without
            // control characters (a `\r` would not survive being written and read again, and
            // would reach messages raw).
            if path.starts_with('/')
                || path
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..")
                || path.chars().any(char::is_control)
            {
                return Err(err("path is not a normalised relative path"));
            }
            let no_content = f[2] == "0" && f[3] == "-";
            let rec = match (f[0], f.len()) {
                ("d", 5) if f[1] == "755" && no_content => Record::Dir,
                ("f", 5) => {
                    let mode = FileMode::parse_list_field(f[1]).ok_or_else(|| {
                        err("file mode must be 644, 755 or three octal digits without write bits")
                    })?;
                    let size = f[2].parse().map_err(|_| err("bad size"))?;
                    let mut sha256 = [0u8; 32];
                    hex::decode_to_slice(f[3], &mut sha256).map_err(|_| err("bad sha256"))?;
                    Record::File { mode, size, sha256 }
                }
                ("l", 6) if f[1] == "777" && no_content => {
                    if f[5].is_empty() || f[5].chars().any(char::is_control) {
                        return Err(err("bad symlink target"));
                    }
                    Record::Symlink {
                        target: f[5].to_string(),
                    }
                }
                _ => return Err(err("unknown type or wrong number of fields")),
            };
            if records.insert(path, rec).is_some() {
                return Err(err("duplicate path"));
            }
        }
        Ok(FileList { records })
    }

    /// Total bytes of regular files.
    pub fn bytes(&self) -> u64 {
        self.records
            .values()
            .map(|r| match r {
                Record::File { size, .. } => *size,
                _ => 0,
            })
            .sum()
    }

    /// Number of regular files.
    pub fn file_count(&self) -> usize {
        self.records
            .values()
            .filter(|r| matches!(r, Record::File { .. }))
            .count()
    }

    /// The content address of a package: name, version, what of the manifest decides what
    /// runs (exports, config, writable, service) and this list. Same content, same id,
    /// whatever the archive format or compression (a description is not content); a
    /// manifest edited to run something else no longer matches its entry's name.
    pub fn id(&self, manifest: &Manifest) -> crate::error::Result<String> {
        let mut h = Sha256::new();
        h.update(b"berth-entry-v2\0");
        h.update(manifest.package.name.as_bytes());
        h.update(b"\0");
        h.update(manifest.package.version.as_bytes());
        h.update(b"\0");
        h.update(manifest.runtime_key()?.as_bytes());
        h.update(b"\0");
        h.update(self.to_text().as_bytes());
        Ok(hex::encode(&h.finalize()[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_id_is_stable() {
        let mut l = FileList::default();
        l.records.insert("bin".into(), Record::Dir);
        l.records.insert(
            "bin/app".into(),
            Record::File {
                mode: FileMode::EXEC,
                size: 3,
                sha256: [7; 32],
            },
        );
        l.records.insert(
            "etc/key".into(),
            Record::File {
                mode: FileMode::native(0o640),
                size: 1,
                sha256: [8; 32],
            },
        );
        l.records.insert(
            "lib/a b".into(),
            Record::Symlink {
                target: "../bin/app".into(),
            },
        );
        let text = l.to_text();
        assert_eq!(FileList::parse(&text).unwrap(), l);
        let m1 = Manifest::new("a", "1").unwrap();
        let m2 = Manifest::new("a", "2").unwrap();
        assert_eq!(l.id(&m1).unwrap(), l.id(&m1).unwrap());
        assert_ne!(l.id(&m1).unwrap(), l.id(&m2).unwrap());
        let mut m3 = m1.clone();
        m3.exports.bin = vec!["sbin".into()];
        assert_ne!(l.id(&m1).unwrap(), l.id(&m3).unwrap());
        let mut m4 = m1.clone();
        m4.package.description = "words".into();
        assert_eq!(l.id(&m1).unwrap(), l.id(&m4).unwrap());
        assert_eq!(l.id(&m1).unwrap().len(), 32);
    }

    #[test]
    fn parse_takes_only_what_to_text_writes() {
        for bad in [
            "d\t755\t0\t-\t/abs\n",
            "d\t755\t0\t-\ta//b\n",
            "d\t755\t0\t-\ta/../b\n",
            "d\t755\t0\t-\ta\r\n",
            "d\t751\t0\t-\ta\n",
            "d\t755\t5\t-\ta\n",
            "l\t777\t0\t-\tx\tbin/x\r",
            "l\t777\t0\t-\tx\t\n",
            "l\t644\t0\t-\tx\ty\n",
            // One spelling per mode, and never a write bit.
            "f\t444\t1\t0000000000000000000000000000000000000000000000000000000000000000\tx\n",
            "f\t600\t1\t0000000000000000000000000000000000000000000000000000000000000000\tx\n",
            "f\t0400\t1\t0000000000000000000000000000000000000000000000000000000000000000\tx\n",
        ] {
            assert!(FileList::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usual_modes_keep_their_old_text_and_native_ones_their_bits() {
        assert_eq!(FileMode::native(0o755), FileMode::EXEC);
        assert_eq!(FileMode::native(0o4644), FileMode::PLAIN);
        assert_eq!(FileMode::native(0o600).bits(), 0o400);
        assert_eq!(FileMode::native(0o640).bits(), 0o440);
        assert!(!FileMode::native(0o600).exec() && FileMode::native(0o750).exec());
        for m in [0o644, 0o755, 0o600, 0o640, 0o750, 0o000] {
            let m = FileMode::native(m);
            assert_eq!(FileMode::parse_list_field(&m.list_field()), Some(m));
        }
        assert_eq!(FileMode::native(0o600).list_field(), "400");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = FileList::parse("d\t755\t0\t-\ta\nf\t600\t1\t00\tb\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
