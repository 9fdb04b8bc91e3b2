//! Which generations use which store entries: the one walk over every generation, used by
//! `remove` (refuse entries in use) and `gc` (the roots).

use super::generation::Profiles;
use crate::error::Result;
use std::collections::{BTreeMap, BTreeSet};

/// For every store entry directory some generation holds: `(profile, generation numbers)`.
/// Generations in `excluding` are left out (those a gc is about to prune). An unreadable
/// generation is an error: guessing would risk deleting what it references.
pub fn users(
    profiles: &Profiles,
    excluding: &BTreeSet<(String, u64)>,
) -> Result<BTreeMap<String, BTreeMap<String, Vec<u64>>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    for p in profiles.list()? {
        for n in profiles.numbers(&p)? {
            if excluding.contains(&(p.clone(), n)) {
                continue;
            }
            for pkg in profiles.read(&p, n)?.packages {
                out.entry(pkg.entry_dir())
                    .or_default()
                    .entry(p.clone())
                    .or_default()
                    .push(n);
            }
        }
    }
    Ok(out)
}

/// "profile site-a (generations 1, 2)" for each profile in `by_profile`.
pub fn describe(by_profile: &BTreeMap<String, Vec<u64>>) -> Vec<String> {
    by_profile
        .iter()
        .map(|(p, ns)| {
            let list: Vec<String> = ns.iter().map(u64::to_string).collect();
            let word = if ns.len() == 1 {
                "generation"
            } else {
                "generations"
            };
            format!("profile {p} ({word} {})", list.join(", "))
        })
        .collect()
}
