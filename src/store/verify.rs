//! Re-hashing entries against their recorded file lists (all cores).

use super::listing::Record;
use super::Entry;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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

/// Checks one entry; an empty result means it verifies.
pub fn verify_entry(entry: &Entry, depth: Depth) -> Vec<Problem> {
    let spec = entry.spec();
    let p = |path: &str, kind: &'static str, detail: String| Problem {
        package: spec.clone(),
        path: path.to_string(),
        kind,
        detail,
    };
    let list = match entry.file_list() {
        Ok(l) => l,
        Err(e) => return vec![p(".berth/files", "metadata", e.to_string())],
    };
    let mut problems = Vec::new();
    if list.id(entry.name(), entry.version()) != entry.id() {
        problems.push(p(
            ".berth/files",
            "metadata",
            "the file list does not hash to the entry's id (it was edited)".into(),
        ));
    }
    let root = entry.path();
    let mut found: Vec<(String, &'static str, String)> = list
        .records
        .par_iter()
        .filter_map(|(path, rec)| {
            check_one(root, path, rec, depth).map(|(k, d)| (path.clone(), k, d))
        })
        .collect();
    found.sort();
    problems.extend(found.into_iter().map(|(path, k, d)| p(&path, k, d)));
    let mut on_disk = BTreeSet::new();
    walk(root, root, &mut on_disk);
    for extra in on_disk.iter().filter(|x| !list.records.contains_key(*x)) {
        problems.push(p(extra, "extra", "not in the file list".into()));
    }
    problems
}

fn check_one(
    root: &Path,
    path: &str,
    rec: &Record,
    depth: Depth,
) -> Option<(&'static str, String)> {
    let full = root.join(path);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(m) => m,
        Err(_) => return Some(("missing", "listed but not on disk".into())),
    };
    let mode = meta.permissions().mode() & 0o7777;
    match rec {
        Record::Dir => {
            if !meta.is_dir() {
                return Some(("type", "should be a directory".into()));
            }
            if mode != 0o555 {
                return Some(("mode", format!("mode {mode:o}, expected 555")));
            }
        }
        Record::Symlink { target } => {
            if !meta.file_type().is_symlink() {
                return Some(("type", "should be a symlink".into()));
            }
            match std::fs::read_link(&full) {
                Ok(t) if t.to_str() == Some(target.as_str()) => {}
                Ok(t) => {
                    return Some((
                        "changed",
                        format!("points to `{}`, expected `{target}`", t.display()),
                    ))
                }
                Err(e) => return Some(("changed", e.to_string())),
            }
        }
        Record::File { exec, size, sha256 } => {
            if !meta.is_file() {
                return Some(("type", "should be a regular file".into()));
            }
            let want_mode = if *exec { 0o555 } else { 0o444 };
            if mode != want_mode {
                return Some(("mode", format!("mode {mode:o}, expected {want_mode:o}")));
            }
            if meta.len() != *size {
                return Some((
                    "changed",
                    format!("size {} bytes, expected {size}", meta.len()),
                ));
            }
            if depth == Depth::Full {
                let got = match hash_file(&full) {
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

/// SHA-256 of a file's content.
pub fn hash_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().into())
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let full = ent.path();
        let Ok(rel) = full.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        if rel == ".berth" {
            continue;
        }
        let is_dir = ent.file_type().map(|t| t.is_dir()).unwrap_or(false);
        out.insert(rel);
        if is_dir {
            walk(root, &full, out);
        }
    }
}
