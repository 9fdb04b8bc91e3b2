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

/// A package resolved in the last good indexes.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The repository it comes from.
    pub repo: Repo,
    /// That repository's last good index.
    pub known: Known,
    /// The package's entry.
    pub package: Package,
}

/// The package `reference` names, and the repository whose index lists it. A name comes
/// from one repository only: `from` when given, else the one it is pinned to (where it was
/// first installed from), else the first in `repos.toml` that offers it. Other
/// repositories offering the same name are named in a warning, never used silently.
pub fn resolve(paths: &Paths, reference: &str, from: Option<&str>) -> Result<Resolved> {
    let repos = Repos::load(paths)?;
    let all = known(paths)?;
    if all.is_empty() {
        return Err(Error::NoRepos.into());
    }
    if let Some(f) = from {
        repos.get(f)?;
    }
    let (name, version) = split(reference);
    let offering: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, (_, k))| {
            k.as_ref()
                .is_some_and(|k| k.index.packages.iter().any(|p| p.name == name))
        })
        .map(|(i, _)| i)
        .collect();
    let pinned = repos.pins.get(name).filter(|r| repos.get(r).is_ok());
    let (chosen, why) = match (from, pinned) {
        (Some(f), _) => (Some(f.to_string()), "asked for with --from"),
        (None, Some(p)) => (Some(p.clone()), "it was first installed from there"),
        (None, None) => (
            offering.first().map(|i| all[*i].0.name.clone()),
            "the first repository in repos.toml that offers it",
        ),
    };
    let others: Vec<String> = offering
        .iter()
        .map(|i| all[*i].0.name.clone())
        .filter(|n| Some(n) != chosen.as_ref())
        .collect();
    if let (Some(c), false) = (&chosen, others.is_empty()) {
        tracing::warn!(
            "package {name} is offered by {} too; using repository `{c}` ({why}); `berth install --from {} {name}` chooses another",
            others.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
            others[0]
        );
    }
    let candidates: Vec<usize> = match &chosen {
        Some(c) => all
            .iter()
            .position(|(r, _)| &r.name == c)
            .into_iter()
            .collect(),
        None => vec![],
    };
    let mut best: Option<(usize, &Package)> = None;
    let mut versions = Vec::new();
    for i in candidates {
        let Some(k) = &all[i].1 else { continue };
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
        let repos = match &chosen {
            Some(c) => vec![c.clone()],
            None => all.iter().map(|(r, _)| r.name.clone()).collect(),
        };
        return Err(Error::NotInIndexes {
            reference: reference.to_string(),
            repos,
            versions,
        }
        .into());
    };
    let package = pkg.clone();
    let (repo, k) = all.into_iter().nth(i).expect("index from this list");
    Ok(Resolved {
        repo,
        known: k.expect("matched in a known index"),
        package,
    })
}

/// Binds `name` to `repo` unless it is bound already (`force`: `--from` rebinds it).
pub fn pin(paths: &Paths, name: &str, repo: &str, force: bool) -> Result<()> {
    let mut repos = Repos::load(paths)?;
    let current = repos.pins.get(name).filter(|r| repos.get(r).is_ok());
    if current.is_some_and(|c| c == repo) || (current.is_some() && !force) {
        return Ok(());
    }
    repos.pins.insert(name.to_string(), repo.to_string());
    repos.save(paths)
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
