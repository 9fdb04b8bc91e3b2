//! `berth check`.

use super::{output, Ctx};
use crate::check;
use crate::error::{Error, Result};
use crate::store::verify::Depth;

/// Verify every invariant of the root: profiles, generations, entries, objects, shims
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth check                    # everything, re-hashing every file
  berth check --quick            # existence, types and sizes only
  berth check --repair           # also remove what is safe to remove

--repair removes only leftovers of interrupted commands (staging, trash, half-deleted
generations), berth's own dangling shims, orphan pool objects and objects that are not
regular files; it reinstalls the shim binary and removes group/other write bits. Files
berth did not make are reported and left alone. A damaged entry is rebuilt from its
artifact with `berth install --repair FILE`. Exits 5 when any problem remains.
check takes the root's lock, so it waits for a running install, use or gc.")]
pub struct Args {
    /// Check existence, types and sizes only; do not re-hash
    #[arg(long)]
    pub quick: bool,
    /// Remove leftovers, dangling shims and orphan objects
    #[arg(long)]
    pub repair: bool,
}

/// Runs `check`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let depth = if a.quick { Depth::Quick } else { Depth::Full };
    let report = check::check_root(ctx.root_path(), ctx.lock_timeout, depth, a.repair)?;
    if ctx.json {
        output::json(&report);
    } else {
        for p in &report.repaired {
            if !ctx.quiet {
                println!(
                    "repaired: removed {}",
                    crate::package::printable::escaped_path(p)
                );
            }
        }
        for p in &report.problems {
            let fix = if p.repairable {
                " [--repair fixes]"
            } else {
                ""
            };
            println!(
                "{}: {}: {}{fix}\n  hint: {}",
                p.kind,
                crate::package::printable::escaped_path(&p.path),
                crate::package::printable::escaped(&p.detail),
                p.hint
            );
        }
        if !ctx.quiet || !report.ok {
            let c = &report.checked;
            println!(
                "checked {} profile(s), {} generation(s), {} entr{}, {} object(s): {}",
                c.profiles,
                c.generations,
                c.entries,
                if c.entries == 1 { "y" } else { "ies" },
                c.objects,
                if report.ok {
                    "no problems".to_string()
                } else {
                    format!("{} problem(s)", report.problems.len())
                }
            );
        }
    }
    if report.ok {
        Ok(())
    } else {
        Err(Error::IntegrityFailed {
            what: "check",
            count: report.problems.len(),
        })
    }
}
