//! Profile commands: `use`, `drop`, `rollback`, `switch`, `generations`, `diff`, `profiles`,
//! `default`, `which`, `run`.

use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::package::manifest::check_name;
use crate::profile::diff::diff;
use crate::profile::{Change, Profiles, Switcher, Target};
use serde::Serialize;
use std::ffi::OsString;
use std::path::PathBuf;

/// The profile commands (flattened into berth's command list).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a new generation of a profile with these packages (creates the profile)
    #[command(after_help = "Examples:
  berth use site-a drupal@7.59 php@8.2.7   # new generation of site-a (created if new)
  berth use site-a drupal@7.60             # replaces drupal only
  berth use site-a php                     # the highest installed php
  berth use site-a tools --prefer tools    # tools wins paths both provide

Nothing changes (and no generation is made) when the set is the same as now.")]
    Use(UseArgs),
    /// Make a new generation without some packages
    #[command(after_help = "Example:\n  berth drop site-a php")]
    Drop(DropArgs),
    /// Go back to the previous generation (or --to N); deletes nothing
    #[command(after_help = "Examples:\n  berth rollback site-a\n  berth rollback site-a --to 3")]
    Rollback(RollbackArgs),
    /// Make generation N current (same as rollback --to N)
    #[command(after_help = "Example:\n  berth switch site-a 3")]
    Switch(SwitchArgs),
    /// List a profile's generations; `*` marks the current one
    Generations(super::gc::GenerationsArgs),
    /// Show what changed between two generations (default: the current and the one before)
    #[command(after_help = "Examples:\n  berth diff site-a\n  berth diff site-a --from 1 --to 4")]
    Diff(DiffArgs),
    /// List profiles: current generation, package count, default marker
    Profiles,
    /// Set (or show) the profile shims use when nothing else says
    #[command(after_help = "Examples:\n  berth default site-a\n  berth default")]
    Default(DefaultArgs),
    /// Show the file a shim would run for a command, and which rule chose the profile
    #[command(after_help = "Examples:\n  berth which drush\n  berth which drush --profile site-b")]
    Which(WhichArgs),
    /// Run a command (or the profile's service) with a profile's environment; --isolate
    /// shows its packages at their usual paths in a private mount namespace
    #[command(after_help = super::run::AFTER_HELP)]
    Run(super::run::Args),
}

/// `use`.
#[derive(Debug, clap::Args)]
pub struct UseArgs {
    /// Profile name
    pub profile: String,
    /// Packages: name, name@version or name@ID-PREFIX
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Let this package win paths and commands another package also provides
    #[arg(long, value_name = "NAME")]
    pub prefer: Vec<String>,
}

/// `drop`.
#[derive(Debug, clap::Args)]
pub struct DropArgs {
    /// Profile name
    pub profile: String,
    /// Package names
    #[arg(required = true)]
    pub packages: Vec<String>,
}

/// `rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Profile name
    pub profile: String,
    /// Go to this generation instead of the previous one
    #[arg(long, value_name = "N")]
    pub to: Option<u64>,
}

/// `switch`.
#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// Profile name
    pub profile: String,
    /// Generation number
    pub generation: u64,
}

/// A profile name.
#[derive(Debug, clap::Args)]
pub struct ProfileArg {
    /// Profile name
    pub profile: String,
}

/// `diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Profile name
    pub profile: String,
    /// Older generation [default: the one before --to]
    #[arg(long, value_name = "N")]
    pub from: Option<u64>,
    /// Newer generation [default: the current one]
    #[arg(long, value_name = "N")]
    pub to: Option<u64>,
}

/// `default`.
#[derive(Debug, clap::Args)]
pub struct DefaultArgs {
    /// Profile to make the default (omit to show the current default)
    pub profile: Option<String>,
}

/// `which`.
#[derive(Debug, clap::Args)]
pub struct WhichArgs {
    /// Command name
    pub command: String,
    /// Use this profile instead of resolving one like a shim does
    #[arg(long)]
    pub profile: Option<String>,
}

