//! `berth gc`, `berth pin`, `berth unpin`, `berth keep`.

use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::gc::{self, Options};
use serde::Serialize;
use std::time::Duration;

fn duration(s: &str) -> std::result::Result<Duration, String> {
    gc::parse_duration(s).map_err(|e| e.to_string())
}

/// Delete store entries no generation or pin references.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth gc --dry-run             # what would be deleted, and the bytes it frees
  berth gc                       # delete entries no generation or pin references
  berth gc --keep 5              # first prune each profile to its 5 newest generations
  berth gc --older-than 30d      # first prune generations older than 30 days

Pruning never deletes a profile's current generation nor any newer one (after a
rollback), and --older-than keeps the generation that was live at the cutoff. With both
flags a generation goes only when both let it go. A profile's own policy
(`berth keep PROFILE N`) replaces --keep for that profile, on every gc.
Entries installed less than --grace ago are kept, so that a gc running between
`install` and `use` does not take the new entry away.")]
pub struct Args {
    /// Print what would be deleted and the bytes it frees; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Keep each profile's current generation and the N-1 before it
    #[arg(long, value_name = "N")]
    pub keep: Option<u64>,
    /// Prune generations made longer ago than DUR (s, m, h, d, w: 30d)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub older_than: Option<Duration>,
    /// Keep unreferenced entries installed less than DUR ago (0 to disable)
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "10m")]
    pub grace: Duration,
}

/// Runs `gc`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let l = ctx.lock()?;
    let opts = Options {
        keep: a.keep,
        older_than: a.older_than,
        grace: a.grace,
        dry_run: a.dry_run,
    };
    let r = gc::run(&l.store, &l.profiles, &l.lock, opts, &ctx.progress)?;
    if ctx.json {
        output::json(&r);
        return Ok(());
    }
    if ctx.quiet {
        return Ok(());
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for g in &r.generations {
        println!(
            "{verb} generation {}/{} (made {})",
            g.profile, g.number, g.created
        );
    }
    for e in &r.entries {
        println!("{verb} {}@{} ({})", e.name, e.version, short(&e.id));
    }
    if r.leftovers > 0 {
        println!("{verb} {} leftover(s) of interrupted runs", r.leftovers);
    }
    if !r.kept_recent.is_empty() {
        println!(
            "kept {} unreferenced entr{} installed less than {} ago (--grace): {}",
            r.kept_recent.len(),
            if r.kept_recent.len() == 1 { "y" } else { "ies" },
            humantime::format_duration(a.grace),
            r.kept_recent.join(", ")
        );
    }
    for d in &r.deferred {
        let pids: Vec<String> = d.pids.iter().map(u32::to_string).collect();
        println!(
            "deferred {}: in use by running isolated process(es) {}; gc takes it once they end",
            d.entry,
            pids.join(", ")
        );
    }
    println!(
        "{} {}: {} generation(s), {} entr{}, {} pool object(s)",
        if r.dry_run { "would free" } else { "freed" },
        output::size(r.bytes),
        r.generations.len(),
        r.entries.len(),
        if r.entries.len() == 1 { "y" } else { "ies" },
        r.objects
    );
    Ok(())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Keep installed packages although no profile uses them.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth pin myapp@1.4.2          # gc keeps it
  berth pin                      # list the pins")]
pub struct PinArgs {
    /// Packages to pin (name@version or name@ID-PREFIX) [default: list the pins]
    pub packages: Vec<String>,
}

#[derive(Serialize)]
struct PinRow {
    entry: String,
    changed: bool,
}

/// Runs `pin`.
pub fn pin(ctx: &Ctx, a: PinArgs) -> Result<()> {
    if a.packages.is_empty() {
        let pins = match ctx.view()? {
            Some(v) => v.store.pins()?,
            None => vec![],
        };
        if ctx.json {
            output::json(&pins);
        } else if !ctx.quiet {
            for p in &pins {
                println!("{p}");
            }
        }
        return Ok(());
    }
    let l = ctx.lock()?;
    let entries = l.store.entries()?;
    let mut rows = Vec::new();
    for p in &a.packages {
        let e = crate::store::query::resolve_in(&entries, p)?;
        let changed = l.store.pin(&l.lock, e)?;
        if !ctx.json && !ctx.quiet {
            let what = if changed { "pinned" } else { "already pinned" };
            println!("{what} {} ({})", e.spec(), short(e.id()));
        }
        rows.push(PinRow {
            entry: e.dir_name().to_string(),
            changed,
        });
    }
    if ctx.json {
        output::json(&rows);
    }
    Ok(())
}

/// Let gc delete pinned packages again.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth unpin myapp@1.4.2")]
pub struct UnpinArgs {
    /// Packages to unpin (name@version or name@ID-PREFIX)
    #[arg(required = true)]
    pub packages: Vec<String>,
}

/// Runs `unpin`.
pub fn unpin(ctx: &Ctx, a: UnpinArgs) -> Result<()> {
    let l = ctx.lock()?;
    let entries = l.store.entries()?;
    let pins = l.store.pins()?;
    let mut rows = Vec::new();
    for p in &a.packages {
        // A pin whose entry vanished (damage) can still be removed by its full name.
        let dir = match crate::store::query::resolve_in(&entries, p) {
            Ok(e) => e.dir_name().to_string(),
            Err(_) if pins.iter().any(|x| x == p) => p.clone(),
            Err(e) => return Err(e),
        };
        let changed = l.store.unpin(&l.lock, &dir)?;
        if !ctx.json && !ctx.quiet {
            let what = if changed {
                "unpinned"
            } else {
                "was not pinned:"
            };
            println!("{what} {p}");
        }
        rows.push(PinRow {
            entry: dir,
            changed,
        });
    }
    if ctx.json {
        output::json(&rows);
    }
    Ok(())
}

/// Set how many generations gc keeps for one profile (overrides gc --keep).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth keep site-a 10           # every gc keeps site-a's current generation and 9 before it
  berth keep site-a              # show the policy
  berth keep site-a --unset      # back to the gc flags")]
pub struct KeepArgs {
    /// The profile
    pub profile: String,
    /// Generations to keep (up to and including the current one)
    #[arg(conflicts_with = "unset")]
    pub count: Option<u64>,
    /// Remove the policy
    #[arg(long)]
    pub unset: bool,
}

#[derive(Serialize)]
struct KeepReport<'a> {
    profile: &'a str,
    keep: Option<u64>,
}

/// Runs `keep`.
pub fn keep(ctx: &Ctx, a: KeepArgs) -> Result<()> {
    let keep = if a.count.is_some() || a.unset {
        if a.count == Some(0) {
            return Err(Error::BadFlag {
                flag: "COUNT",
                why: "keep 0 would delete the current generation; the smallest policy is 1".into(),
            });
        }
        let l = ctx.lock()?;
        l.profiles.set_policy(&l.lock, &a.profile, a.count)?;
        a.count
    } else {
        let Some(v) = ctx.view()? else {
            return Err(Error::UnknownProfile {
                profile: a.profile.clone(),
                existing: vec![],
            });
        };
        if v.profiles.numbers(&a.profile)?.is_empty() {
            return Err(v.profiles.unknown(&a.profile));
        }
        v.profiles.policy(&a.profile)?.keep
    };
    if ctx.json {
        output::json(&KeepReport {
            profile: &a.profile,
            keep,
        });
    } else if !ctx.quiet {
        match keep {
            Some(k) => println!("{}: gc keeps {k} generation(s)", a.profile),
            None => println!("{}: no policy; gc --keep applies", a.profile),
        }
    }
    Ok(())
}
