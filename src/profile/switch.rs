//! Changing a profile: `use`, `drop`, `rollback`/`switch`. Each takes the root's lock,
//! re-reads the current generation under it (so concurrent calls never lose an update),
//! builds generation N+1 when the package set changes, refreshes shims and moves the profile
//! link with one `rename`.

use super::build::{self, Member};
use super::depends::{unmet_in_generation, DepStatus};
use super::diff::{diff, Diff};
use super::generation::{link_target, GenPackage, Generation, Profiles};
use super::shims::{self, Refresh, ShimChanges};
use crate::error::{Error, Result};
use crate::lock::LockedFile;
use crate::package::name::check_name;
use crate::root::{DIR_MODE, PROFILES};
use crate::store::{Entry, Store};
use std::collections::BTreeMap;

/// What a profile change did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    /// The profile.
    pub profile: String,
    /// The generation current before (none for a new profile).
    pub from: Option<u64>,
    /// The generation current now.
    pub to: u64,
    /// Whether a new generation was made.
    pub created: bool,
    /// False when nothing changed ("unchanged").
    pub changed: bool,
    /// Shims added and removed.
    pub shims: ShimChanges,
    /// What changed between the two generations (none for a new profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// Dependencies of the profile's .deb packages that nothing satisfies (`use` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet_depends: Vec<DepStatus>,
    /// What else happened around the switch (data snapshot, restart, health check, hooks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What went wrong without undoing the switch (no way to restart, a failed post-switch hook).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Warnings about how the profile's packages behave (a command through an absolute
    /// link, what maintainer scripts did) rather than about the switch: `-q` silences them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<String>,
}

/// The package set a new generation is asked to hold.
struct Wanted {
    packages: Vec<GenPackage>,
    prefer: Vec<String>,
    spec: Option<String>,
    /// The renderings of the profile file's templates (see [`Generation::config`]).
    config: BTreeMap<String, String>,
}

/// Which generation `rollback`/`switch` goes to.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The newest generation older than the current one.
    Previous,
    /// This number.
    Number(u64),
}

/// Called before anything of a switch is written (the new generation, shims, the link):
/// with the generation current before (none for a new profile) and the generation the
/// profile is about to point at. An error stops the switch with nothing changed.
pub type BeforeSwitch<'a> = Box<dyn Fn(Option<u64>, &Generation) -> Result<()> + 'a>;

/// Completes a new package set before its generation is built (what the set's maintainer
/// scripts made, from the layer above): given the profile and the set, the whole set to
/// build, the packages that win path conflicts before the profile's own `prefer`, and
/// warnings for the change.
pub type CompleteSet<'a> =
    Box<dyn Fn(&str, Vec<GenPackage>) -> Result<(Vec<GenPackage>, Vec<String>, Vec<String>)> + 'a>;

/// Profile operations on one root.
pub struct Switcher<'a> {
    profiles: Profiles,
    store: &'a Store,
    lock: &'a LockedFile,
    strict_depends: bool,
    before: Option<BeforeSwitch<'a>>,
    complete: Option<CompleteSet<'a>>,
}

