//! Finding packages in the last good indexes: `name` (the newest version, in Debian order,
//! first repository wins a tie) or `name@version`, and `search`.

use super::index::Package;
use super::trust::{self, Known, Repo, Repos};
use super::{Error, Paths};
use crate::error::Result;
use crate::package::version::compare;
use serde::Serialize;
use std::cmp::Ordering;

/// Every configured repository with its last good index (None before its first update).
pub fn known(paths: &Paths) -> Result<Vec<(Repo, Option<Known>)>> {
    let repos = Repos::load(paths)?;
    let mut out = Vec::new();
    for r in repos.repos {
        let k = trust::load_known(paths, &r)?;
        out.push((r, k));
    }
    Ok(out)
}

/// Splits `name[@version]`.
pub fn split(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (reference, None),
    }
}

/// Whether a command-line word can name a package in a repository (not a path).
pub fn looks_like_reference(word: &str) -> bool {
    const FILE_SUFFIXES: &[&str] = &[
        ".berth", ".deb", ".rpm", ".tar", ".tgz", ".txz", ".tzst", ".gz", ".xz", ".zst",
    ];
    let (name, version) = split(word);
    !word.contains('/')
        && !FILE_SUFFIXES.iter().any(|s| word.ends_with(s))
        && crate::package::name::check_name("package name", name).is_ok()
        && version.is_none_or(|v| crate::package::name::check_version(v).is_ok())
}

/// The package `reference` names, and the repository whose index lists it.
pub fn resolve(paths: &Paths, reference: &str) -> Result<(Repo, Known, Package)> {
    let all = known(paths)?;
    if all.is_empty() {
        return Err(Error::NoRepos.into());
    }
    let (name, version) = split(reference);
    let mut best: Option<(usize, &Package)> = None;
    let mut versions = Vec::new();
    for (i, (_, k)) in all.iter().enumerate() {
        let Some(k) = k else { continue };
        for p in k.index.packages.iter().filter(|p| p.name == name) {
            versions.push(p.version.clone());
            if version.is_some_and(|v| v != p.version) {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, b)) => compare(&p.version, &b.version) == Ordering::Greater,
            };
            if better {
                best = Some((i, p));
            }
        }
    }
    let Some((i, pkg)) = best else {
        if all.iter().all(|(_, k)| k.is_none()) {
            return Err(Error::NoIndex {
                name: all[0].0.name.clone(),
            }
            .into());
        }
        versions.sort_by(|a, b| compare(a, b));
        versions.dedup();
        return Err(Error::NotInIndexes {
            reference: reference.to_string(),
            repos: all.iter().map(|(r, _)| r.name.clone()).collect(),
            versions,
        }
        .into());
    };
    let pkg = pkg.clone();
    let (repo, k) = all.into_iter().nth(i).expect("index from this list");
    Ok((repo, k.expect("matched in a known index"), pkg))
}

/// One line of `search`.
#[derive(Debug, Serialize)]
pub struct Hit {
    /// Package name.
    pub name: String,
    /// Versions, oldest first.
    pub versions: Vec<String>,
    /// Size of the newest version's file.
    pub size: u64,
    /// Kind of the newest version.
    pub kind: &'static str,
    /// Description of the newest version.
    pub description: String,
    /// The repository.
    pub repository: String,
}

/// Packages whose name or description contains `word` (every package when empty), per
/// repository, sorted by name; plus the repositories that have no index yet.
pub fn search(paths: &Paths, word: &str) -> Result<(Vec<Hit>, Vec<String>)> {
    let word = word.to_lowercase();
    let mut hits: Vec<Hit> = Vec::new();
    let mut missing = Vec::new();
    let all = known(paths)?;
    if all.is_empty() {
        return Err(Error::NoRepos.into());
    }
    for (repo, k) in all {
        let Some(k) = k else {
            missing.push(repo.name);
            continue;
        };
        for p in &k.index.packages {
            let matches = p.name.contains(&word) || p.description.to_lowercase().contains(&word);
            if !matches {
                continue;
            }
            match hits
                .iter_mut()
                .find(|h| h.name == p.name && h.repository == repo.name)
            {
                Some(h) => {
                    h.versions.push(p.version.clone());
                    if compare(
                        &p.version,
                        h.versions
                            .iter()
                            .max_by(|a, b| compare(a, b))
                            .expect("one version"),
                    ) != Ordering::Less
                    {
                        h.size = p.size;
                        h.kind = p.kind.as_str();
                        h.description = p.description.clone();
                    }
                }
                None => hits.push(Hit {
                    name: p.name.clone(),
                    versions: vec![p.version.clone()],
                    size: p.size,
                    kind: p.kind.as_str(),
                    description: p.description.clone(),
                    repository: repo.name.clone(),
                }),
            }
        }
    }
    for h in &mut hits {
        h.versions.sort_by(|a, b| compare(a, b));
    }
    hits.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((hits, missing))
}
