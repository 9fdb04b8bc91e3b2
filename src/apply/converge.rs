//! Carries out a [`Plan`] under the root's lock, step by step in its order: installs from
//! repositories, users, directories, rendered config, then the switch through
//! [`super::deploy::switch`] (which also merges the packages' config files and, where the
//! profile has a service, restarts it). Reports the steps it carried out, which are the
//! plan's: `--dry-run` and the real run print the same list.

use super::conffile;
use super::deploy::{self, SwitchOp};
use super::ensure;
use super::plan::{Plan, Source, Step};
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
        }
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
            ensure::ensure_dir(root, &plan.profile, w)?;
        }
    }
    let needs_etc = plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::Config { .. } | Step::TakePending { .. }));
    if needs_etc {
        let etc = super::layout::etc_dir(root, &plan.profile)?;
        for r in &plan.renders {
            if r.action.writes() {
                conffile::carry_out(&etc, &r.path, r.action, r.disk.as_deref(), &r.bytes, r.mode)?;
                conffile::record_shipped(&etc, &r.path, &r.bytes)?;
            }
        }
        for s in &plan.steps {
            if let Step::TakePending { path } = s {
                conffile::take_pending(&etc, path)?;
            }
        }
    }
    // A switch a killed berth left in flight is finished even when this run has nothing to
    // switch (a later switch would finish it first anyway).
    for note in deploy::finish(store, lock, &plan.profile)? {
        tracing::warn!("{}: {note}", plan.profile);
    }
    if plan.steps.iter().any(|s| matches!(s, Step::Switch { .. })) {
        let change = deploy::switch(
            store,
            lock,
            &plan.profile,
            SwitchOp::Exact {
                packages,
                spec: Some(plan.text.clone()),
            },
            false,
            command,
        )?;
        report.generation = Some(change.to);
        for s in &mut report.changes {
            if let Step::Switch { to, .. } = s {
                *to = change.to;
            }
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
