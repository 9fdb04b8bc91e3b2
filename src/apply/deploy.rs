//! Every change of a profile's current generation goes through [`switch`]: `use`, `drop`,
//! `rollback`/`switch` and `apply`. It is the one place where what surrounds the switch
//! belongs (data snapshot, hooks, config merges, service restart, health check and the
//! automatic rollback), so no command can move a profile past them.
//!
//! The profile file in force for a switch is the one the generation switched to records
//! (`generation.toml` `spec`). In order:
//! 1. under the root's lock, before anything is written: the `pre-switch` hook (non-zero
//!    stops the switch, nothing changed), the data snapshot (`[backup] before_switch`, or
//!    `rollback --with-data`, which then restores the target generation's snapshot), then
//!    what the caller prepares (`apply`'s users, directories and template renderings);
//! 2. the switch itself: one rename of the profile link, then the config of the generation
//!    gone to (its packages' config files and its templates' renderings, dpkg's rules);
//! 3. with the lock let go (a restart or health command may run berth, and `run --isolate`
//!    takes the lock): the restart, the health check, and on failure the switch back to the
//!    previous generation (under the lock again), its restart and health check, and an
//!    error (exit 9) that names the command and its output; then the `post-switch` hook.

use super::deploy_error::Error as DeployError;
use super::health;
use super::hooks::{self, SwitchEnv};
use super::pending::{self, DataPhase, Pending};
use super::service::{self, Restart};
use super::snapshot;
use super::spec::{ProfileSpec, ServiceSpec, DEFAULT_BACKUP_KEEP};
use crate::error::Result;
use crate::lock::LockedFile;
use crate::profile::switch::BeforeSwitch;
use crate::profile::{Change, GenPackage, Generation, Profiles, Switcher, Target};
use crate::store::Store;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a switch does to the profile's package set.
#[derive(Debug, Clone)]
pub enum SwitchOp {
    /// `use`: add or replace these references; `prefer` wins path conflicts.
    Use {
        /// Package references (`name`, `name@version`, `id:…`).
        refs: Vec<String>,
        /// Packages that win path conflicts.
        prefer: Vec<String>,
        /// A profile file (verbatim, already validated) the new generation records
        /// (`use --spec`); none keeps the current one's.
        spec: Option<String>,
    },
    /// `drop`: remove these packages.
    Drop {
        /// Package names (or `name@version`).
        names: Vec<String>,
    },
    /// `rollback`/`switch`: go to an existing generation.
    Go(Target),
    /// `rollback --with-data`: go to an existing generation and put back the data snapshot
    /// taken when the profile left it (the current data is saved as a snapshot first).
    GoWithData(Target),
    /// `apply`: exactly these installed entries, made from this profile file text.
    Exact {
        /// The packages, each an installed entry.
        packages: Vec<GenPackage>,
        /// The profile file, verbatim.
        spec: Option<String>,
        /// Its templates' renderings (output path → hash, see [`super::rendered`]).
        config: BTreeMap<String, String>,
        /// `--conf new`: where the operator changed a template's output and the new
        /// rendering differs, take the new one (the operator's saved as `.berth-old`).
        take_new: bool,
    },
}

/// What a switch writes once its pre-switch hook has passed and before the link moves
/// (`apply`'s users, directories and renderings): nothing of it may happen when the hook
/// refuses.
pub type Prepare<'a> = &'a dyn Fn() -> Result<()>;

/// Carries out `op` on `profile` under `lock`; `command` is recorded in a new generation.
/// The lock is let go while the service restarts and its health is checked, and taken
/// again before this returns.
pub fn switch(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    op: SwitchOp,
    strict_depends: bool,
    command: &str,
) -> Result<Change> {
    switch_with(
        store,
        lock,
        profile,
        op,
        strict_depends,
        command,
        &|| Ok(()),
    )
}

