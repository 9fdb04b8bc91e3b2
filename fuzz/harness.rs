//! What one fuzz input goes through, shared by the cargo-fuzz targets (nightly) and the
//! stable replay test (`tests/it/fuzz_replay.rs`): the whole package reader (format sniffing,
//! every decoder, the ratio guard, the tar reader, the `.berth` list checks, the stream
//! verified to its end) into a sink that checks what the reader promises, and the manifest
//! and file-list parsers with a round trip. A panic anywhere is a finding; so is an error
//! that is not a refusal (exit 6) or whose message could carry a raw control character.

#![allow(dead_code)] // each target uses its own half

use berth::error::Unsafe;
use berth::package::extract::Limits;
use berth::package::listing::FileList;
use berth::package::manifest::Manifest;
use berth::package::read::{read, ReadOptions};
use berth::package::sink::{Begin, Sink, SinkError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
}

/// A sink that keeps nothing but checks every promise the reader makes: one `begin` first,
/// normalised relative paths, parents announced before children, nothing twice, nothing
/// through a symlink, symlink targets that stay inside, hard links to earlier files, file
/// data of exactly the announced size (and listed hash).
#[derive(Default)]
pub struct CheckingSink {
    begun: bool,
    seen: HashMap<String, Kind>,
    /// Bytes of file data received.
    pub bytes: u64,
}

impl CheckingSink {
    fn member(&mut self, path: &str, kind: Kind) {
        assert!(self.begun, "member `{path}` before begin");
        assert!(!path.is_empty(), "empty path");
        assert!(!path.starts_with('/'), "absolute path `{path}`");
        assert!(!path.contains('\\'), "backslash in `{path}`");
        assert!(
            !path.chars().any(char::is_control),
            "control character in {path:?}"
        );
        let parts: Vec<&str> = path.split('/').collect();
        assert!(
            parts
                .iter()
                .all(|c| !c.is_empty() && *c != "." && *c != ".."),
            "path `{path}` is not normalised"
        );
        assert!(
            !parts[0].eq_ignore_ascii_case(".berth"),
            "payload member in .berth/: `{path}`"
        );
        if let Some((parent, _)) = path.rsplit_once('/') {
            assert_eq!(
                self.seen.get(parent),
                Some(&Kind::Dir),
                "`{path}` arrives before its parent directory (or under a non-directory)"
            );
        }
        assert!(
            self.seen.insert(path.to_string(), kind).is_none(),
            "`{path}` delivered twice"
        );
    }
}

impl Sink for CheckingSink {
    fn begin(&mut self, _m: &Manifest, _l: Option<&FileList>) -> Result<Begin, SinkError> {
        assert!(!self.begun, "begin called twice");
        self.begun = true;
        Ok(Begin::Continue)
    }

    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.member(path, Kind::Dir);
        Ok(())
    }

    fn file(
        &mut self,
        path: &str,
        _mode: berth::package::listing::FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        self.member(path, Kind::File);
        let mut h = Sha256::new();
        let mut buf = [0u8; 16 << 10];
        let mut n = 0u64;
        loop {
            let k = data.read(&mut buf).map_err(|e| {
                SinkError::Fail(berth::Error::BadArchive {
                    archive: Default::default(),
                    detail: format!("{path}: {e}").into(),
                })
            })?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
            assert!(n <= size, "`{path}`: more data than its size {size}");
        }
        self.bytes += n;
        if n != size {
            return Err(SinkError::Refused(Unsafe::Truncated));
        }
        let got: [u8; 32] = h.finalize().into();
        match expected {
            Some(want) if want != got => Err(SinkError::RefusedMember {
                member: path.to_string(),
                why: Unsafe::ListMismatch("sha256 differs from the list".into()),
            }),
            _ => Ok(()),
        }
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.member(path, Kind::Symlink);
        assert!(
            !target.is_empty() && !target.starts_with('/'),
            "`{path}` -> `{target}`"
        );
        assert!(
            !target.chars().any(char::is_control),
            "control character in {target:?}"
        );
        // Resolved lexically from the link's directory, the target never leaves the package.
        let mut stack: Vec<&str> = path.split('/').collect();
        stack.pop();
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => assert!(
                    stack.pop().is_some(),
                    "`{path}` -> `{target}` leaves the package"
                ),
                c => stack.push(c),
            }
        }
        Ok(())
    }

    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        assert_eq!(
            self.seen.get(target),
            Some(&Kind::File),
            "hard link `{path}` to `{target}`, which is not an earlier file"
        );
        self.member(path, Kind::File);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Limits small enough that one input stays fast, large enough to exercise every check.
