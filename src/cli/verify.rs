//! `berth verify`.

use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::store::verify::{Depth, Problem};
use serde::Serialize;

/// Re-hash installed packages against their recorded file lists.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth verify                 # every installed package
  berth verify myapp@1.5.0     # one package
  berth verify --json

Exits 5 and names every changed, missing or extra file when anything differs.")]
pub struct Args {
    /// Packages to check (name, name@version, name@ID-PREFIX) [default: all]
    pub packages: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    checked: Vec<String>,
    problems: Vec<Problem>,
}

/// Runs `verify`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let view = ctx.view()?;
    let entries = match &view {
        None if a.packages.is_empty() => vec![],
        None => {
            return Err(Error::UnknownPackage {
                reference: a.packages[0].clone(),
                installed: vec![],
            })
        }
        Some(v) if a.packages.is_empty() => v.store.entries()?,
        Some(v) => a
            .packages
            .iter()
            .map(|p| v.store.resolve(p))
            .collect::<Result<Vec<_>>>()?,
    };
    let mut problems = Vec::new();
    if let Some(v) = &view {
        for e in &entries {
            problems.extend(v.store.verify_entry(e, Depth::Full));
        }
    }
    let report = Report {
        ok: problems.is_empty(),
        checked: entries.iter().map(|e| e.spec()).collect(),
        problems,
    };
    if ctx.json {
        output::json(&report);
    } else {
        for p in &report.problems {
            println!(
                "{}: {} {}: {}",
                p.package,
                p.kind,
                crate::package::extract::printable(&p.path),
                p.detail
            );
        }
        if report.ok && !ctx.quiet {
            println!(
                "verified {} package(s): all files match",
                report.checked.len()
            );
        }
    }
    if report.ok {
        Ok(())
    } else {
        Err(Error::IntegrityFailed {
            what: "verify",
            count: report.problems.len(),
        })
    }
}