/// [`switch`], with `prepare` carried out after the pre-switch hook passed, before the
/// link moves (not at all when nothing changes).
pub fn switch_with(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    op: SwitchOp,
    strict_depends: bool,
    command: &str,
    prepare: Prepare<'_>,
) -> Result<Change> {
    let profiles = Profiles::new(store.root());
    // A switch a killed berth left in flight is finished before this one starts.
    let finished = finish_pending(store, lock, &profiles, profile, command)?;
    let with_data = matches!(op, SwitchOp::GoWithData(_));
    let notes = RefCell::new(Vec::new());
    let before: BeforeSwitch<'_> = Box::new(|from, to| {
        before_switch(store, lock, &profiles, profile, from, to, with_data, &notes)?;
        prepare()
    });
    let mut change = move_link(
        store,
        lock,
        profile,
        op,
        strict_depends,
        command,
        Some(before),
    )?;
    change.notes.splice(0..0, finished);
    change.notes.extend(notes.into_inner());
    if !change.changed {
        pending::clear(store.root(), profile)?;
        return Ok(change);
    }
    after_switch(store, lock, &profiles, change, command)
}

/// The switch proper: the package set, the new generation, the rename of the link.
fn move_link<'a>(
    store: &'a Store,
    lock: &'a LockedFile,
    profile: &str,
    op: SwitchOp,
    strict_depends: bool,
    command: &str,
    before: Option<BeforeSwitch<'a>>,
) -> Result<Change> {
    let mut s = Switcher::new(store, lock)?
        .strict_depends(strict_depends)
        .complete_set(Box::new(|profile, packages| {
            crate::scripts::complete_set(store, lock, profile, packages)
        }));
    if let Some(b) = before {
        s = s.before_switch(b);
    }
    let mut take_new = false;
    let change = match op {
        SwitchOp::Use { refs, prefer, spec } => {
            s.use_packages(profile, &refs, &prefer, spec, command)?
        }
        SwitchOp::Drop { names } => s.drop_packages(profile, &names, command)?,
        SwitchOp::Go(target) | SwitchOp::GoWithData(target) => s.switch(profile, target)?,
        SwitchOp::Exact {
            packages,
            spec,
            config,
            take_new: t,
        } => {
            take_new = t;
            s.set_exact(profile, packages, spec, config, command)?
        }
    };
    // The link has moved (or nothing changed): config merges of the profile's files and
    // the generation's template renderings belong here, so every switch, the automatic
    // switch back included, puts back the config of the generation it goes to.
    super::conffile::after_switch(store, lock, profile, &change, take_new)?;
    Ok(change)
}

/// How long hooks may run before they are killed (the health timeout when longer).
fn hook_limit(spec: &ProfileSpec) -> Duration {
    Duration::from_secs(300).max(spec.health_timeout())
}