/// Runs a profile command.
pub fn run(ctx: &Ctx, c: Command) -> Result<i32> {
    match c {
        Command::Use(a) => with_switcher(ctx, |s| {
            s.use_packages(&a.profile, &a.packages, &a.prefer, &command_line())
        }),
        Command::Drop(a) => with_switcher(ctx, |s| {
            s.drop_packages(&a.profile, &a.packages, &command_line())
        }),
        Command::Rollback(a) => {
            let t = a.to.map(Target::Number).unwrap_or(Target::Previous);
            with_switcher(ctx, |s| s.switch(&a.profile, t))
        }
        Command::Switch(a) => {
            with_switcher(ctx, |s| s.switch(&a.profile, Target::Number(a.generation)))
        }
        Command::Generations(a) => match &a.delete {
            Some(range) => super::gc::delete_generations(ctx, &a.profile, range),
            None => generations(ctx, &a.profile),
        },
        Command::Diff(a) => show_diff(ctx, a),
        Command::Profiles => profiles(ctx),
        Command::Default(a) => default(ctx, a),
        Command::Which(a) => which(ctx, a),
        Command::Run(a) => super::run::run(ctx, a),
    }
}

fn command_line() -> String {
    let mut args = std::env::args();
    let _ = args.next();
    std::iter::once("berth".to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

fn with_switcher(ctx: &Ctx, f: impl FnOnce(&Switcher) -> Result<Change>) -> Result<i32> {
    let lock = ctx.lock()?;
    let s = Switcher::new(&ctx.store, &lock)?;
    let change = f(&s)?;
    drop(lock);
    if ctx.json {
        output::json(&change);
    } else if !ctx.quiet {
        let p = &change.profile;
        if !change.changed {
            println!("{p}: unchanged (generation {})", change.to);
        } else {
            let profiles = Profiles::new(&ctx.root);
            let what = match change.from {
                Some(f) => {
                    let d = diff(&profiles.read(p, f)?, &profiles.read(p, change.to)?);
                    format!("generation {f} -> {}: {}", change.to, d.lines().join(", "))
                }
                None => format!("generation {} (new profile)", change.to),
            };
            println!("{p}: {what}");
        }
    }
    Ok(0)
}

pub(super) fn existing(profiles: &Profiles, profile: &str) -> Result<u64> {
    check_name("profile name", profile)?;
    profiles
        .current(profile)?
        .ok_or_else(|| Error::UnknownProfile {
            profile: profile.to_string(),
            existing: profiles.list().unwrap_or_default(),
        })
}

fn generations(ctx: &Ctx, profile: &str) -> Result<i32> {
    #[derive(Serialize)]
    struct Row {
        #[serde(flatten)]
        gen: crate::profile::Generation,
        current: bool,
    }
    let profiles = Profiles::new(&ctx.root);
    let current = existing(&profiles, profile)?;
    let mut rows = Vec::new();
    for n in profiles.numbers(profile)? {
        rows.push(Row {
            gen: profiles.read(profile, n)?,
            current: n == current,
        });
    }
    if ctx.json {
        output::json(&rows);
    } else {
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
    }
    Ok(0)
}

fn show_diff(ctx: &Ctx, a: DiffArgs) -> Result<i32> {
    let profiles = Profiles::new(&ctx.root);
    let current = existing(&profiles, &a.profile)?;
    let numbers = profiles.numbers(&a.profile)?;
    let to = a.to.unwrap_or(current);
    let from = match a.from {
        Some(f) => f,
        None => *numbers
            .iter()
            .rev()
            .find(|&&n| n < to)
            .ok_or_else(|| Error::Other {
                message: format!("profile {} has no generation before {to}", a.profile),
                hint: format!("name both: `berth diff {} --from A --to B`", a.profile),
            })?,
    };
    for n in [from, to] {
        if !numbers.contains(&n) {
            return Err(Error::NoSuchGeneration {
                profile: a.profile.clone(),
                number: n,
                existing: numbers,
            });
        }
    }
    let d = diff(
        &profiles.read(&a.profile, from)?,
        &profiles.read(&a.profile, to)?,
    );
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            profile: &'a str,
            from: u64,
            to: u64,
            #[serde(flatten)]
            diff: &'a crate::profile::diff::Diff,
        }
        output::json(&Out {
            profile: &a.profile,
            from,
            to,
            diff: &d,
        });
    } else {
        println!("{}: generation {from} -> {to}", a.profile);
        let lines = d.lines();
        if lines.is_empty() {
            println!("  (same packages)");
        }
        for l in lines {
            println!("  {l}");
        }
    }
    Ok(0)
}

