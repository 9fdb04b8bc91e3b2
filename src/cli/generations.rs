//! `berth generations`: list a profile's generations, or delete some of them.

use super::{output, Ctx};
use crate::error::Result;
use serde::Serialize;

/// `generations`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth generations site-a                 # `*` marks the current one
  berth generations site-a --delete 3..7   # delete generations 3 to 7
  berth generations site-a --delete 4

--delete never deletes the current generation nor any newer one (after a rollback): those
are kept and named. The entries they used go at the next `berth gc`.")]
pub struct Args {
    /// Profile name
    pub profile: String,
    /// Delete these generations: N or A..B (inclusive)
    #[arg(long, value_name = "RANGE")]
    pub delete: Option<String>,
}

/// Runs `generations`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    match &a.delete {
        Some(range) => delete(ctx, &a.profile, range),
        None => list(ctx, &a.profile),
    }
}

fn list(ctx: &Ctx, profile: &str) -> Result<()> {
    #[derive(Serialize)]
    struct Row {
        #[serde(flatten)]
        gen: crate::profile::Generation,
        current: bool,
    }
    let (v, current) = super::pick::view_with_profile(ctx, profile)?;
    let mut rows = Vec::new();
    for n in v.profiles.numbers(profile)? {
        rows.push(Row {
            gen: v.profiles.read(profile, n)?,
            current: n == current,
        });
    }
    if ctx.json {
        output::json(&rows);
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let pkgs: Vec<String> = r
                .gen
                .packages
                .iter()
                .map(|p| format!("{}@{}", p.name, p.version))
                .collect();
            vec![
                if r.current { "*".into() } else { String::new() },
                r.gen.number.to_string(),
                r.gen.created.clone(),
                pkgs.join(" "),
            ]
        })
        .collect();
    output::table(&["", "GEN", "CREATED", "PACKAGES"], &table);
    Ok(())
}

fn delete(ctx: &Ctx, profile: &str, range: &str) -> Result<()> {
    crate::package::name::check_name("profile name", profile)?;
    let l = ctx.lock()?;
    let out = crate::profile::prune::delete_range(&l.lock, &l.profiles, profile, range)?;
    crate::apply::rendered::sweep(l.profiles.root(), &l.lock, profile)?;
    if ctx.json {
        output::json(&out);
    } else if !ctx.quiet {
        for n in &out.deleted {
            println!("deleted generation {profile}/{n}");
        }
        if !out.kept.is_empty() {
            let kept: Vec<String> = out.kept.iter().map(u64::to_string).collect();
            println!(
                "kept {}: the current generation and newer ones are never deleted",
                kept.join(", ")
            );
        }
        if out.deleted.is_empty() && out.kept.is_empty() {
            println!("{profile} has no generations in {range}");
        }
    }
    Ok(())
}
