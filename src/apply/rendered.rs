//! The renderings of a profile file's templates, kept per generation: each rendering is
//! stored once, owner-only (it may hold secrets), under `etc/<profile>/.berth/rendered/`
//! named by its sha256, and a generation records which rendering each output path had
//! (`Generation::config`). A switch to any generation can then put back that generation's
//! own config (rollback, switch, the automatic switch back, `apply` of an older file)
//! instead of leaving the newest rendering behind. Renderings no generation names any more
//! go with the generations that named them (`sweep`, called by gc and after a switch).

use super::layout::RENDERED;
use crate::error::Result;
use crate::fsutil::{Dir, Kind};
use crate::lock::LockedFile;
use crate::profile::Profiles;
use crate::root::Root;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};

/// The sha256 (hex) that names a rendering.
pub fn hash(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Output path → hash, for a generation's record.
pub fn record<'a>(
    renders: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> BTreeMap<String, String> {
    renders
        .into_iter()
        .map(|(path, bytes)| (path.to_string(), hash(bytes)))
        .collect()
}

/// Keeps `bytes` (durably, owner-only) under `etc` (`etc/<profile>/`); a rendering
/// already kept is not written again.
pub fn keep(etc: &Dir, _lock: &LockedFile, bytes: &[u8]) -> Result<()> {
    let h = hash(bytes);
    if load(etc, &h)?.is_some() {
        return Ok(());
    }
    etc.ensure_dir(".berth", 0o700)?;
    etc.ensure_dir(RENDERED, 0o700)?;
    etc.write_atomic(&format!("{RENDERED}/{h}"), bytes, 0o600)
}

/// The rendering named `hash`, `None` when it is not kept (or no longer matches its name:
/// a damaged copy is never put back).
pub fn load(etc: &Dir, hash_hex: &str) -> Result<Option<Vec<u8>>> {
    if hash_hex.len() != 64 || !hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(bytes) = etc.read(
        &format!("{RENDERED}/{hash_hex}"),
        super::template::MAX_RENDERED as u64,
    )?
    else {
        return Ok(None);
    };
    Ok((hash(&bytes) == hash_hex).then_some(bytes))
}

/// Removes the renderings of `profile` that none of its generations names any more;
/// returns how many went.
pub fn sweep(root: &Root, _lock: &LockedFile, profile: &str) -> Result<usize> {
    let Some(etc) = super::layout::etc_dir_opt(root, profile)? else {
        return Ok(0);
    };
    let Some(dir) = etc.open_dir_opt(RENDERED)? else {
        return Ok(0);
    };
    let named = named(root, profile)?;
    let mut gone = 0;
    for e in dir.entries()? {
        let Some(name) = e.name_str() else { continue };
        if e.kind == Kind::File && !named.contains(name) && dir.remove_file(name)? {
            gone += 1;
        }
    }
    Ok(gone)
}

/// Every rendering some generation of `profile` names.
fn named(root: &Root, profile: &str) -> Result<BTreeSet<String>> {
    let profiles = Profiles::new(root);
    let mut out = BTreeSet::new();
    for n in profiles.numbers(profile)? {
        out.extend(profiles.read(profile, n)?.config.into_values());
    }
    Ok(out)
}

/// Renderings a generation of `profile` names that are not kept (for `check`): (generation,
/// output path).
pub fn missing(root: &Root, profile: &str) -> Result<Vec<(u64, String)>> {
    let profiles = Profiles::new(root);
    let etc = super::layout::etc_dir_opt(root, profile)?;
    let mut out = Vec::new();
    for n in profiles.numbers(profile)? {
        for (path, h) in profiles.read(profile, n)?.config {
            let kept = match &etc {
                Some(etc) => load(etc, &h)?.is_some(),
                None => false,
            };
            if !kept {
                out.push((n, path));
            }
        }
    }
    Ok(out)
}
