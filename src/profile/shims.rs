//! Keeping `shims/` equal to the set of commands the profiles provide (one link to
//! `../libexec/berth-shim` per command), and `libexec/berth-shim` equal to the shim built with
//! this berth. Runs under the lock on every switch and changes only what differs, so no
//! "rehash" step is ever needed.

use super::generation::Profiles;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::root::Root;
use crate::store::LockedFile;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What every shim links to, relative to `shims/`.
const SHIM_TARGET: &str = "../libexec/berth-shim";

/// How far a refresh goes.
#[derive(Debug, Clone, Copy)]
pub enum Refresh<'a> {
    /// Before a switch: add shims for what `profile`'s generation `n` is about to provide,
    /// remove nothing (so every command that works now keeps its shim).
    Before {
        /// The profile about to switch.
        profile: &'a str,
        /// The generation it switches to.
        number: u64,
    },
    /// After a switch: exactly one shim per command some profile provides.
    Exact,
}

/// What changed in `shims/`.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ShimChanges {
    /// Shims created.
    pub added: Vec<String>,
    /// Shims removed.
    pub removed: Vec<String>,
}

/// Brings `shims/` (and the shim binary) up to date.
pub fn refresh(profiles: &Profiles, lock: &LockedFile, how: Refresh) -> Result<ShimChanges> {
    let root = profiles.root();
    ensure_shim_binary(root, lock)?;
    let mut wanted: BTreeSet<OsString> = BTreeSet::new();
    for p in profiles.list()? {
        let gen = match how {
            Refresh::Before { profile, number } if profile == p => {
                profiles.generation_dir(&p, number)
            }
            _ => profiles.link(&p),
        };
        let bin = gen.join(berth_shim::BIN_DIR);
        match std::fs::read_dir(&bin) {
            Ok(rd) => {
                for ent in rd {
                    wanted.insert(ent.ctx("read directory", &bin)?.file_name());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read directory", bin, e)),
        }
    }

    let dir = root.shims();
    fsutil::create_dir_all(&dir)?;
    let mut changes = ShimChanges::default();
    let mut present = BTreeSet::new();
    for ent in std::fs::read_dir(&dir).ctx("read directory", &dir)? {
        let ent = ent.ctx("read directory", &dir)?;
        let name = ent.file_name();
        let path = ent.path();
        let leftover = name.as_encoded_bytes().starts_with(b".");
        let stale = !wanted.contains(&name) && matches!(how, Refresh::Exact);
        let wrong = std::fs::read_link(&path)
            .map(|t| t != Path::new(SHIM_TARGET))
            .unwrap_or(true);
        if leftover || stale || wrong {
            remove(&path)?;
            if !leftover && stale {
                changes.removed.push(name.to_string_lossy().into_owned());
            }
            continue;
        }
        present.insert(name);
    }
    for name in wanted.difference(&present) {
        let link = dir.join(name);
        std::os::unix::fs::symlink(SHIM_TARGET, &link).ctx("create symlink", &link)?;
        changes.added.push(name.to_string_lossy().into_owned());
    }
    if !changes.added.is_empty() || !changes.removed.is_empty() {
        fsutil::fsync_dir(&dir)?;
    }
    Ok(changes)
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fsutil::remove_tree(path),
        Ok(_) => std::fs::remove_file(path).ctx("remove", path),
        Err(_) => Ok(()),
    }
}

/// The shim built alongside this berth: `berth-shim` next to the running executable.
pub fn built_shim() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join("berth-shim");
    p.is_file().then_some(p)
}

/// Copies the shim that sits next to the berth executable to `libexec/berth-shim` unless an
/// identical copy is already there (atomically: readers see the old or the new binary).
pub fn ensure_shim_binary(root: &Root, _lock: &LockedFile) -> Result<()> {
    let dest = root.shim_binary();
    let Some(src) = built_shim() else {
        if !dest.exists() {
            tracing::warn!(
                "no berth-shim next to the berth executable; shims in {} will not work until it is installed at {}",
                root.shims().display(),
                dest.display()
            );
        }
        return Ok(());
    };
    let new = std::fs::read(&src).ctx("read", &src)?;
    if same_content(&dest, &new) {
        return Ok(());
    }
    if let Some(dir) = dest.parent() {
        fsutil::create_dir_all(dir)?;
    }
    fsutil::atomic_write_mode(&dest, &new, 0o755)
}

fn same_content(path: &Path, bytes: &[u8]) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    match f.metadata() {
        Ok(m) if m.len() == bytes.len() as u64 => {}
        _ => return false,
    }
    let mut have = Vec::with_capacity(bytes.len());
    f.read_to_end(&mut have).is_ok() && have == bytes
}
