//! Pruning generations: which ones a keep/age rule lets go, the per-profile keep policy
//! (`generations/<p>/policy.toml`), and deleting generations safely. A generation is
//! renamed to a temporary name before it is removed, so a crash never leaves a
//! half-deleted one under its number; the current one is never deleted, nor any newer than
//! it (a rolled-back profile keeps its future).

use super::Profiles;
use crate::error::{Error, Result};
use crate::fsutil::temp_name;
use crate::lock::LockedFile;
use crate::root::FILE_MODE;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// A profile's keep policy file, in `generations/<profile>/`.
pub const POLICY: &str = "policy.toml";

/// A profile's standing keep policy (`berth keep <profile> N`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Keep this many generations up to and including the current one; overrides `gc --keep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
}

/// The rules of one pruning pass. A generation goes only when every given rule lets it go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// Keep the current generation and the `keep - 1` before it.
    pub keep: Option<u64>,
    /// Let go of generations made before this instant, except the one that was live then.
    pub cutoff: Option<SystemTime>,
}

/// Which generations the rules let go. `gens` holds (number, creation time) of every
/// generation; the current one and every newer one always stay. Without a current
/// generation nothing goes. A generation whose creation time is unknown never goes by age.
pub fn select(gens: &[(u64, Option<SystemTime>)], current: Option<u64>, rules: Rules) -> Vec<u64> {
    let Some(current) = current else {
        return vec![];
    };
    if rules.keep.is_none() && rules.cutoff.is_none() {
        return vec![];
    }
    let mut past: Vec<(u64, Option<SystemTime>)> =
        gens.iter().copied().filter(|(n, _)| *n < current).collect();
    past.sort_by_key(|(n, _)| *n);
    // The generation live at the cutoff: the newest one made before it (possibly the
    // current one, in which case every older one may go).
    let live_at_cutoff = rules.cutoff.and_then(|cut| {
        gens.iter()
            .filter(|(n, t)| *n <= current && matches!(t, Some(t) if *t < cut))
            .map(|(n, _)| *n)
            .max()
    });
    let mut out = Vec::new();
    for (i, (n, created)) in past.iter().enumerate() {
        // Generations from this one up to the current: past.len() - i + 1.
        let by_keep = match rules.keep {
            None => true,
            Some(k) => (past.len() - i + 1) as u64 > k.max(1),
        };
        let by_age = match rules.cutoff {
            None => true,
            Some(cut) => matches!(created, Some(t) if *t < cut) && Some(*n) != live_at_cutoff,
        };
        if by_keep && by_age {
            out.push(*n);
        }
    }
    out
}

