//! Every change of a profile's current generation goes through [`switch`]: `use`, `drop`,
//! `rollback`/`switch` and `apply`. It is the one place where what surrounds the switch
//! belongs (data snapshot, hooks, config merges, service restart, health check and the
//! automatic rollback), so no command can move a profile past them.

use crate::error::Result;
use crate::lock::LockedFile;
use crate::profile::{Change, GenPackage, Switcher, Target};
use crate::store::Store;

/// What a switch does to the profile's package set.
#[derive(Debug, Clone)]
pub enum SwitchOp {
    /// `use`: add or replace these references; `prefer` wins path conflicts.
    Use {
        /// Package references (`name`, `name@version`, `id:…`).
        refs: Vec<String>,
        /// Packages that win path conflicts.
        prefer: Vec<String>,
    },
    /// `drop`: remove these packages.
    Drop {
        /// Package names (or `name@version`).
        names: Vec<String>,
    },
    /// `rollback`/`switch`: go to an existing generation.
    Go(Target),
    /// `apply`: exactly these installed entries, made from this profile file text.
    Exact {
        /// The packages, each an installed entry.
        packages: Vec<GenPackage>,
        /// The profile file, verbatim.
        spec: Option<String>,
    },
}

/// Carries out `op` on `profile` under `lock`; `command` is recorded in a new generation.
pub fn switch(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    op: SwitchOp,
    strict_depends: bool,
    command: &str,
) -> Result<Change> {
    let s = Switcher::new(store, lock)?.strict_depends(strict_depends);
    let change = match op {
        SwitchOp::Use { refs, prefer } => s.use_packages(profile, &refs, &prefer, command),
        SwitchOp::Drop { names } => s.drop_packages(profile, &names, command),
        SwitchOp::Go(target) => s.switch(profile, target),
        SwitchOp::Exact { packages, spec } => s.set_exact(profile, packages, spec, command),
    }?;
    super::conffile::after_switch(store, lock, profile, &change)?;
    Ok(change)
}
