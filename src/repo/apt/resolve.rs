//! The set `install --apt` downloads: the named versions, plus, for every `Pre-Depends` and
//! `Depends` of the set that neither the host's dpkg, the named set nor what was already
//! added meets, the first alternative apt can provide, at apt's candidate when that
//! satisfies the relation, else at apt's newest version that does. Virtual packages resolve
//! to their one provider; several providers are refused by name. No solver: this is the
//! closure apt would add on a host that has the host's packages, nothing cleverer.

use super::error::Error;
use super::query::{Catalog, Record};
use crate::error::Result;
use crate::package::relations::{evaluate, parse, show, Available, Relation, Verdict};
use crate::package::version::compare;
use std::cmp::Ordering;

/// `NAME` or `NAME=VERSION`, checked before apt sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The package.
    pub name: String,
    /// The exact version (apt's candidate when absent).
    pub version: Option<String>,
}

/// Parses `NAME[=VERSION]` with Debian's rules for both, so that nothing apt would read as
/// an option (a leading `-`) or a shell would read as syntax ever reaches a command line.
pub fn parse_spec(arg: &str) -> Result<Spec, Error> {
    let bad = |why| Error::BadSpec {
        arg: crate::package::printable::printable(arg),
        why,
    };
    let (name, version) = match arg.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (arg, None),
    };
    let name_ok = name.len() >= 2
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return Err(bad("a Debian package name is lowercase letters, digits and + - ., starting with a letter or digit"));
    }
    if let Some(v) = version {
        let ok = v.len() <= 128
            && v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c));
        if !ok {
            return Err(bad(
                "a Debian version is letters, digits and . + ~ : -, starting with a digit",
            ));
        }
    }
    Ok(Spec {
        name: name.to_string(),
        version: version.map(str::to_string),
    })
}

/// Why a package is in the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Named on the command line.
    Named,
    /// Needed by `package` (`name@version`) through `relation` (as its control file writes it).
    NeededBy { package: String, relation: String },
}

/// One package of the set, at the version apt will download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// apt's record of it.
    pub record: Record,
    /// Why it is there.
    pub why: Why,
}

impl Planned {
    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.record.name, self.record.version)
    }
}

fn as_available(r: &Record) -> Available {
    Available {
        name: r.name.clone(),
        version: r.version.clone(),
        arch: Some(r.arch.clone()),
        provides: r.provides.clone(),
        place: "apt",
    }
}

/// The named packages and the closure of their dependencies that `host` does not meet.
pub fn plan(cat: &mut impl Catalog, specs: &[Spec], host: &[Available]) -> Result<Vec<Planned>> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    cat.prefetch(&names)?;
    let mut set: Vec<Planned> = Vec::new();
    for s in specs {
        let record = named(cat, s)?;
        if !set.iter().any(|p| p.record == record) {
            set.push(Planned {
                record,
                why: Why::Named,
            });
        }
    }
    // Breadth first over the growing set, one level at a time: apt is asked about a whole
    // level's unmet names at once, then each member's relations are settled in order.
    let mut next = 0;
    while next < set.len() {
        let level: Vec<Record> = set[next..].iter().map(|p| p.record.clone()).collect();
        next = set.len();
        let mut wanted: Vec<String> = Vec::new();
        for record in &level {
            for alts in unmet(record, &set, host)? {
                wanted.extend(alts.iter().map(|r| r.name.clone()));
            }
        }
        cat.prefetch(&wanted.iter().map(String::as_str).collect::<Vec<_>>())?;
        for record in &level {
            // Again, and per group: what this level added may meet it now.
            for alts in unmet(record, &set, host)? {
                if met(&alts, &set, host) {
                    continue;
                }
                let found = provide(cat, record, &alts)?;
                set.push(Planned {
                    record: found,
                    why: Why::NeededBy {
                        package: format!("{}@{}", record.name, record.version),
                        relation: show(&alts),
                    },
                });
            }
        }
    }
    Ok(set)
}