impl<'a> Switcher<'a> {
    /// Operations under `lock`; cleans what a crashed run left behind first.
    pub fn new(store: &'a Store, lock: &'a LockedFile) -> Result<Switcher<'a>> {
        let profiles = Profiles::new(store.root());
        super::leftovers::clean(&profiles, lock)?;
        Ok(Switcher {
            profiles,
            store,
            lock,
            strict_depends: false,
            before: None,
            complete: None,
        })
    }

    /// Has `f` complete every new set (`use`, `drop`, `apply`; not rollback or switch,
    /// whose generations are complete already).
    pub fn complete_set(mut self, f: CompleteSet<'a>) -> Self {
        self.complete = Some(f);
        self
    }

    /// Calls `f` before each switch (see [`BeforeSwitch`]); not for "unchanged".
    pub fn before_switch(mut self, f: BeforeSwitch<'a>) -> Self {
        self.before = Some(f);
        self
    }

    fn call_before(&self, from: Option<u64>, to: &Generation) -> Result<()> {
        match &self.before {
            Some(f) => f(from, to),
            None => Ok(()),
        }
    }

    /// With `on`, `use` refuses a generation whose .deb dependencies are unmet (else it warns).
    pub fn strict_depends(mut self, on: bool) -> Self {
        self.strict_depends = on;
        self
    }

    /// Checks the new package set's dependencies (see [`super::depends`]).
    fn check_depends(
        &self,
        profile: &str,
        packages: &[GenPackage],
        entries: &[Entry],
    ) -> Result<Vec<DepStatus>> {
        let members = packages
            .iter()
            .map(|p| find_entry(entries, p, profile, 0))
            .collect::<Result<Vec<_>>>()?;
        // The host's dpkg database (close to a megabyte on a desktop) is read only when a
        // member declares dependencies: for berth's own packages `use` never touches it.
        let declares = members.iter().any(|e| {
            crate::package::native::NativeOrigin::of(&e.manifest)
                .is_some_and(|n| !n.depends().is_empty())
        });
        if !declares {
            return Ok(vec![]);
        }
        let unmet = unmet_in_generation(&members, &crate::host_dpkg::installed()?);
        if self.strict_depends && !unmet.is_empty() {
            return Err(Error::UnmetDependencies {
                profile: profile.to_string(),
                unmet: unmet.iter().map(DepStatus::line).collect(),
            });
        }
        Ok(unmet)
    }

    /// The current generation of `profile` with its number, if the profile exists.
    fn current(&self, profile: &str) -> Result<Option<(u64, Generation)>> {
        self.profiles.current_generation(profile)
    }

    /// `use`: replaces or adds the packages `refs` name; `prefer` names packages that win
    /// path conflicts (kept in later generations while the package stays). `spec`, when
    /// given, is the profile file the new generation records (else the current one's).
    pub fn use_packages(
        &self,
        profile: &str,
        refs: &[String],
        prefer: &[String],
        spec: Option<String>,
        command: &str,
    ) -> Result<Change> {
        check_name("profile name", profile)?;
        let current = self.current(profile)?;
        let mut packages: Vec<GenPackage> = current
            .as_ref()
            .map(|(_, g)| g.packages.clone())
            .unwrap_or_default();
        let named = refs
            .iter()
            .map(|r| r.split_once('@').map_or(r.as_str(), |(n, _)| n))
            .chain(packages.iter().map(|p| p.name.as_str()));
        let mut entries = self.store.entries_named(named)?;
        if crate::store::query::resolve_all(&entries, refs).is_err() {
            // The error names what is installed: say it with the whole store.
            entries = self.store.entries()?;
        }
        for e in crate::store::query::resolve_all(&entries, refs)? {
            packages.retain(|p| p.name != e.name());
            packages.push(GenPackage {
                name: e.name().to_string(),
                version: e.version().to_string(),
                id: e.id().to_string(),
            });
        }
        let mut pref: Vec<String> = prefer.to_vec();
        for p in current
            .as_ref()
            .map(|(_, g)| g.prefer.as_slice())
            .unwrap_or_default()
        {
            if !pref.contains(p) {
                pref.push(p.clone());
            }
        }
        for p in prefer {
            if !packages.iter().any(|g| &g.name == p) {
                return Err(Error::NotInProfile {
                    profile: profile.to_string(),
                    package: p.clone(),
                    has: packages.iter().map(|g| g.name.clone()).collect(),
                });
            }
        }
        let spec = spec.or_else(|| current.as_ref().and_then(|(_, g)| g.spec.clone()));
        let config = current
            .as_ref()
            .map(|(_, g)| g.config.clone())
            .unwrap_or_default();
        let wanted = Wanted {
            packages,
            prefer: pref,
            spec,
            config,
        };
        self.commit(profile, current, wanted, &entries, command)
    }

    /// `apply`: a generation holding exactly `packages` (each an installed entry) and made
    /// from the profile file `spec` (its text, recorded verbatim) whose templates rendered
    /// to `config`. Unchanged when the current generation already holds all three.
    pub fn set_exact(
        &self,
        profile: &str,
        packages: Vec<GenPackage>,
        spec: Option<String>,
        config: BTreeMap<String, String>,
        command: &str,
    ) -> Result<Change> {
        check_name("profile name", profile)?;
        let entries = self
            .store
            .entries_named(packages.iter().map(|p| p.name.as_str()))?;
        let current = self.current(profile)?;
        let prefer = current
            .as_ref()
            .map(|(_, g)| g.prefer.clone())
            .unwrap_or_default();
        let wanted = Wanted {
            packages,
            prefer,
            spec,
            config,
        };
        self.commit(profile, current, wanted, &entries, command)
    }

    /// `drop`: a new generation without the named packages.
    pub fn drop_packages(&self, profile: &str, names: &[String], command: &str) -> Result<Change> {
        check_name("profile name", profile)?;
        let current = self.current(profile)?;
        let Some((_, gen)) = &current else {
            return Err(self.profiles.unknown(profile));
        };
        let mut packages = gen.packages.clone();
        for n in names {
            // `drop p tools@9` names a version: it must be the one the profile holds.
            let (name, want) = match n.split_once('@') {
                Some((n, v)) => (n, Some(v)),
                None => (n.as_str(), None),
            };
            let held = packages.iter().find(|p| p.name == name);
            let matches = held.is_some_and(|p| {
                want.is_none_or(|v| {
                    p.version == v
                        || v.strip_prefix("id:")
                            .is_some_and(|i| !i.is_empty() && p.id.starts_with(i))
                })
            });
            if !matches {
                return Err(Error::NotInProfile {
                    profile: profile.to_string(),
                    package: n.clone(),
                    has: gen
                        .packages
                        .iter()
                        .map(|p| format!("{}@{}", p.name, p.version))
                        .collect(),
                });
            }
            packages.retain(|p| p.name != name);
        }
        let prefer = gen.prefer.clone();
        let spec = gen.spec.clone();
        let config = gen.config.clone();
        let entries = self
            .store
            .entries_named(packages.iter().map(|p| p.name.as_str()))?;
        // Dropping a package can break what another member depends on: said like `use`.
        let wanted = Wanted {
            packages,
            prefer,
            spec,
            config,
        };
        self.commit(profile, current, wanted, &entries, command)
    }

    /// `rollback` / `switch`: points the profile at an existing generation; never deletes.
    pub fn switch(&self, profile: &str, target: Target) -> Result<Change> {
        check_name("profile name", profile)?;
        let Some(from) = self.profiles.current(profile)? else {
            return Err(self.profiles.unknown(profile));
        };
        let numbers = self.profiles.numbers(profile)?;
        let to = match target {
            Target::Number(n) if numbers.contains(&n) => n,
            Target::Number(n) => {
                return Err(Error::NoSuchGeneration {
                    profile: profile.to_string(),
                    number: n,
                    existing: numbers,
                })
            }
            Target::Previous => match numbers.iter().rev().find(|&&n| n < from) {
                Some(&n) => n,
                None => {
                    return Err(Error::NoEarlierGeneration {
                        profile: profile.to_string(),
                        current: from,
                        what: "to roll back to",
                    })
                }
            },
        };
        // Reading it proves the generation is complete and well formed before we switch.
        let gen = self.profiles.read(profile, to)?;
        let entries = self
            .store
            .entries_named(gen.packages.iter().map(|p| p.name.as_str()))?;
        for p in &gen.packages {
            find_entry(&entries, p, profile, to)?;
        }
        if to == from {
            return self.unchanged(profile, from);
        }
        self.call_before(Some(from), &gen)?;
        let d = diff(&self.profiles.read(profile, from)?, &gen);
        self.activate(profile, Some(from), to, false, Some(d))
    }

    fn commit(
        &self,
        profile: &str,
        current: Option<(u64, Generation)>,
        wanted: Wanted,
        entries: &[Entry],
        command: &str,
    ) -> Result<Change> {
        let mut wanted = wanted;
        let mut completed: Vec<Entry> = Vec::new();
        let mut made_warnings = Vec::new();
        if let Some(f) = &self.complete {
            let (packages, first, warnings) = f(profile, std::mem::take(&mut wanted.packages))?;
            let mut prefer = first;
            prefer.extend(
                wanted
                    .prefer
                    .iter()
                    .filter(|p| !prefer.contains(p))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            wanted.prefer = prefer;
            wanted.packages = packages;
            completed = self
                .store
                .entries_named(wanted.packages.iter().map(|p| p.name.as_str()))?;
            made_warnings = warnings;
        }
        let entries = if self.complete.is_some() {
            &completed[..]
        } else {
            entries
        };
        // Checked first, so a strict refusal changes nothing; the findings ride on the
        // change, "unchanged" included.
        let unmet = self.check_depends(profile, &wanted.packages, entries)?;
        let Wanted {
            mut packages,
            mut prefer,
            spec,
            config,
        } = wanted;
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        prefer.retain(|p| packages.iter().any(|g| &g.name == p));
        if let Some((n, g)) = &current {
            if g.packages == packages && g.prefer == prefer && g.spec == spec && g.config == config
            {
                let mut change = self.unchanged(profile, *n)?;
                change.unmet_depends = unmet;
                change.advisories.extend(made_warnings);
                return Ok(change);
            }
        }
        let members = packages
            .iter()
            .map(|p| {
                let mut m = Member::new(self.store, find_entry(entries, p, profile, 0)?)?;
                m.package = p.clone();
                Ok(m)
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = build::plan(&members, &prefer)?;
        let number = self.profiles.numbers(profile)?.last().copied().unwrap_or(0) + 1;
        let gen = Generation {
            number,
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            command: command.to_string(),
            packages,
            prefer,
            spec,
            config,
        };
        self.call_before(current.as_ref().map(|(n, _)| *n), &gen)?;
        build::write(&self.profiles, self.lock, profile, &gen, &members, &plan)?;
        let d = current.as_ref().map(|(_, g)| diff(g, &gen));
        let mut change = self.activate(profile, current.map(|(n, _)| n), number, true, d)?;
        change.unmet_depends = unmet;
        change
            .advisories
            .extend(plan.host_links().iter().map(build::HostLink::warning));
        change.advisories.extend(made_warnings);
        Ok(change)
    }

    /// Shims first (add only), then the one rename that switches, then drop stale shims: at
    /// every instant each command some profile provides has its shim.
    fn activate(
        &self,
        profile: &str,
        from: Option<u64>,
        to: u64,
        created: bool,
        diff: Option<Diff>,
    ) -> Result<Change> {
        let mut changes = shims::refresh(
            &self.profiles,
            self.lock,
            Refresh::Before {
                profile,
                number: to,
            },
        )?;
        let links = self.profiles.root().dir().ensure_dir(PROFILES, DIR_MODE)?;
        links.replace_symlink(link_target(profile, to), profile)?;
        let after = shims::refresh_links(&self.profiles, Refresh::Exact)?;
        changes.added.extend(after.added);
        changes.removed.extend(after.removed);
        Ok(Change {
            profile: profile.to_string(),
            from,
            to,
            created,
            changed: true,
            shims: changes,
            diff,
            unmet_depends: vec![],
            notes: vec![],
            warnings: vec![],
            advisories: vec![],
        })
    }

    /// Nothing to switch; shims are still made exact, which heals a run killed between
    /// adding shims and switching.
    fn unchanged(&self, profile: &str, n: u64) -> Result<Change> {
        let shims = shims::refresh(&self.profiles, self.lock, Refresh::Exact)?;
        Ok(Change {
            profile: profile.to_string(),
            from: Some(n),
            to: n,
            created: false,
            changed: false,
            shims,
            diff: None,
            unmet_depends: vec![],
            notes: vec![],
            warnings: vec![],
            advisories: vec![],
        })
    }
}

/// The store entry a generation's package names (invariant 3 says it exists).
fn find_entry<'e>(
    entries: &'e [Entry],
    p: &GenPackage,
    profile: &str,
    n: u64,
) -> Result<&'e Entry> {
    let dir = p.entry_dir();
    entries
        .iter()
        .find(|e| e.dir_name() == dir)
        .ok_or_else(|| Error::Corrupt {
            entry: dir.clone(),
            problem: if n == 0 {
                format!("missing from the store, but profile {profile} uses it")
            } else {
                format!("missing from the store, but generation {profile}/{n} uses it")
            },
        })
}

#[cfg(test)]
mod tests {
    use crate::package::name::check_name;

    #[test]
    fn shim_and_berth_agree_on_profile_names() {
        let long = "a".repeat(129);
        for n in [
            "", "MyApp", "a/b", "-a", "a b", "ä", "../x", ".a", "site-a", "0ad", "a+b_c.d", &long,
        ] {
            assert_eq!(
                check_name("profile name", n).is_ok(),
                berth_shim::valid_name(n),
                "{n}"
            );
        }
    }
}
