//! Static signed repositories: a directory of immutable package files named by their hash,
//! plus `index.json` and its minisign signature, served by any web server or object store.
//! Publishers make them (`publish`); clients pin keys (`trust`), fetch and verify indexes
//! (`fetch`, `keys`, `index`) and download packages they can prove were signed (`cache`).
//!
//! Files this module owns under the root: `repos.toml` (configured repositories),
//! `repos/<name>.json` (the last good index of each, with its signature), `cache/` (verified
//! downloads), `keys/*.pub` (extra keys trusted for `install --signature`) and `config.toml`.

pub mod cache;
mod error;
pub mod fetch;
pub mod index;
pub mod inspect;
pub mod keys;
pub mod policy;
pub mod publish;
pub mod resolve;
pub mod trust;

pub use error::Error;

use std::path::{Path, PathBuf};

/// The paths of this module's files under a root.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    /// The paths under `root`.
    pub fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
        }
    }
    /// Configured repositories.
    pub fn repos_toml(&self) -> PathBuf {
        self.root.join("repos.toml")
    }
    /// Root-wide policy (`require_signatures`).
    pub fn config_toml(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// The last good index of each repository.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("repos")
    }
    /// The last good index of repository `name`.
    pub fn state(&self, name: &str) -> PathBuf {
        self.state_dir().join(format!("{name}.json"))
    }
    /// Verified downloads.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// Extra public keys trusted for `install --signature`.
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
}
