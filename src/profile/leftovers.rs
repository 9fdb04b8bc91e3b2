//! The one leftover cleaner of the profile module: everything an interrupted command left
//! in `generations/<profile>/` (half-built or half-deleted generations), `profiles/`,
//! `shims/` and `libexec/` carries a temporary name, and goes.

use super::generation::Profiles;
use crate::error::Result;
use crate::lock::LockedFile;
use crate::root::{GENERATIONS, LIBEXEC, PROFILES, SHIMS};
use std::path::PathBuf;

/// What crashed runs left: (directory relative to the root, name).
pub fn find(profiles: &Profiles) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let root = profiles.root().dir();
    let mut dirs: Vec<String> = profiles
        .list()?
        .into_iter()
        .map(|p| format!("{GENERATIONS}/{p}"))
        .collect();
    dirs.extend([PROFILES, SHIMS, LIBEXEC].map(String::from));
    for d in dirs {
        for ent in root.entries_of(&d)? {
            let name = ent.name.to_string_lossy().into_owned();
            if crate::fsutil::is_temp(&name) {
                out.push((d.clone(), name));
            }
        }
    }
    Ok(out)
}

/// The paths of [`find`], for reports.
pub fn paths(profiles: &Profiles) -> Result<Vec<PathBuf>> {
    Ok(find(profiles)?
        .into_iter()
        .map(|(d, n)| profiles.root().path().join(d).join(n))
        .collect())
}

/// Removes [`find`]'s leftovers. Needs the lock: only a lock holder builds or switches.
pub fn clean(profiles: &Profiles, _lock: &LockedFile) -> Result<usize> {
    let l = find(profiles)?;
    for (dir, name) in &l {
        let d = profiles.root().dir().open_dir(dir)?;
        crate::fsutil::remove_tree(&d, name)?;
    }
    Ok(l.len())
}