fn options() -> ReadOptions {
    ReadOptions {
        limits: Limits {
            max_unpacked: 16 << 20,
            max_entries: 10_000,
            ..Limits::default()
        },
        ..ReadOptions::default()
    }
}

/// An error message a user sees: one line, no raw control characters (a member name or a
/// manifest value must never carry an escape sequence to the terminal).
#[track_caller]
fn assert_clean(what: &str, msg: &str) {
    assert!(
        !msg.chars().any(char::is_control),
        "{what}: message carries a control character: {msg:?}"
    );
}

/// Reads `data` as a package file named `file_name` in `scratch`. Returns whether it was
/// accepted; panics on a broken promise.
pub fn archive_as(data: &[u8], scratch: &Path, file_name: &str) -> bool {
    let path = scratch.join(file_name);
    if std::fs::write(&path, data).is_err() {
        return false;
    }
    let mut sink = CheckingSink::default();
    match read(&path, &options(), &mut sink) {
        Ok(out) => {
            assert!(
                out.skipped || sink.begun,
                "accepted without ever beginning the package"
            );
            assert!(out.report.bytes <= options().limits.max_unpacked);
            true
        }
        Err(e) => {
            assert_eq!(
                e.exit_code(),
                berth::error::exit::REFUSED,
                "not a refusal: {e} ({e:?})"
            );
            assert_clean("archive", &e.to_string());
            if let Some(h) = e.hint() {
                assert_clean("hint", &h);
            }
            false
        }
    }
}

/// The archive target: the input as a tarball (name and version from the file name) and as
/// a `.berth` file.
pub fn archive(data: &[u8], scratch: &Path) {
    archive_as(data, scratch, "fuzz-1.0.tar");
    archive_as(data, scratch, "fuzz-1.0.berth");
}

/// The manifest target: `Manifest::parse` (a manifest that parses must survive the round
/// trip berth makes when it writes an entry's manifest and reads it back), and the file
/// list parser (same round trip: its text is what an entry's id hashes).
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, Path::new("berth.toml")) {
        Ok(m) => {
            let again = m.to_toml().expect("a parsed manifest serialises");
            let back = Manifest::parse(&again, Path::new("again.toml"))
                .unwrap_or_else(|e| panic!("round trip fails: {e}\n{again}"));
            // Compared as text: `[origin]` may hold a float NaN, which is never equal to
            // itself, yet round-trips exactly.
            let third = back.to_toml().expect("a parsed manifest serialises");
            assert_eq!(third, again, "round trip changes the manifest:\n{again}");
            m.runtime_key().expect("runtime key");
        }
        Err(e) => {
            assert!(
                matches!(
                    e.exit_code(),
                    berth::error::exit::REFUSED | berth::error::exit::USAGE
                ),
                "{e:?}"
            );
            assert_clean("manifest", &e.to_string());
        }
    }
    match FileList::parse(text) {
        Ok(l) => {
            let again = l.to_text();
            let back = FileList::parse(&again)
                .unwrap_or_else(|e| panic!("file list round trip fails: {e}\n{again}"));
            assert_eq!(back, l, "file list round trip changes it:\n{again}");
        }
        Err(e) => assert_clean("file list", &e.to_string()),
    }
}
