//! Reading profiles and generations: what exists, what each generation holds, which one is
//! current. Reads never need the lock and never see a torn state (generations appear by
//! rename, profile links change by rename).

use crate::error::{Error, Result};
use crate::root::Root;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One package of a generation: the store entry `<name>-<version>-<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenPackage {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Entry id.
    pub id: String,
}

impl GenPackage {
    /// The store entry's directory name.
    pub fn entry_dir(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.id)
    }
}

/// `generation.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generation {
    /// Its number (dense per profile, from 1).
    pub number: u64,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The command line that made it.
    pub command: String,
    /// Packages it holds, sorted by name.
    pub packages: Vec<GenPackage>,
    /// Packages that won path conflicts (`use --prefer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<String>,
}

/// The profiles of one root.
#[derive(Debug, Clone)]
pub struct Profiles {
    root: Root,
}

impl Profiles {
    /// The profiles of `root`.
    pub fn new(root: &Root) -> Profiles {
        Profiles { root: root.clone() }
    }

    /// The root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// `generations/<profile>`.
    pub fn dir(&self, profile: &str) -> PathBuf {
        self.root.generations().join(profile)
    }

    /// `generations/<profile>/<n>`.
    pub fn generation_dir(&self, profile: &str, n: u64) -> PathBuf {
        self.dir(profile).join(n.to_string())
    }

    /// `profiles/<profile>`.
    pub fn link(&self, profile: &str) -> PathBuf {
        self.root.profiles().join(profile)
    }

    /// Every profile that has generations, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for path in crate::fsutil::children(&self.root.generations())? {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if !name.starts_with('.') && path.is_dir() {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// The complete generations of a profile, ascending.
    pub fn numbers(&self, profile: &str) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for path in crate::fsutil::children(&self.dir(profile))? {
            if let Some(n) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|s| s.parse::<u64>().ok())
            {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Reads `generation.toml` of one generation.
    pub fn read(&self, profile: &str, n: u64) -> Result<Generation> {
        let p = self.generation_dir(profile, n).join("generation.toml");
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Other {
                    message: format!("profile {profile} has no generation {n}"),
                    hint: format!("`berth generations {profile}` lists the generations"),
                })
            }
            Err(e) => return Err(Error::io("read", p, e)),
        };
        toml::from_str(&text).map_err(|e| Error::Corrupt {
            entry: format!("generation {profile}/{n}"),
            problem: format!("bad generation.toml: {e}"),
        })
    }

    /// The generation the profile link points to, if the profile exists.
    pub fn current(&self, profile: &str) -> Result<Option<u64>> {
        let link = self.link(profile);
        match std::fs::read_link(&link) {
            Ok(t) => Ok(t
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read link", link, e)),
        }
    }
}
