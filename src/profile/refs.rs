//! Which generations use which store entries: `remove` refuses entries still in use.

use super::generation::Profiles;
use crate::error::Result;
use std::collections::BTreeMap;

/// For every store entry directory some generation holds: `(profile, generation numbers)`.
pub fn users(profiles: &Profiles) -> Result<BTreeMap<String, BTreeMap<String, Vec<u64>>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    for p in profiles.list()? {
        for n in profiles.numbers(&p)? {
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

/// "site-a (generations 1, 2)" for each profile in `by_profile`.
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
