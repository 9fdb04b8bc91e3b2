//! What `berth apply` will do, computed before anything changes: the versions the
//! constraints pick (installed entries first, repositories where configured), the
//! templates' renderings against the config on disk, the users and directories missing
//! or wrong, and whether the profile switches. `--dry-run` prints this plan; the real run
//! computes it under the root's lock and carries out exactly its steps.

use super::conffile::{self, Action};
use super::constraint::Constraint;
use super::ensure::{self, DirWant};
use super::spec::ProfileSpec;
use super::Error;
use crate::error::Result;
use crate::fsutil::Dir;
use crate::package::version::compare;
use crate::profile::{GenPackage, Generation, Profiles};
use crate::root::Root;
use crate::store::{Entry, Store};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

pub use super::spec::MAX_PROFILE_FILE;

/// One step of a plan, as `--json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// Install a package from a repository.
    Install {
        package: String,
        version: String,
        repository: String,
    },
    /// Create a system user.
    User { name: String },
    /// Create or correct a directory in `<root>/var/<profile>/`.
    Dir(DirWant),
    /// Write a rendered template in `<root>/etc/<profile>/`.
    Config { path: String, action: Action },
    /// `--conf new`: take a waiting `.berth-dist` (saving the operator's as `.berth-old`).
    TakePending { path: String },
    /// Make a new generation from the packages and the profile file.
    Switch {
        from: Option<u64>,
        to: u64,
        packages: Vec<String>,
        profile_file_changed: bool,
        /// A template renders differently (the new generation records its renderings).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        config_changed: bool,
    },
    /// The profile's service restarts with the switch.
    Restart { profile: String },
}

/// Where a wanted package comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An installed entry.
    Installed(GenPackage),
    /// A repository's package, installed by the run.
    Repository { name: String, version: String },
}

/// A rendered template.
#[derive(Debug, Clone)]
pub struct Render {
    /// Relative to `<root>/etc/<profile>/`.
    pub path: String,
    /// The rendering.
    pub bytes: Vec<u8>,
    /// Its mode.
    pub mode: u32,
    /// What happens to the file.
    pub action: Action,
    /// The file on disk when planned.
    pub disk: Option<Vec<u8>>,
}

/// The plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The profile.
    pub profile: String,
    /// The profile file's text (recorded in the new generation).
    pub text: String,
    /// The parsed profile file.
    pub spec: ProfileSpec,
    /// The packages of the new generation.
    pub packages: Vec<Source>,
    /// Every template's rendering (also the unchanged ones).
    pub renders: Vec<Render>,
    /// The steps, in the order they are carried out.
    pub steps: Vec<Step>,
    /// The generation current after the run.
    pub generation: Option<u64>,
    /// `--conf new`.
    pub take_new: bool,
}

impl Plan {
    /// Whether the run changes anything.
    pub fn changed(&self) -> bool {
        !self.steps.is_empty()
    }
}

