//! Keeping `shims/` equal to the set of commands the profiles provide (one link to
//! `../libexec/berth-shim` per command), and `libexec/berth-shim` equal to the shim built with
//! this berth. Runs under the lock on every switch and changes only what differs, so no
//! "rehash" step is ever needed. Only links berth made are touched: an operator's script or
//! directory in `shims/` is reported by `check` and left alone.

use super::generation::Profiles;
use crate::error::{Error, Result};
use crate::fsutil::{Dir, Kind};
use crate::lock::LockedFile;
use crate::root::{Root, DIR_MODE, GENERATIONS, LIBEXEC, SHIMS};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;

/// What every shim links to, relative to `shims/`.
pub const SHIM_TARGET: &str = "../libexec/berth-shim";
/// The shim binary, relative to the root.
pub const SHIM_BINARY: &str = "libexec/berth-shim";

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
    /// Commands without a shim because `shims/` has a file berth did not make there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
}

/// Whether `shims/<name>` is a shim berth made.
pub fn is_ours(shims: &Dir, name: &str) -> Result<bool> {
    Ok(shims.read_link(name).ok().flatten().as_deref() == Some(Path::new(SHIM_TARGET)))
}

/// The commands the profiles provide (the `bin/` of each current generation, or of the
/// generation a profile is about to switch to).
pub fn wanted(profiles: &Profiles, how: Refresh) -> Result<BTreeSet<OsString>> {
    let mut wanted = BTreeSet::new();
    let root = profiles.root().dir();
    for p in profiles.list()? {
        let n = match how {
            Refresh::Before { profile, number } if profile == p => Some(number),
            _ => profiles.current(&p).ok().flatten(),
        };
        let Some(n) = n else { continue };
        let bin = format!("{GENERATIONS}/{p}/{n}/{}", berth_shim::BIN_DIR);
        for ent in root.entries_of(&bin)? {
            wanted.insert(ent.name);
        }
    }
    Ok(wanted)
}

/// Brings `shims/` (and the shim binary) up to date.
pub fn refresh(profiles: &Profiles, lock: &LockedFile, how: Refresh) -> Result<ShimChanges> {
    ensure_shim_binary(profiles.root(), lock)?;
    refresh_links(profiles, how)
}

/// Brings the links of `shims/` up to date (the shim binary already is: a switch checks
/// it once, before its first refresh).
pub fn refresh_links(profiles: &Profiles, how: Refresh) -> Result<ShimChanges> {
    let root = profiles.root();
    let wanted = wanted(profiles, how)?;
    let dir = root.dir().ensure_dir(SHIMS, DIR_MODE)?;
    let mut changes = ShimChanges::default();
    let mut present = BTreeSet::new();
    for ent in dir.entries()? {
        let Some(name) = ent.name_str().map(str::to_string) else {
            continue;
        };
        if crate::fsutil::is_temp(&name) {
            crate::fsutil::remove_tree(&dir, &name)?;
            continue;
        }
        let ours = ent.kind == Kind::Symlink && is_ours(&dir, &name)?;
        if !ours {
            // Not berth's: never touched. A command of that name stays unshimmed.
            if wanted.contains(&ent.name) {
                changes.blocked.push(name);
            }
            present.insert(ent.name);
            continue;
        }
        if !wanted.contains(&ent.name) && matches!(how, Refresh::Exact) {
            dir.remove_file(&name)?;
            changes.removed.push(name);
            continue;
        }
        present.insert(ent.name);
    }
    for name in wanted.difference(&present) {
        let name = name.to_string_lossy();
        dir.symlink(SHIM_TARGET, &name)?;
        changes.added.push(name.into_owned());
    }
    if !changes.added.is_empty() || !changes.removed.is_empty() {
        dir.fsync()?;
    }
    for b in &changes.blocked {
        tracing::warn!(
            "{} is not a berth shim; left alone, so the command {b} has no shim",
            dir.join(b).display()
        );
    }
    Ok(changes)
}

/// The shim built with this berth: statically linked by build.rs and embedded here, so a
/// berth binary copied anywhere still installs the matching shim.
const SHIM: &[u8] = include_bytes!(env!("BERTH_STATIC_SHIM"));

/// The shim built with this berth (always present: it is embedded).
pub fn built_shim() -> Option<&'static [u8]> {
    Some(SHIM)
}

/// Whether `libexec/berth-shim` is the shim built with this berth (`None` when this berth
/// has no shim to compare with).
pub fn shim_binary_current(root: &Root) -> Result<Option<bool>> {
    let Some(new) = built_shim() else {
        return Ok(None);
    };
    Ok(Some(same_content(root.dir(), new)?))
}

/// Writes the embedded shim to `libexec/berth-shim` unless an identical copy is already
/// there (atomically: readers see the old or the new binary).
pub fn ensure_shim_binary(root: &Root, _lock: &LockedFile) -> Result<()> {
    let Some(new) = built_shim() else {
        return Ok(());
    };
    if same_content(root.dir(), new)? {
        return Ok(());
    }
    let libexec = root.dir().ensure_dir(LIBEXEC, DIR_MODE)?;
    libexec.write_atomic("berth-shim", new, 0o755)
}

fn same_content(root: &Dir, bytes: &[u8]) -> Result<bool> {
    let f = match root.open_file(SHIM_BINARY) {
        Ok(Some(f)) => f,
        Ok(None) | Err(Error::NotARegularFile { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let st =
        rustix::fs::fstat(&f).map_err(|e| Error::io("stat", root.join(SHIM_BINARY), e.into()))?;
    if st.st_size as u64 != bytes.len() as u64 || st.st_mode & 0o7777 != 0o755 {
        return Ok(false);
    }
    // Compared piece by piece through one buffer: every `use` asks this, and reading the
    // megabyte into a growing vector cost a dozen syscalls and a mapping.
    let mut f = f;
    let mut buf = vec![0u8; 256 << 10];
    for want in bytes.chunks(buf.len()) {
        let have = &mut buf[..want.len()];
        f.read_exact(have)
            .map_err(|e| Error::io("read", root.join(SHIM_BINARY), e))?;
        if have != want {
            return Ok(false);
        }
    }
    Ok(true)
}
