//! Garbage collection and removal: prune generations by rule, mark every entry a
//! generation or pin references (the roots), and sweep the rest through the store's trash,
//! with orphan objects and the leftovers of crashed runs. A dry run computes the very same
//! plan and stops before the first change, so it reports the same list and the same bytes.
//! Composes the store and the profiles; neither knows the other.

use crate::error::{Error, Result};
use crate::lock::LockedFile;
use crate::profile::prune::Rules;
use crate::profile::{refs, Profiles};
use crate::progress::Progress;
use crate::store::measure::TreeBlocks;
use crate::store::{Entry, Store};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// The generations the rules prune, per profile, reported in `report` and returned also
/// as one set (what no longer counts as a root).
#[allow(clippy::type_complexity)]
fn plan_pruning(
    profiles: &Profiles,
    rules: Rules,
    report: &mut Report,
) -> Result<(Vec<(String, Vec<u64>)>, BTreeSet<(String, u64)>)> {
    let mut prune: Vec<(String, Vec<u64>)> = Vec::new();
    let mut gone = BTreeSet::new();
    for p in profiles.list()? {
        let numbers = profiles.prunable(&p, rules)?;
        for n in &numbers {
            let created = profiles.read(&p, *n).map(|g| g.created).unwrap_or_default();
            report.generations.push(PrunedGeneration {
                profile: p.clone(),
                number: *n,
                created,
            });
            gone.insert((p.clone(), *n));
        }
        if !numbers.is_empty() {
            prune.push((p, numbers));
        }
    }
    Ok((prune, gone))
}

/// What to collect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Prune each profile to the current generation and the `keep - 1` before it.
    pub keep: Option<u64>,
    /// Prune generations made longer ago than this (keeping the one live back then).
    pub older_than: Option<Duration>,
    /// Keep unreferenced entries installed less than this long ago, so that a gc running
    /// between `install` and `use` does not take the entry away.
    pub grace: Duration,
    /// Report only.
    pub dry_run: bool,
}

/// A generation that was (or would be) pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrunedGeneration {
    /// Its profile.
    pub profile: String,
    /// Its number.
    pub number: u64,
    /// When it was made (RFC 3339), as recorded.
    pub created: String,
}

/// A store entry that was (or would be) removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedEntry {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Entry id.
    pub id: String,
}

/// An entry gc left because a running `berth run --isolate` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deferred {
    /// `name@version`.
    pub entry: String,
    /// The processes holding it.
    pub pids: Vec<u32>,
}

/// What a gc did, or with `dry_run` would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Generations pruned.
    pub generations: Vec<PrunedGeneration>,
    /// Entries removed.
    pub entries: Vec<RemovedEntry>,
    /// Unreferenced entries kept because they were installed within the grace period.
    pub kept_recent: Vec<String>,
    /// Unreferenced entries kept because running isolated processes use them (with pids).
    pub deferred: Vec<Deferred>,
    /// Leftovers of interrupted runs removed (staging, trash, half-deleted generations).
    pub leftovers: usize,
    /// Pool objects removed.
    pub objects: u64,
    /// Bytes of blocks released (shared objects counted once).
    pub bytes: u64,
}

/// Every entry directory name that a generation or a pin references, with who references
/// it (`profile/N` or `pin`). Generations in `excluding` are left out.
pub fn roots(
    store: &Store,
    profiles: &Profiles,
    excluding: &BTreeSet<(String, u64)>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (entry, by) in refs::users(profiles, excluding)? {
        let v = out.entry(entry).or_default();
        for (p, ns) in by {
            v.extend(ns.iter().map(|n| format!("{p}/{n}")));
        }
    }
    for pin in store.pins()? {
        out.entry(pin).or_default().push("pin".into());
    }
    Ok(out)
}

