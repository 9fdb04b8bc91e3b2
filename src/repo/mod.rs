//! Static signed repositories: a directory of immutable package files named by their hash,
//! plus `index.json` and its minisign signature, served by any web server or object store.
//! Publishers make them (`publish`); clients pin keys (`trust`), fetch and verify indexes
//! (`fetch`, `keys`, `index`) and download packages they can prove were signed (`cache`).
//!
//! Files this module owns under the root: `repos.toml` (configured repositories),
//! `repos/<name>.json` (the last good index of each, with its signature), `cache/` (verified
//! downloads), `keys/*.pub` (extra keys trusted for `install --signature`), `config.toml`, and
//! `repos/credentials.toml` (0600: the users and passwords of repository URLs).

pub mod apt;
pub mod cache;
pub mod check;
pub mod credentials;
pub mod delta;
mod error;
pub mod fetch;
pub mod index;
pub mod inspect;
pub mod install;
pub mod keys;
pub mod manage;
pub mod policy;
pub mod publish;
pub mod resolve;
pub mod trust;

pub use error::Error;

use crate::error::Result;
use crate::fsutil::Dir;
use crate::root::{Root, DIR_MODE};
use std::path::PathBuf;

/// `repos.toml`.
pub const REPOS_TOML: &str = "repos.toml";
/// `config.toml`.
pub const CONFIG_TOML: &str = "config.toml";
/// `repos/`: the last good index of each repository.
pub const STATE_DIR: &str = "repos";
/// `cache/`: verified downloads.
pub const CACHE_DIR: &str = "cache";
/// `keys/`: extra public keys trusted for `install --signature`.
pub const KEYS_DIR: &str = "keys";
/// The names this module owns at the top of a root (for `check`).
pub const ROOT_NAMES: &[&str] = &[REPOS_TOML, CONFIG_TOML, STATE_DIR, KEYS_DIR, CACHE_DIR];

/// This module's files under a root, reached beneath the root's handle (never through a
/// symlink), like every other module's.
#[derive(Debug, Clone)]
pub struct Paths {
    root: Root,
}

impl Paths {
    /// The files of `root`.
    pub fn new(root: &Root) -> Paths {
        Paths { root: root.clone() }
    }
    /// Configured repositories (for messages).
    pub fn repos_toml(&self) -> PathBuf {
        self.root.path().join(REPOS_TOML)
    }
    /// Root-wide policy (`require_signatures`), for messages.
    pub fn config_toml(&self) -> PathBuf {
        self.root.path().join(CONFIG_TOML)
    }
    /// `repos/<name>.json`, relative to the root.
    pub fn state_rel(name: &str) -> String {
        format!("{STATE_DIR}/{name}.json")
    }
    /// The last good index of repository `name` (for messages).
    pub fn state(&self, name: &str) -> PathBuf {
        self.root.path().join(Self::state_rel(name))
    }
    /// Reads one of this module's text files (`None` when missing).
    pub fn read(&self, rel: &str) -> Result<Option<String>> {
        self.root.dir().read_text(rel)
    }
    /// One of this module's files, for messages.
    pub fn root_path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
    /// Writes one of this module's files durably, creating its directory (0755).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.write_mode(rel, bytes, crate::root::FILE_MODE)
    }
    /// As [`Paths::write`], readable by its owner only (0600): it holds secrets.
    pub fn write_private(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.write_mode(rel, bytes, 0o600)
    }
    fn write_mode(&self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        match rel.rsplit_once('/') {
            Some((d, name)) => self
                .root
                .dir()
                .ensure_dir(d, DIR_MODE)?
                .write_atomic(name, bytes, mode),
            None => self.root.dir().write_atomic(rel, bytes, mode),
        }
    }
    /// Removes one of this module's files; a missing one is fine.
    pub fn remove(&self, rel: &str) -> Result<()> {
        if self.root.dir().stat(rel)?.is_some() {
            self.root.dir().remove_file(rel)?;
        }
        Ok(())
    }
    /// Removes the directory `rel` when it holds nothing (a failed download leaves no trace).
    pub fn remove_dir_if_empty(&self, rel: &str) -> Result<()> {
        if self.list(rel)?.is_empty() {
            crate::fsutil::remove_tree(self.root.dir(), rel)?;
        }
        Ok(())
    }
    /// A directory of this module (`cache/<sha>` …), created if missing.
    pub fn dir(&self, rel: &str) -> Result<Dir> {
        self.root.dir().ensure_dir(rel, DIR_MODE)
    }
    /// Names in one of this module's directories (none when it does not exist).
    pub fn list(&self, rel: &str) -> Result<Vec<String>> {
        Ok(self
            .root
            .dir()
            .entries_of(rel)?
            .into_iter()
            .filter_map(|e| e.name_str().map(str::to_string))
            .collect())
    }
}
