//! Profile commands: `use`, `drop`, `rollback`, `switch`, `diff`, `profiles` (and the
//! dispatch of `generations`, `default`, `which`, `run`, which live in their own modules).

use super::pick::view_with_profile;
use super::{output, Ctx};
use crate::apply::deploy::{self, SwitchOp};
use crate::apply::spec::ProfileSpec;
use crate::error::{Error, Result};
use crate::package::printable::escaped;
use crate::profile::diff::diff;
use crate::profile::Target;
use serde::Serialize;

/// The profile commands (flattened into berth's command list).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a new generation of a profile with these packages (creates the profile)
    #[command(after_help = "Examples:
  berth use site-a drupal@7.59 php@8.2.7   # new generation of site-a (created if new)
  berth use site-a drupal@7.60             # replaces drupal only
  berth use site-a php                     # the highest installed php
  berth use site-a tools --prefer tools    # tools wins paths both provide
  berth use site-a hello@2.10-3 --strict   # refuse if a .deb's Depends are unmet
  berth use site-a app@2 --spec site-a.toml   # record this profile file with the switch

Nothing changes (and no generation is made) when the set is the same as now. Naming one
package twice (tool@1 tool@2) is refused. The Depends and Pre-Depends of .deb packages are
checked against the other packages of the new generation and the host's dpkg status
(/var/lib/dpkg/status): unmet ones are warnings, or an error with --strict. berth never
installs dependencies.

--spec records a declarative profile file (the format `berth apply` reads) in the new
generation, as apply does; later switches carry it forward. Its [service] restart and
health check, [backup] and [hooks] then surround every switch of the profile: a failed
health check switches back to the previous generation and exits 9.")]
    Use(UseArgs),
    /// Make a new generation without some packages
    #[command(
        after_help = "Examples:\n  berth drop site-a php\n  berth drop site-a php@8.2.7     # only if that is the version site-a holds\n\nA .deb left in the profile whose Depends the drop breaks gets a warning, as at `use`."
    )]
    Drop(DropArgs),
    /// Go back to the previous generation (or --to N); deletes nothing
    #[command(after_help = "Examples:
  berth rollback site-a
  berth rollback site-a --to 3
  berth rollback site-a --with-data   # also put back var/site-a/ as it was at that generation

--with-data restores the data snapshot taken when the profile left the target generation
(<root>/var/<profile>/.snapshots/<N>/, made before a switch when the profile file says
[backup] before_switch = true), after saving the current data as the snapshot of the
current generation. Without such a snapshot it refuses (exit 3) and changes nothing.")]
    Rollback(RollbackArgs),
    /// Make generation N current (same as rollback --to N)
    #[command(after_help = "Example:\n  berth switch site-a 3")]
    Switch(SwitchArgs),
    /// List a profile's generations (`*` marks the current one), or delete some
    Generations(super::generations::Args),
    /// Show what changed between two generations (default: the current and the one before)
    #[command(after_help = "Examples:\n  berth diff site-a\n  berth diff site-a --from 1 --to 4")]
    Diff(DiffArgs),
    /// List profiles: current generation, package count, default marker
    #[command(after_help = "Example:\n  berth profiles --json")]
    Profiles,
    /// Set (or show) the profile shims use when nothing else says
    #[command(after_help = "Examples:\n  berth default site-a\n  berth default")]
    Default(super::which::DefaultArgs),
    /// Show the file a shim would run for a command, and which rule chose the profile
    #[command(after_help = "Examples:\n  berth which drush\n  berth which drush --profile site-b")]
    Which(super::which::WhichArgs),
    /// Run a command (or the profile's service) with a profile's environment; --isolate
    /// runs it in an isolated instance with its packages at their usual paths
    #[command(after_help = super::run::AFTER_HELP)]
    Run(super::run::Args),
    /// Print a profile's environment (PATH, BERTH_PROFILE) for scripts and systemd
    Env(super::env::EnvArgs),
    /// Print a shell hook that puts the current directory's profile first on PATH
    Activate(super::env::ActivateArgs),
    /// (used by the `activate` hook) print the PATH update for the current directory
    #[command(hide = true)]
    HookEnv(super::env::HookArgs),
}

/// `use`.
#[derive(Debug, clap::Args)]
pub struct UseArgs {
    /// Profile name
    pub profile: String,
    /// Packages: name, name@version or name@id:PREFIX
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Let this package win paths and commands another package also provides
    #[arg(long, value_name = "NAME")]
    pub prefer: Vec<String>,
    /// Refuse (exit 4) when a .deb's Depends are not met by the profile or the host's dpkg
    #[arg(long)]
    pub strict: bool,
    /// Record this declarative profile file (as `berth apply` does) in the new generation
    #[arg(long, value_name = "FILE")]
    pub spec: Option<std::path::PathBuf>,
}

/// `drop`.
#[derive(Debug, clap::Args)]
pub struct DropArgs {
    /// Profile name
    pub profile: String,
    /// Package names (name@version drops only that version)
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
    /// Also restore the data snapshot of that generation (the current data is saved first)
    #[arg(long)]
    pub with_data: bool,
}

