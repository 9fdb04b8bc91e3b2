//! Re-hashing entries against their recorded file lists (all cores), and checking that the
//! metadata that decides what runs (manifest, via the id; origin, via its seal) is as it
//! was installed.

use super::entry::{Entry, FILES, MANIFEST, META, ORIGIN};
use super::Store;
use crate::fsutil::{Dir, Kind};
use crate::package::listing::Record;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// `.berth/seal`: the sha256 of `manifest.toml` and `origin.toml`, so an edit to a part
/// the id does not cover (a description, the origin) is found too.
pub const SEAL: &str = ".berth/seal";

/// One way an entry differs from its file list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `name@version`.
    pub package: String,
    /// Path inside the entry.
    pub path: String,
    /// `changed`, `missing`, `extra`, `mode`, `type`, `metadata`.
    pub kind: &'static str,
    /// Details for humans.
    pub detail: String,
}

/// How thoroughly to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Existence, type, size and mode only.
    Quick,
    /// Re-hash every file.
    Full,
}

/// The seal text of a manifest and an origin record.
pub fn seal_of(manifest_text: &str, origin_text: &str) -> String {
    format!(
        "manifest-sha256 {}\norigin-sha256 {}\n",
        hex::encode(Sha256::digest(manifest_text.as_bytes())),
        hex::encode(Sha256::digest(origin_text.as_bytes()))
    )
}

impl Store {
    /// Checks one entry; an empty result means it verifies.
    pub fn verify_entry(&self, entry: &Entry, depth: Depth) -> Vec<Problem> {
        let spec = entry.spec();
        let p = |path: &str, kind: &'static str, detail: String| Problem {
            package: spec.clone(),
            path: path.to_string(),
            kind,
            detail,
        };
        let dir = match self.open_entry(entry) {
            Ok(d) => d,
            Err(e) => return vec![p(".", "missing", e.to_string())],
        };
        let list = match entry.file_list(&dir) {
            Ok(l) => l,
            Err(e) => return vec![p(FILES, "metadata", e.to_string())],
        };
        let mut problems = Vec::new();
        match list.id(&entry.manifest) {
            Ok(id) if id == entry.id() => {}
            _ => problems.push(p(
                MANIFEST,
                "metadata",
                "the manifest or file list does not hash to the entry's id (it was edited)".into(),
            )),
        }
        problems.extend(
            check_meta(&dir)
                .into_iter()
                .map(|(path, d)| p(&path, "metadata", d)),
        );
        let mut found: Vec<(String, &'static str, String)> = list
            .records
            .par_iter()
            .filter_map(|(path, rec)| {
                check_one(&dir, path, rec, depth).map(|(k, d)| (path.clone(), k, d))
            })
            .collect();
        found.sort();
        problems.extend(found.into_iter().map(|(path, k, d)| p(&path, k, d)));
        let mut on_disk = BTreeSet::new();
        let _ = crate::fsutil::walk(&dir, &mut |rel, _, _| {
            if rel != META && !rel.starts_with(".berth/") {
                on_disk.insert(rel.to_string());
            }
            Ok(())
        });
        for extra in on_disk.iter().filter(|x| !list.records.contains_key(*x)) {
            problems.push(p(extra, "extra", "not in the file list".into()));
        }
        problems
    }
}

/// The `.berth/` files: read-only with the store's mtime, and the origin matching its seal.
fn check_meta(dir: &Dir) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in [MANIFEST, FILES, ORIGIN, SEAL] {
        match dir.stat(f) {
            Ok(Some(st)) => {
                let mode = st.st_mode & 0o7777;
                if crate::fsutil::dir::kind_of(&st) != Kind::File || mode != 0o444 {
                    out.push((
                        f.to_string(),
                        format!("mode {mode:o} or type changed, expected a 444 file"),
                    ));
                } else if st.st_mtime != crate::fsutil::STORE_MTIME.tv_sec {
                    out.push((
                        f.to_string(),
                        "modified after install (mtime changed)".into(),
                    ));
                }
            }
            Ok(None) => out.push((f.to_string(), "missing".into())),
            Err(e) => out.push((f.to_string(), e.to_string())),
        }
    }
    if let (Ok(Some(manifest)), Ok(Some(origin)), Ok(Some(seal))) = (
        dir.read_text(MANIFEST),
        dir.read_text(ORIGIN),
        dir.read_text(SEAL),
    ) {
        if seal_of(&manifest, &origin) != seal {
            out.push((
                META.to_string(),
                "manifest.toml or origin.toml does not match the seal written at install (it was edited)".into(),
            ));
        }
    }
    out
}

fn check_one(dir: &Dir, path: &str, rec: &Record, depth: Depth) -> Option<(&'static str, String)> {
    let st = match dir.stat(path) {
        Ok(Some(st)) => st,
        Ok(None) => return Some(("missing", "listed but not on disk".into())),
        Err(e) => return Some(("missing", e.to_string())),
    };
    let mode = st.st_mode & 0o7777;
    let kind = crate::fsutil::dir::kind_of(&st);
    match rec {
        Record::Dir => {
            if kind != Kind::Dir {
                return Some(("type", "should be a directory".into()));
            }
            if mode != 0o555 {
                return Some(("mode", format!("mode {mode:o}, expected 555")));
            }
        }
        Record::Symlink { target } => {
            if kind != Kind::Symlink {
                return Some(("type", "should be a symlink".into()));
            }
            match dir.read_link(path) {
                Ok(Some(t)) if t.to_str() == Some(target.as_str()) => {}
                Ok(Some(t)) => {
                    return Some((
                        "changed",
                        format!("points to `{}`, expected `{target}`", t.display()),
                    ))
                }
                Ok(None) => return Some(("missing", "listed but not on disk".into())),
                Err(e) => return Some(("changed", e.to_string())),
            }
        }
        Record::File {
            mode: file_mode,
            size,
            sha256,
        } => {
            if kind != Kind::File {
                return Some(("type", "should be a regular file".into()));
            }
            let want_mode = file_mode.bits();
            if mode != want_mode {
                return Some(("mode", format!("mode {mode:o}, expected {want_mode:o}")));
            }
            if st.st_size as u64 != *size {
                return Some((
                    "changed",
                    format!("size {} bytes, expected {size}", st.st_size),
                ));
            }
            if depth == Depth::Full {
                let got = match hash_file(dir, path) {
                    Ok(h) => h,
                    Err(e) => return Some(("changed", format!("cannot read: {e}"))),
                };
                if &got != sha256 {
                    return Some((
                        "changed",
                        format!(
                            "sha256 {}, expected {}",
                            hex::encode(got),
                            hex::encode(sha256)
                        ),
                    ));
                }
            }
        }
    }
    None
}

/// SHA-256 of the regular file `rel` beneath `dir`.
pub fn hash_file(dir: &Dir, rel: &str) -> crate::Result<[u8; 32]> {
    let mut f = dir.open_file(rel)?.ok_or_else(|| {
        crate::Error::io(
            "open",
            dir.join(rel),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| crate::Error::io("read", dir.join(rel), e))?;
    Ok(h.finalize().into())
}
