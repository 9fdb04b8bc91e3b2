//! Carries out a [`Plan`] under the root's lock: installs from repositories, then the switch
//! through [`super::deploy::switch_with`], which creates the users and directories and keeps
//! the renderings only once the pre-switch hook has passed, and after the link moved puts the
//! new generation's config in place (its renderings and its packages' config files) and,
//! where the profile has a service, restarts it. Without a switch, only what is missing or
//! waiting is done. Reports the plan's steps: `--dry-run` and the real run print the same
//! list.

use super::conffile;
use super::deploy::{self, SwitchOp};
use super::ensure;
use super::plan::{Plan, Source, Step};
use super::rendered;
use crate::error::Result;
use crate::lock::LockedFile;
use crate::profile::GenPackage;
use crate::progress::Progress;
use crate::store::install::Request;
use crate::store::Store;
use serde::Serialize;

/// What `apply` reports (`--json`), in both modes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The profile.
    pub profile: String,
    /// Whether anything changed (or, with `--dry-run`, would change).
    pub changed: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// The steps, in order.
    pub changes: Vec<Step>,
    /// The generation current after the run.
    pub generation: Option<u64>,
    /// Config files whose new copy waits beside the operator's as `.berth-dist`.
    pub pending: Vec<String>,
    /// What the run did besides its steps (finishing a switch a killed berth left in
    /// flight), or, with `--dry-run`, would do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    /// The report of a plan (what `--dry-run` prints).
    pub fn of(plan: &Plan, dry_run: bool) -> Report {
        Report {
            profile: plan.profile.clone(),
            changed: plan.changed(),
            dry_run,
            changes: plan.steps.clone(),
            generation: plan.generation,
            pending: vec![],
            notes: vec![],
        }
    }

    /// What `--dry-run` prints: the plan, and a switch a killed berth left in flight,
    /// which the real run finishes first.
    pub fn preview(store: Option<&Store>, plan: &Plan) -> Result<Report> {
        let mut r = Report::of(plan, true);
        if let Some(store) = store {
            if let Some(p) = super::pending::read(store.root(), &plan.profile)? {
                r.notes.push(format!(
                    "an interrupted {} is in flight; the run finishes it first",
                    p.describe()
                ));
            }
        }
        Ok(r)
    }
}

/// Carries out `plan`; `command` is recorded in a new generation.
pub fn run(
    store: &Store,
    lock: &LockedFile,
    plan: Plan,
    command: &str,
    progress: &Progress,
) -> Result<Report> {
    let root = store.root();
    let take_new = plan.take_new;
    let mut report = Report::of(&plan, false);
    let mut packages: Vec<GenPackage> = Vec::new();
    let mut installed = false;
    for s in &plan.packages {
        match s {
            Source::Installed(p) => packages.push(p.clone()),
            Source::Repository { name, version } => {
                packages.push(install(store, lock, name, version, progress)?);
                installed = true;
            }
        }
    }
    if installed {
        crate::profile::shims::ensure_shim_binary(root, lock)?;
    }
    // Users, directories and renderings: before the link moves but only once the
    // pre-switch hook has passed, so a refused switch leaves etc/ and var/ as they were.
    let prepare = || -> Result<()> {
        ensure_users_and_dirs(store, &plan)?;
        if !plan.renders.is_empty() {
            let etc = super::layout::etc_dir(root, &plan.profile)?;
            for r in &plan.renders {
                rendered::keep(&etc, lock, &r.bytes)?;
            }
        }
        Ok(())
    };
    // A switch a killed berth left in flight is finished even when this run has nothing to
    // switch (a later switch would finish it first anyway).
    report
        .notes
        .extend(deploy::finish(store, lock, &plan.profile)?);
    let switches = plan.steps.iter().any(|s| matches!(s, Step::Switch { .. }));
    if switches {
        // The renderings are put in place by the switch (as at every switch to a
        // generation): the plan's config steps happen there.
        let config = rendered::record(
            plan.renders
                .iter()
                .map(|r| (r.path.as_str(), r.bytes.as_slice())),
        );
        let change = deploy::switch_with(
            store,
            lock,
            &plan.profile,
            SwitchOp::Exact {
                packages,
                spec: Some(plan.text.clone()),
                config,
                take_new,
            },
            false,
            command,
            &prepare,
        )?;
        report.generation = Some(change.to);
        for s in &mut report.changes {
            if let Step::Switch { to, .. } = s {
                *to = change.to;
            }
        }
    } else {
        // The generation stays: only what the operator removed or left pending.
        prepare()?;
        let needs_etc = plan.steps.iter().any(|s| matches!(s, Step::Config { .. }));
        if needs_etc {
            let etc = super::layout::etc_dir(root, &plan.profile)?;
            for r in &plan.renders {
                if r.action.writes() {
                    conffile::carry_out(
                        &etc,
                        &r.path,
                        r.action,
                        r.disk.as_deref(),
                        &r.bytes,
                        r.mode,
                    )?;
                    conffile::record_shipped(&etc, &r.path, &r.bytes)?;
                }
            }
        }
    }
    let pending_steps: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::TakePending { path } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    if !pending_steps.is_empty() {
        let etc = super::layout::etc_dir(root, &plan.profile)?;
        for path in pending_steps {
            conffile::take_pending(&etc, path)?;
        }
    }
    report.pending = pending(store, &plan.profile)?;
    Ok(report)
}

/// Config files of `profile` with a `.berth-dist` waiting.
pub fn pending(store: &Store, profile: &str) -> Result<Vec<String>> {
    let Some((_, gen)) = crate::profile::Profiles::new(store.root()).current_generation(profile)?
    else {
        return Ok(vec![]);
    };
    Ok(conffile::status(store, profile, &gen)?
        .into_iter()
        .filter(|s| s.state == "pending")
        .map(|s| s.file)
        .collect())
}

/// Installs `name@version` from the repositories through the same path as
/// `berth install NAME@VERSION`: resolved in the last good indexes, downloaded into the
/// cache and read into the store as it arrives, verified against the index.
fn install(
    store: &Store,
    lock: &LockedFile,
    name: &str,
    version: &str,
    progress: &Progress,
) -> Result<GenPackage> {
    let (_, outcome) = crate::repo::install::by_name(
        store,
        lock,
        &format!("{name}@{version}"),
        Request::default(),
        progress,
    )?;
    let e = outcome.entry();
    Ok(GenPackage {
        name: e.name().to_string(),
        version: e.version().to_string(),
        id: e.id().to_string(),
    })
}

/// Creates the plan's users and directories.
fn ensure_users_and_dirs(store: &Store, plan: &Plan) -> Result<()> {
    for u in &plan.spec.users {
        if plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::User { name } if name == &u.name))
        {
            ensure::create_user(u)?;
        }
    }
    for s in &plan.steps {
        if let Step::Dir(w) = s {
            ensure::ensure_dir(store.root(), &plan.profile, w)?;
        }
    }
    Ok(())
}
