//! `berth remove`.

use super::{output, Ctx};
use crate::error::Result;

/// Remove installed packages.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth remove myapp@1.4.2
  berth remove myapp@1.4.2 prettier@3.3.3

The entry is moved to store/.trash first, then deleted, so a crash never leaves a
half-deleted entry under its real name. Pool objects no other entry uses are freed.")]
pub struct Args {
    /// Packages to remove (name@version or name@ID-PREFIX; a bare name must be unambiguous)
    #[arg(required = true)]
    pub packages: Vec<String>,
}

/// Runs `remove`.
pub fn run(ctx: &Ctx, a: Args) -> Result<i32> {
    let lock = ctx.lock()?;
    let entries = ctx.store.entries()?;
    let mut chosen = Vec::new();
    for p in &a.packages {
        let e = if p.contains('@') {
            crate::store::query::resolve_in(&entries, p)?.clone()
        } else {
            let same: Vec<_> = entries.iter().filter(|e| e.name() == p).collect();
            if same.len() > 1 {
                return Err(crate::Error::AmbiguousPackage {
                    reference: p.clone(),
                    matches: same.iter().map(|e| e.spec()).collect(),
                });
            }
            crate::store::query::resolve_in(&entries, p)?.clone()
        };
        if !chosen
            .iter()
            .any(|c: &crate::store::Entry| c.id() == e.id())
        {
            chosen.push(e);
        }
    }
    let users = crate::profile::refs::users(&crate::profile::Profiles::new(&ctx.root))?;
    let pins = ctx.store.pins()?;
    let held = crate::isolate::hold::held(&ctx.root)?;
    for e in &chosen {
        if let Some(pids) = held.get(e.dir_name()) {
            let p: Vec<String> = pids.iter().map(u32::to_string).collect();
            return Err(crate::Error::EntryInUse {
                entry: e.spec(),
                users: vec![format!("running isolated process {}", p.join(", "))],
            });
        }
        if let Some(by) = users.get(e.dir_name()) {
            return Err(crate::Error::EntryInUse {
                entry: e.spec(),
                users: crate::profile::refs::describe(by),
            });
        }
        if pins.iter().any(|p| p == e.dir_name()) {
            return Err(crate::Error::EntryPinned { entry: e.spec() });
        }
    }
    let freed = ctx.store.delete_entries(&lock, &chosen)?;
    if ctx.json {
        output::json(&freed);
    } else if !ctx.quiet {
        for e in &freed.entries {
            println!("removed {e}");
        }
        println!(
            "freed {} ({} pool objects)",
            output::size(freed.bytes),
            freed.objects
        );
    }
    Ok(0)
}
