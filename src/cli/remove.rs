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
    /// Packages to remove (name@version or name@id:PREFIX; a bare name must be unambiguous)
    #[arg(required = true)]
    pub packages: Vec<String>,
}

/// Runs `remove`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let l = ctx.lock()?;
    let freed = crate::gc::remove(&l.store, &l.profiles, &l.lock, &a.packages)?;
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
    Ok(())
}
