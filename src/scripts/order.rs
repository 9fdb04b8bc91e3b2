//! The order scripts run in: a package after those of the set it Pre-Depends or Depends
//! on (as dpkg configures them), otherwise by name; a cycle is broken by name.

use crate::package::native::NativeOrigin;
use crate::store::Entry;

/// Indexes of `entries` in dependency order.
pub fn order(entries: &[&Entry]) -> Vec<usize> {
    let deps: Vec<Vec<usize>> = entries
        .iter()
        .map(|e| {
            let Some(n) = NativeOrigin::of(&e.manifest) else {
                return vec![];
            };
            let mut names: Vec<String> = Vec::new();
            for (_, parsed) in n.depends() {
                for alts in parsed.unwrap_or_default() {
                    names.extend(alts.into_iter().map(|r| r.name));
                }
            }
            entries
                .iter()
                .enumerate()
                .filter(|(_, o)| names.iter().any(|n| n == o.name()) && o.name() != e.name())
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let mut by_name: Vec<usize> = (0..entries.len()).collect();
    by_name.sort_by(|a, b| entries[*a].name().cmp(entries[*b].name()));
    let mut out: Vec<usize> = Vec::new();
    while out.len() < entries.len() {
        let ready = by_name
            .iter()
            .copied()
            .filter(|i| !out.contains(i))
            .find(|i| deps[*i].iter().all(|d| out.contains(d)));
        // A cycle: the first by name of those left goes first.
        let next = ready.or_else(|| by_name.iter().copied().find(|i| !out.contains(i)));
        match next {
            Some(i) => out.push(i),
            None => break,
        }
    }
    out
}