/// Runs a gc under the root's lock.
pub fn run(
    store: &Store,
    profiles: &Profiles,
    lock: &LockedFile,
    opts: Options,
    progress: &Progress,
) -> Result<Report> {
    let now = SystemTime::now();
    let rules = Rules {
        keep: opts.keep,
        cutoff: opts
            .older_than
            .map(|d| now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)),
    };
    let mut report = Report {
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let (prune, gone) = plan_pruning(profiles, rules, &mut report)?;
    let gen_leftovers = crate::profile::leftovers::find(profiles)?;
    let gen_bytes = measure_generations(profiles, &prune, &gen_leftovers)?;
    let live = roots(store, profiles, &gone)?;
    let held = crate::isolate::hold::held(store.root())?;
    let grace_cut = now
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut doomed: Vec<Entry> = Vec::new();
    for e in store.entries()? {
        if live.contains_key(e.dir_name()) {
            continue;
        }
        if let Some(pids) = held.get(e.dir_name()) {
            report.deferred.push(Deferred {
                entry: e.spec(),
                pids: pids.clone(),
            });
            continue;
        }
        let installed = humantime::parse_rfc3339_weak(&e.origin.installed_at).ok();
        if opts.grace > Duration::ZERO && installed.is_none_or(|t| t > grace_cut) {
            report.kept_recent.push(e.spec());
            continue;
        }
        report.entries.push(RemovedEntry {
            name: e.name().to_string(),
            version: e.version().to_string(),
            id: e.id().to_string(),
        });
        doomed.push(e);
    }
    let plan = store.plan_removal(lock, doomed)?;
    report.bytes = plan.bytes + gen_bytes;
    report.leftovers = plan.leftovers.len() + gen_leftovers.len();
    report.objects = plan.objects.len() as u64;
    if opts.dry_run {
        return Ok(report);
    }
    // Generations first: once they are gone nothing references the entries below.
    for (p, numbers) in &prune {
        profiles.delete_generations(lock, p, numbers)?;
        // Their template renderings go with them (the ones no generation left names).
        crate::apply::rendered::sweep(store.root(), lock, p)?;
    }
    crate::profile::leftovers::clean(profiles, lock)?;
    crate::isolate::hold::clean_stale(store.root(), lock)?;
    let freed = store.execute_removal(lock, &plan, progress)?;
    report.objects = freed.objects;
    Ok(report)
}

/// Bytes freed by deleting these generations and leftovers (links and directories only:
/// the entries they reference are counted by the store's plan).
fn measure_generations(
    profiles: &Profiles,
    prune: &[(String, Vec<u64>)],
    leftovers: &[(String, String)],
) -> Result<u64> {
    let root = profiles.root().dir();
    let mut dirs = Vec::new();
    for (p, numbers) in prune {
        if let Some(d) = profiles.dir(p)? {
            dirs.push((d, numbers.iter().map(u64::to_string).collect::<Vec<_>>()));
        }
    }
    let mut opened = Vec::new();
    for (d, name) in leftovers {
        opened.push((root.open_dir(d)?, name.clone()));
    }
    let mut trees = Vec::new();
    for (d, names) in &dirs {
        for n in names {
            trees.push((d, n.clone()));
        }
    }
    for (d, n) in &opened {
        trees.push((d, n.clone()));
    }
    Ok(TreeBlocks::measure(&trees)?.freed_alone())
}

/// `remove`: deletes named entries, refusing a bare name with several versions installed,
/// an entry some generation uses, and a pinned entry.
pub fn remove(
    store: &Store,
    profiles: &Profiles,
    lock: &LockedFile,
    references: &[String],
) -> Result<crate::store::remove::Freed> {
    let entries = store.entries()?;
    let mut chosen: Vec<Entry> = Vec::new();
    for r in references {
        if !r.contains('@') {
            let same: Vec<_> = entries.iter().filter(|e| e.name() == r).collect();
            if same.len() > 1 {
                return Err(Error::AmbiguousPackage {
                    reference: r.clone(),
                    matches: same.iter().map(|e| e.spec()).collect(),
                });
            }
        }
        let e = crate::store::query::resolve_in(&entries, r)?;
        if !chosen.iter().any(|c| c.id() == e.id()) {
            chosen.push(e.clone());
        }
    }
    let users = refs::users(profiles, &BTreeSet::new())?;
    let pins = store.pins()?;
    let held = crate::isolate::hold::held(store.root())?;
    for e in &chosen {
        if let Some(pids) = held.get(e.dir_name()) {
            let p: Vec<String> = pids.iter().map(u32::to_string).collect();
            return Err(Error::EntryInUse {
                entry: e.spec(),
                users: vec![format!("running isolated process {}", p.join(", "))],
            });
        }
        if let Some(by) = users.get(e.dir_name()) {
            return Err(Error::EntryInUse {
                entry: e.spec(),
                users: refs::describe(by),
            });
        }
        if pins.iter().any(|p| p == e.dir_name()) {
            return Err(Error::EntryPinned { entry: e.spec() });
        }
    }
    store.delete_entries(lock, &chosen)
}

/// Parses a duration: a whole number and one unit of s, m, h, d, w (`30d`, `12h`), or `0`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::BadFlag {
        flag: "duration",
        why: format!(
            "invalid duration `{}`: write a number and a unit: 90s, 15m, 12h, 30d, 2w",
            crate::package::extract::printable(s)
        ),
    };
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_takes_the_documented_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43200));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86400)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "d", "3", "3y", "-3d", "3 d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
