//! One installed entry and its `.berth/` metadata (manifest, file list, origin).

use crate::error::{Error, Result};
use crate::fsutil::Dir;
use crate::package::listing::FileList;
use crate::package::manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `.berth/` inside an entry.
pub const META: &str = ".berth";
/// The manifest inside an entry.
pub const MANIFEST: &str = ".berth/manifest.toml";
/// The file list inside an entry.
pub const FILES: &str = ".berth/files";
/// The origin record inside an entry.
pub const ORIGIN: &str = ".berth/origin.toml";

/// Where an entry came from and what it holds (`.berth/origin.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// File name of the artifact it was installed from.
    pub artifact: String,
    /// SHA-256 of the artifact.
    pub sha256: String,
    /// Format: `berth`, `tar`, `tar.gz`, `tar.xz`, `tar.zst`, `deb` …
    pub format: String,
    /// When it was installed (RFC 3339, UTC).
    pub installed_at: String,
    /// Regular files in the entry.
    pub files: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}

/// An installed store entry.
#[derive(Debug, Clone)]
pub struct Entry {
    path: PathBuf,
    dir_name: String,
    id: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its origin.
    pub origin: Origin,
}

impl Entry {
    /// Reads the metadata of the entry `name` of the store directory `store`.
    pub fn load(store: &Dir, name: &str) -> Result<Entry> {
        let corrupt = |problem: String| Error::Corrupt {
            entry: name.to_string(),
            problem,
        };
        let dir = store.open_dir(name)?;
        let text = dir
            .read_text(MANIFEST)?
            .ok_or_else(|| corrupt(format!("{MANIFEST} is missing")))?;
        let manifest = Manifest::parse(&text, &dir.join(MANIFEST))
            .map_err(|e| corrupt(format!("bad {MANIFEST}: {e}")))?;
        let text = dir
            .read_text(ORIGIN)?
            .ok_or_else(|| corrupt(format!("{ORIGIN} is missing")))?;
        let origin: Origin =
            toml::from_str(&text).map_err(|e| corrupt(format!("bad {ORIGIN}: {e}")))?;
        let prefix = format!("{}-{}-", manifest.package.name, manifest.package.version);
        let id = name
            .strip_prefix(&prefix)
            .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| corrupt("directory name does not match its manifest".into()))?
            .to_string();
        Ok(Entry {
            path: dir.path().to_path_buf(),
            dir_name: name.to_string(),
            id,
            manifest,
            origin,
        })
    }

    /// The entry's directory (for messages and for handing to other programs).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// `<name>-<version>-<id>`.
    pub fn dir_name(&self) -> &str {
        &self.dir_name
    }
    /// Package name.
    pub fn name(&self) -> &str {
        &self.manifest.package.name
    }
    /// Package version.
    pub fn version(&self) -> &str {
        &self.manifest.package.version
    }
    /// Content address.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// `name@version`.
    pub fn spec(&self) -> String {
        format!("{}@{}", self.name(), self.version())
    }
    /// Reads the recorded file list from the open entry directory `dir`.
    pub fn file_list(&self, dir: &Dir) -> Result<FileList> {
        let text = dir.read_text(FILES)?.ok_or_else(|| Error::Corrupt {
            entry: self.dir_name.clone(),
            problem: format!("{FILES} is missing"),
        })?;
        FileList::parse(&text).map_err(|e| Error::Corrupt {
            entry: self.dir_name.clone(),
            problem: format!("{FILES} {e}"),
        })
    }
}