/// The Pre-Depends and Depends of `record` that neither `set` nor `host` meets. A group
/// the set comes to meet while the caller adds to it is its business (it asks again).
fn unmet(record: &Record, set: &[Planned], host: &[Available]) -> Result<Vec<Vec<Relation>>> {
    let mut out = Vec::new();
    for (field, text) in [
        ("Pre-Depends", &record.pre_depends),
        ("Depends", &record.depends),
    ] {
        let Some(text) = text else { continue };
        let groups = parse(text).map_err(|e| Error::BadRelation {
            package: format!("{}@{}", record.name, record.version),
            field,
            why: e.to_string(),
        })?;
        out.extend(groups.into_iter().filter(|alts| !met(alts, set, host)));
    }
    Ok(out)
}

/// Whether the set or the host meets one dependency.
fn met(alts: &[Relation], set: &[Planned], host: &[Available]) -> bool {
    let mut available: Vec<Available> = set.iter().map(|p| as_available(&p.record)).collect();
    available.extend_from_slice(host);
    matches!(evaluate(alts, &available), Verdict::Satisfied(_))
}

/// The record a spec names: its exact version, or apt's candidate.
fn named(cat: &mut impl Catalog, s: &Spec) -> Result<Record> {
    let records = cat.records(&s.name)?;
    if records.is_empty() {
        return Err(Error::UnknownPackage {
            name: s.name.clone(),
        }
        .into());
    }
    let want = match &s.version {
        Some(v) => v.clone(),
        None => cat.candidate(&s.name)?.ok_or_else(|| Error::NoCandidate {
            name: s.name.clone(),
        })?,
    };
    let found = records
        .iter()
        .find(|r| compare(&r.version, &want) == Ordering::Equal)
        .cloned();
    found.ok_or_else(|| {
        Error::UnknownVersion {
            name: s.name.clone(),
            version: want,
            known: records.into_iter().map(|r| r.version).collect(),
        }
        .into()
    })
}

/// The first alternative of `alts` apt can provide (for `of`, whose relation it is).
fn provide(cat: &mut impl Catalog, of: &Record, alts: &[Relation]) -> Result<Record> {
    let package = format!("{}@{}", of.name, of.version);
    let mut providers_seen: Vec<String> = Vec::new();
    let mut versions_seen: Vec<String> = Vec::new();
    for r in alts {
        if let Some(found) = best(cat, r, &r.name)? {
            return Ok(found);
        }
        let records = cat.records(&r.name)?;
        versions_seen.extend(records.iter().map(|x| format!("{} {}", x.name, x.version)));
        if !records.is_empty() {
            continue;
        }
        // A virtual package: its one provider, at a version whose Provides satisfies `r`.
        let providers = cat.providers(&r.name)?;
        match providers.as_slice() {
            [] => {}
            [one] => {
                if let Some(found) = best(cat, r, one)? {
                    return Ok(found);
                }
            }
            many => providers_seen.extend(many.iter().cloned()),
        }
    }
    if !providers_seen.is_empty() {
        return Err(Error::Ambiguous {
            package,
            relation: show(alts),
            providers: providers_seen,
        }
        .into());
    }
    Err(Error::Unsatisfiable {
        package,
        relation: show(alts),
        found: versions_seen.join(", "),
    }
    .into())
}

/// Among apt's records of `name`, the one that satisfies `r`: the candidate when it does,
/// else the newest that does.
fn best(cat: &mut impl Catalog, r: &Relation, name: &str) -> Result<Option<Record>> {
    let mut records = cat.records(name)?;
    if records.is_empty() {
        return Ok(None);
    }
    let fits = |rec: &Record| {
        matches!(
            evaluate(std::slice::from_ref(r), &[as_available(rec)]),
            Verdict::Satisfied(_)
        )
    };
    let candidate = cat.candidate(name)?;
    if let Some(c) = records
        .iter()
        .find(|rec| Some(&rec.version) == candidate.as_ref() && fits(rec))
    {
        return Ok(Some(c.clone()));
    }
    records.sort_by(|a, b| compare(&b.version, &a.version));
    Ok(records.into_iter().find(|rec| fits(rec)))
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
