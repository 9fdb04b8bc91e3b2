//! Reading profiles and generations: what exists, what each generation holds, which one is
//! current. Reads never need the lock and never see a torn state (generations appear by
//! rename, profile links change by rename).

use crate::error::{Error, Result};
use crate::fsutil::{Dir, Kind};
use crate::package::name::check_name;
use crate::root::{Root, GENERATIONS, PROFILES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A generation's record.
pub const GENERATION_TOML: &str = "generation.toml";

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
        crate::store::entry_dir_name(&self.name, &self.version, &self.id)
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
    /// The declarative profile file (`berth apply`) this generation was made from, verbatim,
    /// so `generations`/`diff` can show what changed in it and a later switch (`use`,
    /// `rollback`) knows the profile's service, health check, backup and hooks. Carried
    /// forward by `use`/`drop`; none for profiles never applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// The profile file's rendered config templates: output path (below
    /// `etc/<profile>/`) → sha256 of the rendering, kept by the layer above, so a switch to
    /// this generation puts its own renderings back. Carried forward like `spec`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
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

    /// `generations/`, if it exists.
    pub fn generations_dir(&self) -> Result<Option<Dir>> {
        self.root.dir().open_dir_opt(GENERATIONS)
    }

    /// `generations/<profile>`, if it exists (the name is checked first).
    pub fn dir(&self, profile: &str) -> Result<Option<Dir>> {
        check_name("profile name", profile)?;
        self.root
            .dir()
            .open_dir_opt(&format!("{GENERATIONS}/{profile}"))
    }

    /// `generations/<profile>/<n>`, if it exists.
    pub fn generation_dir(&self, profile: &str, n: u64) -> Result<Option<Dir>> {
        check_name("profile name", profile)?;
        self.root
            .dir()
            .open_dir_opt(&format!("{GENERATIONS}/{profile}/{n}"))
    }

    /// The path of `generations/<profile>/<n>` (for messages and links handed to others).
    pub fn generation_path(&self, profile: &str, n: u64) -> PathBuf {
        self.root
            .path()
            .join(GENERATIONS)
            .join(profile)
            .join(n.to_string())
    }

    /// The profile file generation `gen` records, verbatim, and the path of the record it
    /// is in (for messages); `None` when it records none. Parsing it is `apply`'s.
    pub fn recorded_spec<'g>(
        &self,
        profile: &str,
        gen: &'g Generation,
    ) -> Option<(&'g str, PathBuf)> {
        let text = gen.spec.as_deref()?;
        Some((
            text,
            self.generation_path(profile, gen.number)
                .join(GENERATION_TOML),
        ))
    }

    /// The path of `profiles/<profile>`: what shims, `run` and services go through.
    pub fn link_path(&self, profile: &str) -> PathBuf {
        berth_shim::profile_link(self.root.path(), profile)
    }

    /// Every profile that has generations, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let Some(dir) = self.generations_dir()? else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for e in dir.entries()? {
            let Some(name) = e.name_str().filter(|n| berth_shim::valid_name(n)) else {
                continue;
            };
            match e.kind {
                Kind::Dir => out.push(name.to_string()),
                // A profile whose generations cannot be read must not look like no profile:
                // gc and remove would take the entries it uses.
                Kind::Symlink => {
                    return Err(Error::SymlinkInRoot {
                        path: dir.join(name),
                    })
                }
                _ => {
                    return Err(Error::NotADirectoryInRoot {
                        path: dir.join(name),
                    })
                }
            }
        }
        Ok(out)
    }

    /// The complete generations of a profile, ascending.
    pub fn numbers(&self, profile: &str) -> Result<Vec<u64>> {
        let Some(dir) = self.dir(profile)? else {
            return Ok(vec![]);
        };
        let mut out: Vec<u64> = dir
            .entries()?
            .into_iter()
            .filter(|e| e.kind == Kind::Dir)
            .filter_map(|e| e.name_str().and_then(parse_number))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Reads `generation.toml` of one generation.
    pub fn read(&self, profile: &str, n: u64) -> Result<Generation> {
        let no_such = || Error::NoSuchGeneration {
            profile: profile.to_string(),
            number: n,
            existing: self.numbers(profile).unwrap_or_default(),
        };
        let dir = self.generation_dir(profile, n)?.ok_or_else(no_such)?;
        let text = dir.read_text(GENERATION_TOML)?.ok_or_else(no_such)?;
        let g: Generation = toml::from_str(&text).map_err(|e| Error::BadState {
            path: dir.join(GENERATION_TOML),
            what: "generation record",
            detail: e.to_string(),
        })?;
        if g.number != n {
            return Err(Error::BadState {
                path: dir.join(GENERATION_TOML),
                what: "generation record",
                detail: format!("it says generation {}, but is stored as {n}", g.number),
            });
        }
        Ok(g)
    }

    /// The generation the profile link points to, if the profile exists. A link that is
    /// not exactly `../generations/<profile>/<N>` is an error, never followed.
    pub fn current(&self, profile: &str) -> Result<Option<u64>> {
        check_name("profile name", profile)?;
        let rel = format!("{PROFILES}/{profile}");
        let Some(target) = self.root.dir().read_link(&rel)? else {
            return Ok(None);
        };
        match number_of_link(&target, profile) {
            Some(n) => Ok(Some(n)),
            None => Err(Error::BadState {
                path: self.root.path().join(&rel),
                what: "profile link",
                detail: format!("it points to {}", target.display()),
            }),
        }
    }

    /// The current generation of `profile` and its record, if the profile exists.
    pub fn current_generation(&self, profile: &str) -> Result<Option<(u64, Generation)>> {
        match self.current(profile)? {
            Some(n) => Ok(Some((n, self.read(profile, n)?))),
            None => Ok(None),
        }
    }

    /// The current generation, or the "no such profile" error.
    pub fn existing(&self, profile: &str) -> Result<u64> {
        self.current(profile)?.ok_or_else(|| self.unknown(profile))
    }

    /// The "no such profile" error, listing the profiles there are.
    pub fn unknown(&self, profile: &str) -> Error {
        Error::UnknownProfile {
            profile: crate::package::extract::printable(profile),
            existing: self.list().unwrap_or_default(),
        }
    }
}

/// A generation number: decimal digits without a leading zero.
pub fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The link text a profile link must have.
pub fn link_target(profile: &str, n: u64) -> PathBuf {
    Path::new("..")
        .join(GENERATIONS)
        .join(profile)
        .join(n.to_string())
}

fn number_of_link(target: &Path, profile: &str) -> Option<u64> {
    let n = parse_number(target.file_name()?.to_str()?)?;
    (target == link_target(profile, n)).then_some(n)
}
