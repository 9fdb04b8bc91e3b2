//! What this module leaves in the root's `cache/`, checked and repaired here so that
//! `berth check` only composes: each entry is a directory named by a sha256 holding
//! verified downloads; a temporary file there is a download that was interrupted. Beside
//! them, `cache/apt/` holds `install --apt`'s download directories, each removed when its
//! install ends: one still there is a leftover of an interrupted run.

use super::CACHE_DIR;
use crate::error::Result;
use crate::fsutil::{is_temp, Kind};
use crate::lock::LockedFile;
use crate::problem::Problem;
use crate::root::Root;
use std::path::PathBuf;

/// Whether `name` is a cache directory's name: 64 lowercase hex digits.
fn is_sha256(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Problems in `cache/`: interrupted downloads (leftovers) and what berth did not make.
pub fn check(root: &Root, _lock: &LockedFile) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    let Some(cache) = root.dir().open_dir_opt(CACHE_DIR)? else {
        return Ok(out);
    };
    let base = root.path().join(CACHE_DIR);
    for ent in cache.entries()? {
        let name = ent.name.to_string_lossy().into_owned();
        if name == super::apt::APT_DIR && ent.kind == Kind::Dir {
            for f in cache.open_dir(&name)?.entries()? {
                let file = f.name.to_string_lossy();
                let path = base.join(&name).join(file.as_ref());
                out.push(if is_temp(&file) {
                    Problem::leftover(path, "interrupted apt download")
                } else {
                    Problem::stray(path, "file in cache/apt/")
                });
            }
            continue;
        }
        if !is_sha256(&name) || ent.kind != Kind::Dir {
            out.push(Problem::stray(base.join(&name), "file in cache/"));
            continue;
        }
        for f in cache.open_dir(&name)?.entries()? {
            let file = f.name.to_string_lossy();
            if is_temp(&file) {
                out.push(Problem::leftover(
                    base.join(&name).join(file.as_ref()),
                    "partial download",
                ));
            }
        }
    }
    Ok(out)
}

/// Removes the leftovers [`check`] reported in `cache/`; returns them.
pub fn repair(root: &Root, _lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
    let base = root.path().join(CACHE_DIR);
    let mut done = Vec::new();
    for p in problems.iter().filter(|p| p.repairable) {
        let Ok(rel) = p.path.strip_prefix(&base) else {
            continue;
        };
        let rel = rel.to_string_lossy();
        let Some((dir, file)) = rel.split_once('/') else {
            continue;
        };
        if !(is_sha256(dir) || dir == super::apt::APT_DIR) || !is_temp(file) || file.contains('/') {
            continue;
        }
        if let Some(d) = root.dir().open_dir_opt(&format!("{CACHE_DIR}/{dir}"))? {
            crate::fsutil::remove_tree(&d, file)?;
            done.push(p.path.clone());
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::is_sha256;

    #[test]
    fn only_lowercase_sha256_names_are_cache_directories() {
        assert!(is_sha256(&"ab".repeat(32)));
        assert!(!is_sha256(&"AB".repeat(32)));
        assert!(!is_sha256("abc"));
    }
}