/// Step 1: under the lock, before anything is written.
#[allow(clippy::too_many_arguments)]
fn before_switch(
    store: &Store,
    lock: &LockedFile,
    profiles: &Profiles,
    profile: &str,
    from: Option<u64>,
    to: &Generation,
    with_data: bool,
    notes: &RefCell<Vec<String>>,
) -> Result<()> {
    let root = store.root();
    // What a snapshot or restore killed midway left in var/<profile>/ goes first, whatever
    // this switch does.
    snapshot::clean_leftovers(root, lock, profile)?;
    let spec = ProfileSpec::recorded(profiles, profile, to)?;
    if with_data {
        snapshot::require(root, profile, to.number)?;
    }
    let Some(spec) = spec else {
        return match (with_data, from) {
            (true, Some(f)) => data_swap(
                store,
                lock,
                profile,
                f,
                to.number,
                DEFAULT_BACKUP_KEEP,
                notes,
            ),
            _ => Ok(()),
        };
    };
    if let Some(cmd) = spec.hooks.as_ref().and_then(|h| h.pre_switch.as_deref()) {
        let env = SwitchEnv::new(profiles, profile, from, to.number)?;
        let limit = hook_limit(&spec);
        let o = hooks::run(
            "pre-switch hook",
            cmd,
            &env,
            Some(limit),
            hooks::Leftovers::Kill,
        )?;
        if !o.ok() {
            return Err(DeployError::PreSwitchFailed {
                profile: profile.to_string(),
                from,
                command: cmd.to_string(),
                status: o.status(Some(limit)),
                output: o.one_line(),
            }
            .into());
        }
        notes
            .borrow_mut()
            .push(format!("pre-switch hook `{cmd}` ran"));
    }
    if spec.service.is_some() {
        // Recorded before the link moves, so that a berth killed before the health check
        // has passed leaves the new generation marked unverified.
        let p = Pending {
            from,
            to: to.number,
            health: true,
            data: None,
        };
        pending::write(root, profile, &p)?;
    }
    let keep = spec
        .backup
        .as_ref()
        .map(|b| b.keep)
        .unwrap_or(DEFAULT_BACKUP_KEEP);
    match from {
        Some(f) if with_data => data_swap(store, lock, profile, f, to.number, keep, notes),
        Some(f) if spec.backup.as_ref().is_some_and(|b| b.before_switch) => {
            if let Some(t) = snapshot::take(root, lock, profile, f, keep)? {
                notes.borrow_mut().push(snapshot_note(&t));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn snapshot_note(t: &snapshot::Taken) -> String {
    let mut s = format!(
        "data snapshot {} ({} files, {})",
        t.path.display(),
        t.files,
        match t.method {
            snapshot::Method::Reflink => "reflinked",
            snapshot::Method::Copy => "copied",
        }
    );
    if !t.pruned.is_empty() {
        let p: Vec<String> = t.pruned.iter().map(u64::to_string).collect();
        s.push_str(&format!(
            "; removed older snapshot(s) of generation {}",
            p.join(", ")
        ));
    }
    s
}

/// `rollback --with-data`: saves the current data as the snapshot of `from`, then puts the
/// snapshot of `to` back.
fn data_swap(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    from: u64,
    to: u64,
    keep: u32,
    notes: &RefCell<Vec<String>>,
) -> Result<()> {
    let root = store.root();
    // Recorded at each step, so that until the link has moved the next command undoes the
    // restore (from the snapshot of `from`, once that is complete) before any cleaner or
    // snapshot can touch the newest data.
    pending::data(root, profile, from, to, DataPhase::Saving)?;
    if let Some(t) = snapshot::take(root, lock, profile, from, keep.max(2))? {
        notes.borrow_mut().push(snapshot_note(&t));
    }
    pending::data(root, profile, from, to, DataPhase::Restoring)?;
    snapshot::restore(root, lock, profile, to)?;
    notes.borrow_mut().push(format!(
        "data restored from the snapshot of generation {to}"
    ));
    Ok(())
}

/// Why a restart or health check failed.
struct Failure {
    what: &'static str,
    command: String,
    status: String,
    output: String,
}

/// Restarts the service and checks its health; `Err(Failure)` when either fails.
fn restart_and_check(
    service: &ServiceSpec,
    timeout: Duration,
    env: &SwitchEnv,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<std::result::Result<(), Failure>> {
    match service::restart(service, env, timeout)? {
        Restart::NotPossible => warnings.push(format!(
            "{} was not restarted: no unit {} in {} under a running systemd, and no [service] restart command",
            env.profile,
            service::unit_name(&env.profile),
            service::SYSTEM_UNIT_DIR
        )),
        Restart::Ran {
            command,
            outcome,
            limit,
        } => {
            if !outcome.ok() {
                return Ok(Err(Failure {
                    what: "restart",
                    command,
                    status: outcome.status(Some(limit)),
                    output: outcome.one_line(),
                }));
            }
            notes.push(format!("restarted: `{command}`"));
        }
    }
    if let Some(h) = &service.health {
        let r = health::check(h, env, timeout)?;
        if !r.healthy {
            return Ok(Err(Failure {
                what: "health check",
                command: h.clone(),
                status: format!(
                    "kept failing for {} ({} tries; the last {})",
                    humantime::format_duration(timeout),
                    r.tries,
                    r.last.status(None)
                ),
                output: r.last.one_line(),
            }));
        }
        notes.push(format!(
            "healthy after {} tr{}: `{h}`",
            r.tries,
            if r.tries == 1 { "y" } else { "ies" }
        ));
    }
    Ok(Ok(()))
}

/// Step 3: restart, health, the automatic switch back, the post-switch hook.
fn after_switch(
    store: &Store,
    lock: &LockedFile,
    profiles: &Profiles,
    mut change: Change,
    command: &str,
) -> Result<Change> {
    let profile = change.profile.clone();
    let root = store.root();
    // The link has moved: a data restore is complete; a health check may be left.
    pending::link_moved(root, &profile)?;
    let gen = profiles.read(&profile, change.to)?;
    let Some(spec) = ProfileSpec::recorded(profiles, &profile, &gen)? else {
        pending::clear(root, &profile)?;
        return Ok(change);
    };
    let env = SwitchEnv::new(profiles, &profile, change.from, change.to)?;
    if let Some(service) = &spec.service {
        let (mut notes, mut warnings) = (Vec::new(), Vec::new());
        let result = lock.released_while(|| {
            restart_and_check(
                service,
                spec.health_timeout(),
                &env,
                &mut notes,
                &mut warnings,
            )
        })??;
        change.notes.append(&mut notes);
        change.warnings.append(&mut warnings);
        if let Err(f) = result {
            let after = switch_back(
                store,
                lock,
                profiles,
                (&profile, change.from, change.to),
                &spec,
                command,
            )?;
            pending::clear(root, &profile)?;
            return Err(DeployError::Unhealthy {
                what: f.what,
                profile,
                to: change.to,
                command: f.command,
                status: f.status,
                output: f.output,
                after,
            }
            .into());
        }
    }
    pending::clear(root, &profile)?;
    if let Some(cmd) = spec.hooks.as_ref().and_then(|h| h.post_switch.as_deref()) {
        let limit = hook_limit(&spec);
        let o = lock.released_while(|| {
            hooks::run(
                "post-switch hook",
                cmd,
                &env,
                Some(limit),
                hooks::Leftovers::Kill,
            )
        })??;
        if o.ok() {
            change.notes.push(format!("post-switch hook `{cmd}` ran"));
        } else {
            change.warnings.push(format!(
                "post-switch hook `{cmd}` {}{}; generation {} stays current",
                o.status(Some(limit)),
                if o.output.is_empty() {
                    String::new()
                } else {
                    format!(", output: {}", o.one_line())
                },
                change.to
            ));
        }
    }
    Ok(change)
}

/// After a failed restart or health check of the switch (profile, from, to): back to the
/// previous generation, restart it, check it. Returns what happened, for the error message.
fn switch_back(
    store: &Store,
    lock: &LockedFile,
    profiles: &Profiles,
    (profile, from, to): (&str, Option<u64>, u64),
    failed: &ProfileSpec,
    command: &str,
) -> Result<String> {
    let change_from = from;
    let Some(from) = from else {
        return Ok(format!(
            "{profile} had no earlier generation to switch back to; it stays at generation {to}"
        ));
    };
    // The lock was let go meanwhile: switch back only what this switch did.
    let now = profiles.current(profile)?;
    if now != Some(to) {
        return Ok(format!(
            "not switched back: {profile} was switched to generation {} meanwhile",
            now.map(|n| n.to_string()).unwrap_or_else(|| "none".into())
        ));
    }
    move_link(
        store,
        lock,
        profile,
        SwitchOp::Go(Target::Number(from)),
        false,
        command,
        None,
    )?;
    tracing::info!("{profile}: switched back to generation {from}");
    let old = ProfileSpec::recorded(profiles, profile, &profiles.read(profile, from)?)?;
    let spec = old
        .as_ref()
        .filter(|s| s.service.is_some())
        .unwrap_or(failed);
    let Some(service) = &spec.service else {
        return Ok(format!("switched back to generation {from}"));
    };
    let Some(env) = SwitchEnv::new(profiles, profile, change_from, to)?.reversed() else {
        return Ok(format!("switched back to generation {from}"));
    };
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    let again = lock.released_while(|| {
        restart_and_check(
            service,
            spec.health_timeout(),
            &env,
            &mut notes,
            &mut warnings,
        )
    })??;
    let restarted = if warnings.is_empty() {
        "restarted it"
    } else {
        "could not restart it (no unit and no restart command)"
    };
    Ok(match again {
        Ok(()) if service.health.is_some() => {
            format!("switched back to generation {from}, {restarted}, and it is healthy")
        }
        Ok(()) => format!("switched back to generation {from} and {restarted} (no health check)"),
        Err(f) => format!(
            "switched back to generation {from}, but its {} fails too: `{}` {}{}",
            f.what,
            f.command,
            f.status,
            if f.output.is_empty() {
                String::new()
            } else {
                format!(", output: {}", f.output)
            }
        ),
    })
}

/// Finishes what a killed berth left in flight on `profile` (`check --repair`), as the next
/// switch of it would; returns what was done. The caller holds `lock`.
pub fn finish(store: &Store, lock: &LockedFile, profile: &str) -> Result<Vec<String>> {
    finish_pending(
        store,
        lock,
        &Profiles::new(store.root()),
        profile,
        "check --repair",
    )
}

/// Finishes what a killed berth left in flight on `profile` (see [`pending`]); returns the
/// notes that say what was done. A data restore whose link never moved is undone (the
/// newest data goes back into `var/`); one whose link moved is complete. A switch that
/// awaited its health check and whose link moved is restarted and checked again (the lock
/// let go meanwhile, as after any switch): kept when healthy, else switched back. A switch
/// whose link never moved, or that was switched back already, only loses its record.
fn finish_pending(
    store: &Store,
    lock: &LockedFile,
    profiles: &Profiles,
    profile: &str,
    command: &str,
) -> Result<Vec<String>> {
    let root = store.root();
    pending::clean_leftovers(root, profile)?;
    let Some(p) = pending::read(root, profile)? else {
        return Ok(vec![]);
    };
    let what = p.describe();
    tracing::warn!("{profile}: finishing an interrupted {what}");
    let mut notes = Vec::new();
    let moved = profiles.current(profile)? == Some(p.to) && p.from != Some(p.to);
    match (p.data, p.from) {
        (Some(_), _) if moved => {
            snapshot::clean_leftovers(root, lock, profile)?;
            notes.push(format!(
                "interrupted {what}: the link had moved, the data restore was complete"
            ));
        }
        (Some(DataPhase::Restoring), Some(from)) => {
            snapshot::restore(root, lock, profile, from)?;
            notes.push(format!(
                "interrupted {what} undone: the data is back from the snapshot of generation {from}, taken when it was left"
            ));
        }
        (Some(_), _) => {
            snapshot::clean_leftovers(root, lock, profile)?;
            notes.push(format!(
                "interrupted {what} undone: its data had not been replaced yet"
            ));
        }
        (None, _) => {}
    }
    if p.data.is_some() && !(moved && p.health) {
        pending::clear(root, profile)?;
        return Ok(notes);
    }
    if p.data.is_some() {
        pending::link_moved(root, profile)?;
    }
    if !moved {
        pending::clear(root, profile)?;
        notes.push(format!(
            "interrupted {what}: {profile} is not at generation {} (the link never moved, or it was switched back); nothing to finish",
            p.to
        ));
        return Ok(notes);
    }
    let gen = profiles.read(profile, p.to)?;
    let spec = ProfileSpec::recorded(profiles, profile, &gen)?;
    let Some((spec, service)) = spec
        .as_ref()
        .and_then(|s| s.service.as_ref().map(|v| (s, v)))
    else {
        pending::clear(root, profile)?;
        return Ok(notes);
    };
    let env = SwitchEnv::new(profiles, profile, p.from, p.to)?;
    let (mut more, mut warnings) = (Vec::new(), Vec::new());
    let result = lock.released_while(|| {
        restart_and_check(
            service,
            spec.health_timeout(),
            &env,
            &mut more,
            &mut warnings,
        )
    })??;
    match result {
        Ok(()) => notes.push(format!(
            "interrupted {what}: restarted and checked again, generation {} is healthy and stays",
            p.to
        )),
        Err(f) => {
            let after = switch_back(
                store,
                lock,
                profiles,
                (profile, p.from, p.to),
                spec,
                command,
            )?;
            notes.push(format!(
                "interrupted {what}: its {} failed again (`{}` {}); {after}",
                f.what, f.command, f.status
            ));
        }
    }
    pending::clear(root, profile)?;
    Ok(notes)
}