/// Parses `A..B` (inclusive) or `N` into an inclusive range.
pub fn parse_range(s: &str) -> Result<(u64, u64)> {
    let bad = || Error::BadFlag {
        flag: "--delete",
        why: format!(
            "invalid generation range `{}`: write N or A..B, e.g. 3..7",
            crate::package::extract::printable(s)
        ),
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// What deleting a range did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RangeOutcome {
    /// Generations deleted.
    pub deleted: Vec<u64>,
    /// Generations of the range that were kept: the current one and newer ones.
    pub kept: Vec<u64>,
}

/// Deletes the generations of `profile` in the inclusive range `spec` (`A..B` or `N`),
/// except the current one and newer ones, which are reported as kept. For
/// `berth generations <profile> --delete A..B`.
pub fn delete_range(
    lock: &LockedFile,
    profiles: &Profiles,
    profile: &str,
    spec: &str,
) -> Result<RangeOutcome> {
    let (a, b) = parse_range(spec)?;
    let numbers = profiles.numbers(profile)?;
    if numbers.is_empty() {
        return Err(profiles.unknown(profile));
    }
    let current = profiles.current(profile)?;
    let mut out = RangeOutcome::default();
    for n in numbers.into_iter().filter(|n| (a..=b).contains(n)) {
        if current.is_some_and(|c| n < c) {
            out.deleted.push(n);
        } else {
            out.kept.push(n);
        }
    }
    profiles.delete_generations(lock, profile, &out.deleted)?;
    Ok(out)
}

impl Profiles {
    /// The profile's keep policy (the default when none was set).
    pub fn policy(&self, profile: &str) -> Result<Policy> {
        let Some(dir) = self.dir(profile)? else {
            return Ok(Policy::default());
        };
        match dir.read_text(POLICY)? {
            Some(text) => toml::from_str(&text).map_err(|e| Error::BadState {
                path: dir.join(POLICY),
                what: "keep policy",
                detail: format!("{e} (set it again with `berth keep {profile} N`)"),
            }),
            None => Ok(Policy::default()),
        }
    }

    /// Stores the profile's keep policy durably (`None` removes it).
    pub fn set_policy(&self, _lock: &LockedFile, profile: &str, keep: Option<u64>) -> Result<()> {
        let dir = match self.dir(profile)? {
            Some(d) if !self.numbers(profile)?.is_empty() => d,
            _ => return Err(self.unknown(profile)),
        };
        match keep {
            Some(k) => {
                let text =
                    toml::to_string(&Policy { keep: Some(k) }).map_err(|e| Error::Internal {
                        what: "keep policy",
                        detail: e.to_string(),
                    })?;
                dir.write_atomic(POLICY, text.as_bytes(), FILE_MODE)
            }
            None => {
                if dir.remove_file(POLICY)? {
                    dir.fsync()?;
                }
                Ok(())
            }
        }
    }

    /// Creation times of every generation of a profile (None when unreadable).
    pub fn created_times(&self, profile: &str) -> Result<Vec<(u64, Option<SystemTime>)>> {
        let mut out = Vec::new();
        for n in self.numbers(profile)? {
            let t = self
                .read(profile, n)
                .ok()
                .and_then(|g| humantime::parse_rfc3339_weak(&g.created).ok());
            out.push((n, t));
        }
        Ok(out)
    }

    /// The generations a gc pass would prune from `profile`: the profile's keep policy
    /// overrides `rules.keep`.
    pub fn prunable(&self, profile: &str, rules: Rules) -> Result<Vec<u64>> {
        let mut rules = rules;
        if let Some(k) = self.policy(profile)?.keep {
            rules.keep = Some(k);
        }
        let gens = self.created_times(profile)?;
        Ok(select(&gens, self.current(profile)?, rules))
    }

    /// Deletes generations of a profile: each is renamed to a temporary name (durable),
    /// then removed. Refuses the current generation and newer ones.
    pub fn delete_generations(
        &self,
        _lock: &LockedFile,
        profile: &str,
        numbers: &[u64],
    ) -> Result<()> {
        if numbers.is_empty() {
            return Ok(());
        }
        let current = self.current(profile)?;
        if let Some(bad) = numbers.iter().find(|n| current.is_none_or(|c| **n >= c)) {
            return Err(Error::DeleteCurrent {
                profile: profile.to_string(),
                number: *bad,
            });
        }
        let Some(dir) = self.dir(profile)? else {
            return Ok(());
        };
        let mut doomed = Vec::new();
        for n in numbers {
            let name = n.to_string();
            if dir.stat(&name)?.is_none() {
                continue;
            }
            let to = temp_name(&name);
            dir.rename(&name, &dir, &to)?;
            doomed.push(to);
        }
        dir.fsync()?;
        for d in doomed {
            crate::fsutil::remove_tree(&dir, &d)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(days_ago: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000 - days_ago * 86400))
    }
    fn cut(days_ago: u64) -> Option<SystemTime> {
        t(days_ago)
    }

    #[test]
    fn keep_counts_back_from_the_current_generation_and_keeps_the_future() {
        let gens: Vec<_> = (1..=10).map(|n| (n, t(20 - n))).collect();
        let r = Rules {
            keep: Some(3),
            cutoff: None,
        };
        assert_eq!(select(&gens, Some(10), r), vec![1, 2, 3, 4, 5, 6, 7]);
        // Rolled back to 6: 7..10 are the future and stay.
        assert_eq!(select(&gens, Some(6), r), vec![1, 2, 3]);
        let zero = Rules {
            keep: Some(0),
            cutoff: None,
        };
        assert_eq!(select(&gens, Some(2), zero), vec![1]);
    }

    #[test]
    fn older_than_keeps_the_generation_live_at_the_cutoff() {
        // Generation n was made n days after day 0; now is day 10.
        let gens: Vec<_> = (1..=10).map(|n| (n, t(10 - n))).collect();
        let r = Rules {
            keep: None,
            cutoff: cut(4), // day 6 (plus a hair): 1..=5 made before, 5 was live then
        };
        assert_eq!(select(&gens, Some(10), r), vec![1, 2, 3, 4]);
        // Current is the one live at the cutoff: everything older goes.
        assert_eq!(select(&gens, Some(5), r), vec![1, 2, 3, 4]);
        assert_eq!(select(&gens, Some(3), r), vec![1, 2]);
    }

    #[test]
    fn both_rules_must_agree_and_no_current_means_nothing_goes() {
        let gens: Vec<_> = (1..=10).map(|n| (n, t(10 - n))).collect();
        let r = Rules {
            keep: Some(8),
            cutoff: cut(4),
        };
        assert_eq!(select(&gens, Some(10), r), vec![1, 2]);
        assert!(select(&gens, None, r).is_empty());
        assert!(select(&gens, Some(10), Rules::default()).is_empty());
        let unknown = vec![(1, None), (2, t(1))];
        assert!(select(
            &unknown,
            Some(2),
            Rules {
                keep: None,
                cutoff: cut(0)
            }
        )
        .is_empty());
    }

    #[test]
    fn parse_range_takes_single_numbers_and_inclusive_ranges() {
        assert_eq!(parse_range("3..7").unwrap(), (3, 7));
        assert_eq!(parse_range("4").unwrap(), (4, 4));
        assert!(parse_range("7..3").is_err());
        assert!(parse_range("a..b").is_err());
    }
}
