//! `berth config status|diff|path PROFILE`: a profile's config files against their shipped copies.

use super::{output, Ctx};
use crate::apply::conffile;
use crate::error::Result;

/// Config files of a profile.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Per config file: pristine, modified, pending (a .berth-dist waits) or absent
    #[command(after_help = "Examples:
  berth config status site-a
  berth config status site-a --json

Files are a profile's rendered templates (<root>/etc/<profile>/<path>) and its packages'
config files (<root>/etc/<profile>/<package>/<path>), compared with the copy berth last
shipped (the template's last rendering, or the package's copy in the current generation).")]
    Status(StatusArgs),
    /// Show your edits against the shipped copy, as a unified diff
    #[command(after_help = "Examples:
  berth config diff site-a
  berth config diff site-a sites/default/settings.php
  berth config diff site-a drupal7/etc/drupal7/settings.php")]
    Diff(DiffArgs),
    /// Print where to edit one config file (seeding it first if no run has yet)
    #[command(after_help = "Examples:
  berth config path site-a /etc/nginx/nginx.conf
  sudoedit \"$(berth config path site-a /etc/redis/redis.conf)\"
  berth config path site-a nginx-common/etc/nginx/nginx.conf --json

FILE is the path the service sees (/etc/nginx/nginx.conf), or the name `config status`
shows. The file is <root>/etc/<profile>/<package>/<path>: your edits there survive upgrades
and rollbacks (an upgrade's new copy waits beside it as .berth-dist when you edited it).")]
    Path(PathArgs),
}

/// `config path`.
#[derive(Debug, clap::Args)]
pub struct PathArgs {
    /// The profile
    pub profile: String,
    /// The file as the service sees it (/etc/nginx/nginx.conf), or as `config status` names it
    pub file: String,
}

/// `config status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The profile
    pub profile: String,
}

/// `config diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The profile
    pub profile: String,
    /// One file (as `config status` names it); all modified ones when absent
    pub file: Option<String>,
}

/// Runs a `config` command.
pub fn run(ctx: &Ctx, c: Command) -> Result<()> {
    match c {
        Command::Status(a) => status(ctx, &a.profile),
        Command::Diff(a) => diff(ctx, &a.profile, a.file.as_deref()),
        Command::Path(a) => path(ctx, &a.profile, &a.file),
    }
}

fn path(ctx: &Ctx, profile: &str, file: &str) -> Result<()> {
    // The profile must exist before the lock is taken (and a root made for nothing).
    super::pick::view_with_profile(ctx, profile)?;
    let l = ctx.lock()?;
    let n = l.profiles.existing(profile)?;
    let gen = l.profiles.read(profile, n)?;
    let names: Vec<String> = gen.packages.iter().map(|p| p.entry_dir()).collect();
    let entries = crate::isolate::plan::load_entries(&l.store, &names, &gen.prefer)?;
    let p = crate::apply::edit::config_path(&l.store, &l.lock, profile, &entries, file)?;
    if ctx.json {
        output::json(&serde_json::json!({ "profile": profile, "file": file, "path": p }));
    } else {
        println!("{}", p.display());
    }
    Ok(())
}

fn files(ctx: &Ctx, profile: &str) -> Result<Vec<conffile::FileStatus>> {
    let (v, n) = super::pick::view_with_profile(ctx, profile)?;
    let gen = v.profiles.read(profile, n)?;
    conffile::status(&v.store, profile, &gen)
}

fn status(ctx: &Ctx, profile: &str) -> Result<()> {
    let rows = files(ctx, profile)?;
    if ctx.json {
        output::json(&rows);
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.file.clone(), r.state.to_string(), r.source.clone()])
        .collect();
    output::table(&["FILE", "STATE", "SHIPPED BY"], &table);
    Ok(())
}

fn diff(ctx: &Ctx, profile: &str, file: Option<&str>) -> Result<()> {
    let rows = files(ctx, profile)?;
    if let Some(f) = file {
        if !rows.iter().any(|r| r.file == f) {
            return Err(crate::apply::Error::NoConfigFile {
                profile: profile.to_string(),
                file: crate::package::extract::printable(f),
                has: rows.iter().map(|r| r.file.clone()).collect(),
            }
            .into());
        }
    }
    let diffs: Vec<(String, String)> = rows
        .iter()
        .filter(|r| file.is_none_or(|f| f == r.file))
        .map(|r| (r.file.clone(), r.diff()))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    if ctx.json {
        #[derive(serde::Serialize)]
        struct Row {
            file: String,
            diff: String,
        }
        output::json(
            &diffs
                .into_iter()
                .map(|(file, diff)| Row { file, diff })
                .collect::<Vec<_>>(),
        );
    } else {
        for (_, d) in diffs {
            print!("{d}");
        }
    }
    Ok(())
}