fn read_default(ctx: &Ctx) -> Option<String> {
    berth_shim::default_profile(ctx.root.path())
}

fn profiles(ctx: &Ctx) -> Result<i32> {
    #[derive(Serialize)]
    struct Row {
        profile: String,
        current: Option<u64>,
        generations: usize,
        packages: usize,
        default: bool,
    }
    let profiles = Profiles::new(&ctx.root);
    let dflt = read_default(ctx);
    let mut rows = Vec::new();
    for p in profiles.list()? {
        let current = profiles.current(&p)?;
        let packages = match current {
            Some(n) => profiles.read(&p, n)?.packages.len(),
            None => 0,
        };
        rows.push(Row {
            default: dflt.as_deref() == Some(p.as_str()),
            generations: profiles.numbers(&p)?.len(),
            profile: p,
            current,
            packages,
        });
    }
    if ctx.json {
        output::json(&rows);
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.profile.clone(),
                    r.current
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.packages.to_string(),
                    r.generations.to_string(),
                    if r.default {
                        "default".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        output::table(
            &["PROFILE", "CURRENT", "PACKAGES", "GENERATIONS", ""],
            &table,
        );
    }
    Ok(0)
}

fn default(ctx: &Ctx, a: DefaultArgs) -> Result<i32> {
    let Some(p) = a.profile else {
        let d = read_default(ctx);
        if ctx.json {
            output::json(&serde_json::json!({ "default": d }));
        } else {
            match d {
                Some(d) => println!("{d}"),
                None => println!("no default profile (set one with `berth default PROFILE`)"),
            }
        }
        return Ok(0);
    };
    check_name("profile name", &p)?;
    let _lock = ctx.lock()?;
    existing(&Profiles::new(&ctx.root), &p)?;
    fsutil::create_dir_all(ctx.root.path())?;
    fsutil::atomic_write(&ctx.root.default_profile(), format!("{p}\n").as_bytes())?;
    if ctx.json {
        output::json(&serde_json::json!({ "default": p }));
    } else if !ctx.quiet {
        println!("default profile: {p}");
    }
    Ok(0)
}

/// The profile to use and the rule that chose it, as a shim would (or `--profile`).
pub(super) fn choose(ctx: &Ctx, flag: Option<&str>) -> Result<(String, String)> {
    if let Some(p) = flag {
        check_name("profile name", p)?;
        return Ok((p.to_string(), "--profile".to_string()));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let env = std::env::var_os(crate::env::BERTH_PROFILE);
    let c =
        berth_shim::resolve(ctx.root.path(), env.as_deref(), &cwd).map_err(|e| Error::Other {
            message: e.to_string(),
            hint: "`berth profiles` lists the profiles".into(),
        })?;
    Ok((c.profile, c.source.to_string()))
}

fn which(ctx: &Ctx, a: WhichArgs) -> Result<i32> {
    let (profile, why) = choose(ctx, a.profile.as_deref())?;
    let profiles = Profiles::new(&ctx.root);
    let current = existing(&profiles, &profile)?;
    let cmd = OsString::from(&a.command);
    let path = berth_shim::command_path(ctx.root.path(), &profile, &cmd);
    let real: PathBuf = match std::fs::canonicalize(&path) {
        Ok(r) => r,
        Err(_) => {
            return Err(Error::Other {
                message: berth_shim::missing_command(ctx.root.path(), &profile, &why, &cmd),
                hint: format!("`berth use {profile} PACKAGE` adds the package that provides it"),
            });
        }
    };
    if ctx.json {
        output::json(&serde_json::json!({
            "command": a.command,
            "profile": profile,
            "chosen_by": why,
            "generation": current,
            "path": path,
            "file": real,
        }));
    } else {
        println!("{}", real.display());
        println!("  via     {}", path.display());
        println!("  profile {profile} (generation {current}), chosen by {why}");
    }
    Ok(0)
}
