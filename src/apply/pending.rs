//! A switch in flight, recorded durably before it can be left half-done: a switch whose new
//! generation awaits its restart and health check ("pending N+1, from N"), and a data
//! restore (`rollback --with-data`) until the profile link has moved. One small TOML file,
//! `etc/<profile>/.berth/pending.toml` (berth's own corner of the profile's config tree),
//! written through the one atomic-write helper and removed when the switch is settled. A
//! berth killed in between leaves it, so that the next switch of the profile finishes the
//! work first (`deploy::switch`), and `berth check` reports it.

use super::layout::{self, ETC};
use crate::error::{Error, Result};
use crate::root::{Root, DIR_MODE};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The record's directory below `etc/<profile>/`.
const DIR: &str = ".berth";
/// The record's name in [`DIR`].
const FILE: &str = "pending.toml";
/// A record is a few lines; anything bigger is not one.
const MAX: u64 = 4096;

/// How far a data restore had got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataPhase {
    /// The current data is being saved as the snapshot of `from`; `var/` is untouched.
    Saving,
    /// The snapshot of `from` is complete (it is the newest data); `var/` is being
    /// replaced by the snapshot of `to`.
    Restoring,
}

/// What is in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The generation current before the switch (none for a new profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// The generation being switched to.
    pub to: u64,
    /// The new generation has a service to restart and check before it counts as good.
    #[serde(default)]
    pub health: bool,
    /// A data restore under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataPhase>,
}

impl Pending {
    /// "pending switch to generation 2 (from 1), awaiting its health check", for messages.
    pub fn describe(&self) -> String {
        let from = self
            .from
            .map(|f| format!(" (from {f})"))
            .unwrap_or_default();
        let what = match (self.data, self.health) {
            (Some(_), _) => ", with a data restore",
            (None, true) => ", awaiting its restart and health check",
            (None, false) => "",
        };
        format!("switch to generation {}{from}{what}", self.to)
    }
}

/// `<root>/etc/<profile>/.berth/pending.toml` (for messages).
pub fn path(root: &Root, profile: &str) -> PathBuf {
    layout::etc_path(root, profile).join(DIR).join(FILE)
}

/// The record of `profile`, if any. An unreadable one is an error naming the file.
pub fn read(root: &Root, profile: &str) -> Result<Option<Pending>> {
    let Some(etc) = layout::etc_dir_opt(root, profile)? else {
        return Ok(None);
    };
    let Some(bytes) = etc.read(&format!("{DIR}/{FILE}"), MAX)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| Error::io("read", path(root, profile), std::io::Error::other(e)))
}

/// Records `p` for `profile` (replacing what was recorded).
pub fn write(root: &Root, profile: &str, p: &Pending) -> Result<()> {
    let etc = layout::etc_dir(root, profile)?;
    etc.ensure_dir(DIR, DIR_MODE)?;
    let text = toml::to_string(p).map_err(|e| {
        Error::io(
            "write",
            path(root, profile),
            std::io::Error::other(e.to_string()),
        )
    })?;
    etc.write_atomic(&format!("{DIR}/{FILE}"), text.as_bytes(), 0o644)
}

/// Records where a data restore of the switch `from` → `to` has got (keeping what else is
/// recorded for that switch).
pub fn data(root: &Root, profile: &str, from: u64, to: u64, phase: DataPhase) -> Result<()> {
    let mut p = read(root, profile)?
        .filter(|p| p.to == to && p.from == Some(from))
        .unwrap_or(Pending {
            from: Some(from),
            to,
            health: false,
            data: None,
        });
    p.data = Some(phase);
    write(root, profile, &p)
}

/// The link has moved: what remains is the health check, if the switch awaits one.
pub fn link_moved(root: &Root, profile: &str) -> Result<()> {
    match read(root, profile)? {
        Some(p) if p.health && p.data.is_some() => {
            write(root, profile, &Pending { data: None, ..p })
        }
        Some(p) if !p.health => clear(root, profile),
        _ => Ok(()),
    }
}

/// Removes the record of `profile` (nothing is in flight any more).
pub fn clear(root: &Root, profile: &str) -> Result<()> {
    if let Some(etc) = layout::etc_dir_opt(root, profile)? {
        if let Some(d) = etc.open_dir_opt(DIR)? {
            if d.remove_file(FILE)? {
                d.fsync()?;
            }
        }
    }
    Ok(())
}

/// Removes what a write of the record killed midway left (its temporary file): the caller
/// holds the lock, so no write is under way.
pub fn clean_leftovers(root: &Root, profile: &str) -> Result<()> {
    let Some(etc) = layout::etc_dir_opt(root, profile)? else {
        return Ok(());
    };
    let Some(d) = etc.open_dir_opt(DIR)? else {
        return Ok(());
    };
    let mut gone = false;
    for e in d.entries()? {
        if e.name_str().and_then(crate::fsutil::temp_stem) == Some(FILE) {
            gone |= d.remove_file(e.name_str().unwrap_or_default())?;
        }
    }
    if gone {
        d.fsync()?;
    }
    Ok(())
}

/// Every profile (a directory in `etc/`) with a record, for `check`.
pub fn all(root: &Root) -> Result<Vec<(String, Pending)>> {
    let Some(etc) = root.dir().open_dir_opt(ETC)? else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for e in etc.entries()? {
        let Some(name) = e.name_str() else { continue };
        if e.kind != crate::fsutil::Kind::Dir
            || crate::package::name::check_name("profile name", name).is_err()
        {
            continue;
        }
        if let Some(p) = read(root, name)? {
            out.push((name.to_string(), p));
        }
    }
    Ok(out)
}