/// Reads a profile file (a regular file, capped) and parses it.
pub fn load(path: &Path) -> Result<(String, ProfileSpec)> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(crate::Error::InputNotFound {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(crate::Error::io("stat", path, e)),
    };
    if !meta.is_file() {
        return Err(crate::Error::InputNotRegular {
            path: path.to_path_buf(),
            kind: if meta.is_dir() {
                "a directory"
            } else {
                "not a file"
            },
        });
    }
    let f = std::fs::File::open(path).map_err(|e| crate::Error::io("open", path, e))?;
    let mut bytes = Vec::new();
    f.take(MAX_PROFILE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| crate::Error::io("read", path, e))?;
    if bytes.len() as u64 > MAX_PROFILE_FILE {
        return Err(crate::Error::FileTooLarge {
            path: path.to_path_buf(),
            limit: MAX_PROFILE_FILE,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Value {
        path: path.to_path_buf(),
        message: "not valid UTF-8".into(),
    })?;
    let spec = ProfileSpec::parse(&text, path)?;
    spec.refuse_unsafe_modes(path)?;
    Ok((text, spec))
}

/// What the plan reads of the root (none when there is no root yet).
pub struct Ground<'a> {
    /// The root's store.
    pub store: Option<&'a Store>,
    /// `--conf new`.
    pub take_new: bool,
}

/// Computes the plan for the profile file at `path` (already loaded as `text`/`spec`).
pub fn plan(ground: &Ground, path: &Path, text: String, spec: ProfileSpec) -> Result<Plan> {
    let root = ground.store.map(Store::root);
    let profile = spec.profile.clone();
    let mut steps = Vec::new();
    let packages = plan_versions(ground, path, &spec, &mut steps)?;
    let new_users = plan_users(&spec, &mut steps)?;
    plan_dirs(root, &spec, &new_users, &mut steps)?;
    let renders = plan_templates(ground, path, &spec, &mut steps)?;
    let config = super::rendered::record(
        renders
            .iter()
            .map(|r| (r.path.as_str(), r.bytes.as_slice())),
    );
    let wanted = Wanted {
        packages: &packages,
        text: &text,
        config: &config,
    };
    let generation = plan_switch(root, &spec, &wanted, &mut steps)?;
    Ok(Plan {
        profile,
        text,
        spec,
        packages,
        renders,
        steps,
        generation,
        take_new: ground.take_new,
    })
}

/// Versions: where each package comes from (installed, or a repository to install from).
fn plan_versions(
    ground: &Ground,
    path: &Path,
    spec: &ProfileSpec,
    steps: &mut Vec<Step>,
) -> Result<Vec<Source>> {
    let entries = match ground.store {
        Some(s) => s.entries()?,
        None => vec![],
    };
    let offers = match ground.store {
        Some(s) => repo_offers(s.root())?,
        None => vec![],
    };
    let mut packages = Vec::new();
    for (name, c) in &spec.packages {
        let constraint = Constraint::parse(c).map_err(|why| Error::BadConstraint {
            path: path.to_path_buf(),
            package: name.clone(),
            constraint: c.clone(),
            why,
        })?;
        let (source, repo) = choose(name, c, &constraint, &entries, &offers)?;
        if let (Source::Repository { name, version }, Some(repository)) = (&source, repo) {
            steps.push(Step::Install {
                package: name.clone(),
                version: version.clone(),
                repository,
            });
        }
        packages.push(source);
    }
    Ok(packages)
}

/// Users: the ones to create (only root can); returns their names.
fn plan_users(spec: &ProfileSpec, steps: &mut Vec<Step>) -> Result<Vec<String>> {
    let mut new_users = Vec::new();
    for u in &spec.users {
        if !ensure::user_exists(&u.name) {
            if !nix::unistd::geteuid().is_root() {
                return Err(Error::UserMissing {
                    user: u.name.clone(),
                }
                .into());
            }
            new_users.push(u.name.clone());
            steps.push(Step::User {
                name: u.name.clone(),
            });
        }
    }
    Ok(new_users)
}

/// Directories: the ones to create or fix (owner, group, mode).
fn plan_dirs(
    root: Option<&Root>,
    spec: &ProfileSpec,
    new_users: &[String],
    steps: &mut Vec<Step>,
) -> Result<()> {
    for d in &spec.dirs {
        if let Some(w) = ensure::plan_dir(root, &spec.profile, d, new_users)? {
            steps.push(Step::Dir(w));
        }
    }
    Ok(())
}

/// Templates: each rendered, and what dpkg's rules do with it; with `--conf new`, the
/// package config files whose new copy waits as `.berth-dist` too.
fn plan_templates(
    ground: &Ground,
    path: &Path,
    spec: &ProfileSpec,
    steps: &mut Vec<Step>,
) -> Result<Vec<Render>> {
    let profile = &spec.profile;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tdir = Dir::open_path(base).map_err(|e| crate::Error::io("open", base, e))?;
    let etc = match ground.store {
        Some(s) => super::layout::etc_dir_opt(s.root(), profile)?,
        None => None,
    };
    let mut renders = Vec::new();
    for (rel, c) in &spec.config {
        let source = super::template::load(&tdir, &c.template)?;
        let bytes = super::template::render(&base.join(&c.template), &source, &c.vars)?;
        let mode = c
            .mode
            .as_deref()
            .and_then(|m| super::spec::mode(m).ok())
            .unwrap_or(0o644);
        let (old, disk, pending) = match &etc {
            Some(etc) => (
                conffile::shipped_template(etc, rel)?,
                conffile::read_file(etc, rel)?,
                etc.stat(&format!("{rel}{}", conffile::DIST))?.is_some(),
            ),
            None => (None, None, false),
        };
        let action = conffile::decide(old.as_deref(), disk.as_deref(), &bytes, ground.take_new);
        if action.writes() {
            steps.push(Step::Config {
                path: rel.clone(),
                action,
            });
        } else if pending && ground.take_new {
            steps.push(Step::TakePending { path: rel.clone() });
        }
        renders.push(Render {
            path: rel.clone(),
            bytes,
            mode,
            action,
            disk,
        });
    }
    if ground.take_new {
        if let (Some(store), Some(etc)) = (ground.store, &etc) {
            for p in pending_package_files(store, profile, etc)? {
                steps.push(Step::TakePending { path: p });
            }
        }
    }
    Ok(renders)
}

/// What the new generation would hold.
struct Wanted<'a> {
    packages: &'a [Source],
    text: &'a str,
    config: &'a BTreeMap<String, String>,
}

/// The switch (and the service restart after it) when the set or the file changed;
/// returns the generation the profile ends at.
fn plan_switch(
    root: Option<&Root>,
    spec: &ProfileSpec,
    wanted: &Wanted,
    steps: &mut Vec<Step>,
) -> Result<Option<u64>> {
    let profile = &spec.profile;
    let current = match root {
        Some(r) => Profiles::new(r).current_generation(profile)?,
        None => None,
    };
    let next = match root {
        Some(r) => {
            Profiles::new(r)
                .numbers(profile)?
                .last()
                .copied()
                .unwrap_or(0)
                + 1
        }
        None => 1,
    };
    let (switch, generation) = switch_step(current.as_ref(), wanted, next);
    if let Some(s) = switch {
        steps.push(s);
        if spec.service.is_some() {
            steps.push(Step::Restart {
                profile: profile.clone(),
            });
        }
    }
    Ok(generation)
}

