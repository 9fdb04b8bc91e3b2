//! One installed entry and its `.berth/` metadata (manifest, file list, origin).

use super::listing::FileList;
use crate::error::{Error, IoContext, Result};
use crate::package::manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where an entry came from and what it holds (`.berth/origin.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// File name of the artifact it was installed from.
    pub artifact: String,
    /// SHA-256 of the artifact.
    pub sha256: String,
    /// Format: `berth`, `tar`, `tar.gz`, `tar.xz`, `tar.zst`.
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
    /// Reads an entry's metadata.
    pub fn load(path: &Path) -> Result<Entry> {
        let dir_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let corrupt = |problem: String| Error::Corrupt {
            entry: dir_name.clone(),
            problem,
        };
        let meta = path.join(".berth");
        let manifest = Manifest::load(&meta.join("manifest.toml"))
            .map_err(|e| corrupt(format!("bad .berth/manifest.toml: {e}")))?;
        let origin_path = meta.join("origin.toml");
        let text = std::fs::read_to_string(&origin_path).ctx("read", &origin_path)?;
        let origin: Origin =
            toml::from_str(&text).map_err(|e| corrupt(format!("bad .berth/origin.toml: {e}")))?;
        let prefix = format!("{}-{}-", manifest.package.name, manifest.package.version);
        let id = dir_name
            .strip_prefix(&prefix)
            .ok_or_else(|| corrupt("directory name does not match its manifest".into()))?
            .to_string();
        Ok(Entry {
            path: path.to_path_buf(),
            dir_name,
            id,
            manifest,
            origin,
        })
    }

    /// The entry's directory.
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
    /// Reads the recorded file list.
    pub fn file_list(&self) -> Result<FileList> {
        let p = self.path.join(".berth/files");
        let text = std::fs::read_to_string(&p).ctx("read", &p)?;
        FileList::parse(&text).map_err(|e| Error::Corrupt {
            entry: self.dir_name.clone(),
            problem: format!(".berth/files {e}"),
        })
    }
}