/// `switch`.
#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// Profile name
    pub profile: String,
    /// Generation number
    pub generation: u64,
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

/// Runs a profile command.
pub fn run(ctx: &Ctx, c: Command) -> Result<()> {
    match c {
        Command::Use(a) => {
            let spec = match &a.spec {
                Some(path) => Some(ProfileSpec::read_for(path, &a.profile)?),
                None => None,
            };
            with_switcher(
                ctx,
                &a.profile,
                SwitchOp::Use {
                    refs: a.packages,
                    prefer: a.prefer,
                    spec,
                },
                a.strict,
            )
        }
        Command::Drop(a) => {
            with_switcher(ctx, &a.profile, SwitchOp::Drop { names: a.packages }, false)
        }
        Command::Rollback(a) => {
            let t = a.to.map(Target::Number).unwrap_or(Target::Previous);
            let op = if a.with_data {
                SwitchOp::GoWithData(t)
            } else {
                SwitchOp::Go(t)
            };
            with_switcher(ctx, &a.profile, op, false)
        }
        Command::Switch(a) => with_switcher(
            ctx,
            &a.profile,
            SwitchOp::Go(Target::Number(a.generation)),
            false,
        ),
        Command::Generations(a) => super::generations::run(ctx, a),
        Command::Diff(a) => show_diff(ctx, a),
        Command::Profiles => profiles(ctx),
        Command::Default(a) => super::which::default(ctx, a),
        Command::Which(a) => super::which::which(ctx, a),
        Command::Run(a) => super::run::run(ctx, a),
        Command::Env(a) => super::env::env(ctx, a),
        Command::Activate(a) => super::env::activate(ctx, a),
        Command::HookEnv(a) => super::env::hook_env(ctx, a),
    }
}

/// The command line as recorded in a generation.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let _ = args.next();
    std::iter::once("berth".to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

fn with_switcher(ctx: &Ctx, profile: &str, op: SwitchOp, strict: bool) -> Result<()> {
    let l = ctx.lock()?;
    let change = deploy::switch(&l.store, &l.lock, profile, op, strict, &command_line())?;
    drop(l);
    // Warnings go to stderr whatever the output format (stdout stays one JSON document).
    // A warning line each, up to a count: 50,000 unmet dependencies must not flood the
    // terminal; `--json` lists every one.
    let unmet = &change.unmet_depends;
    for d in unmet.iter().take(crate::error::LIST_SHOWN) {
        eprintln!("warning: {}", escaped(&d.line()));
    }
    if unmet.len() > crate::error::LIST_SHOWN {
        eprintln!(
            "warning: … and {} more unmet dependencies (`--json` lists every one)",
            unmet.len() - crate::error::LIST_SHOWN
        );
    }
    if ctx.json {
        output::json(&change);
    } else if !ctx.quiet {
        let p = &change.profile;
        if !change.changed {
            println!("{p}: unchanged (generation {})", change.to);
        } else {
            let what = match (change.from, &change.diff) {
                (Some(f), Some(d)) => {
                    format!("generation {f} -> {}: {}", change.to, d.lines().join(", "))
                }
                _ => format!("generation {} (new profile)", change.to),
            };
            println!("{p}: {}", escaped(&what));
        }
        for n in &change.notes {
            println!("  {}", escaped(n));
        }
        for b in &change.shims.blocked {
            eprintln!("warning: shims/{b} is not a berth shim; left alone, so {b} has no shim");
        }
    }
    for w in &change.warnings {
        eprintln!("warning: {}", escaped(w));
    }
    if !ctx.quiet {
        for w in &change.advisories {
            eprintln!("warning: {}", escaped(w));
        }
    }
    Ok(())
}

fn show_diff(ctx: &Ctx, a: DiffArgs) -> Result<()> {
    let (v, current) = view_with_profile(ctx, &a.profile)?;
    let profiles = &v.profiles;
    let numbers = profiles.numbers(&a.profile)?;
    let to = a.to.unwrap_or(current);
    let from =
        match a.from {
            Some(f) => f,
            None => *numbers.iter().rev().find(|&&n| n < to).ok_or_else(|| {
                Error::NoEarlierGeneration {
                    profile: a.profile.clone(),
                    current: to,
                    what: "to compare it with (name both: --from A --to B)",
                }
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
            println!("  {}", escaped(&l));
        }
    }
    Ok(())
}

fn profiles(ctx: &Ctx) -> Result<()> {
    #[derive(Serialize)]
    struct Row {
        profile: String,
        current: Option<u64>,
        generations: usize,
        packages: usize,
        default: bool,
    }
    let mut rows = Vec::new();
    if let Some(v) = ctx.view()? {
        let dflt = v.profiles.default_profile();
        for p in v.profiles.list()? {
            let current = v.profiles.current(&p)?;
            let packages = match current {
                Some(n) => v.profiles.read(&p, n)?.packages.len(),
                None => 0,
            };
            rows.push(Row {
                default: dflt.as_deref() == Some(p.as_str()),
                generations: v.profiles.numbers(&p)?.len(),
                profile: p,
                current,
                packages,
            });
        }
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
    Ok(())
}