/// Config files of the profile's packages whose new copy waits as `.berth-dist`
/// (`package/path`).
fn pending_package_files(store: &Store, profile: &str, etc: &Dir) -> Result<Vec<String>> {
    let Some((_, gen)) = Profiles::new(store.root()).current_generation(profile)? else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for s in conffile::status(store, profile, &gen)? {
        if s.state == "pending"
            && s.from_package
            && etc
                .stat(&format!("{}{}", s.file, conffile::DIST))?
                .is_some()
        {
            out.push(s.file);
        }
    }
    Ok(out)
}

/// Every package the configured repositories' last good indexes offer, with the
/// repository's name.
fn repo_offers(root: &Root) -> Result<Vec<(String, String, String)>> {
    let paths = crate::repo::Paths::new(root);
    let mut out = Vec::new();
    for (repo, known) in crate::repo::resolve::known(&paths)? {
        let Some(k) = known else { continue };
        for p in k.index.packages {
            out.push((p.name, p.version, repo.name.clone()));
        }
    }
    Ok(out)
}

/// The newest version satisfying the constraint; an installed entry wins a tie.
fn choose(
    name: &str,
    text: &str,
    c: &Constraint,
    entries: &[Entry],
    offers: &[(String, String, String)],
) -> Result<(Source, Option<String>)> {
    let mut best: Option<(String, Source, Option<String>)> = None;
    let mut seen = Vec::new();
    let better = |v: &str, best: &Option<(String, Source, Option<String>)>| match best {
        None => true,
        Some((b, _, _)) => compare(v, b) == Ordering::Greater,
    };
    for e in entries.iter().filter(|e| e.name() == name) {
        seen.push(e.version().to_string());
        if c.matches(e.version()) && better(e.version(), &best) {
            best = Some((
                e.version().to_string(),
                Source::Installed(GenPackage {
                    name: e.name().to_string(),
                    version: e.version().to_string(),
                    id: e.id().to_string(),
                }),
                None,
            ));
        }
    }
    for (n, v, repo) in offers.iter().filter(|(n, _, _)| n == name) {
        seen.push(v.clone());
        if c.matches(v) && better(v, &best) {
            best = Some((
                v.clone(),
                Source::Repository {
                    name: n.clone(),
                    version: v.clone(),
                },
                Some(repo.clone()),
            ));
        }
    }
    match best {
        Some((_, s, r)) => Ok((s, r)),
        None => {
            seen.sort_by(|a, b| compare(a, b));
            seen.dedup();
            Err(Error::NoVersion {
                package: name.to_string(),
                constraint: text.to_string(),
                available: seen,
            }
            .into())
        }
    }
}

/// The switch step when the new generation differs from the current one, and the
/// generation current after the run.
fn switch_step(
    current: Option<&(u64, Generation)>,
    want: &Wanted,
    next: u64,
) -> (Option<Step>, Option<u64>) {
    let text = want.text;
    let wanted: Vec<(String, String, Option<String>)> = want
        .packages
        .iter()
        .map(|s| match s {
            Source::Installed(p) => (p.name.clone(), p.version.clone(), Some(p.id.clone())),
            Source::Repository { name, version } => (name.clone(), version.clone(), None),
        })
        .collect();
    let old: &[GenPackage] = current.map(|(_, g)| g.packages.as_slice()).unwrap_or(&[]);
    let mut lines = Vec::new();
    for (n, v, _) in &wanted {
        match old.iter().find(|o| &o.name == n) {
            Some(o) if &o.version == v => {}
            Some(o) => lines.push(format!("{n} {} -> {v}", o.version)),
            None => lines.push(format!("{n} {v} (new)")),
        }
    }
    for o in old {
        if !wanted.iter().any(|(n, _, _)| n == &o.name) {
            lines.push(format!("{} {} (removed)", o.name, o.version));
        }
    }
    let same_set = wanted.len() == old.len()
        && wanted.iter().all(|(n, _, id)| {
            old.iter()
                .any(|o| &o.name == n && id.as_deref() == Some(o.id.as_str()))
        });
    let spec_changed = current.is_none_or(|(_, g)| g.spec.as_deref() != Some(text));
    let prefer_changed = current.is_some_and(|(_, g)| {
        g.prefer
            .iter()
            .any(|p| !wanted.iter().any(|(n, _, _)| n == p))
    });
    let config_changed = current.is_none_or(|(_, g)| &g.config != want.config);
    if current.is_some() && same_set && !spec_changed && !prefer_changed && !config_changed {
        return (None, current.map(|(n, _)| *n));
    }
    (
        Some(Step::Switch {
            from: current.map(|(n, _)| *n),
            to: next,
            packages: lines,
            profile_file_changed: spec_changed,
            config_changed,
        }),
        Some(next),
    )
}
