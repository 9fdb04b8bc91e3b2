//! `berth apply FILE`: converge a profile to a declarative profile file.

use super::{output, Ctx};
use crate::apply::converge::{self, Report};
use crate::apply::plan::{self, Ground, Step};
use crate::error::Result;
use std::path::PathBuf;

/// Converge a profile to a profile file: versions, config, users, directories, switch.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth apply profiles/site-a.toml --dry-run   # the plan: installs, config, users, dirs, switch
  berth apply profiles/site-a.toml             # converge; the second time: \"site-a: unchanged\"
  berth apply profiles/site-a.toml --json      # {\"changed\": …, \"changes\": […], …}
  berth apply profiles/site-a.toml --conf new  # take new config, keep yours as .berth-old

A profile file names the profile, its packages with a version or constraint (exact `7.59-1`,
any `*`, prefix `8.2.*`, or Debian relations `>= 7.59, << 8` with <<, <=, =, >=, >>; the
newest satisfying version wins, installed entries first, then the configured repositories'
last good indexes, from which a missing version is installed), config files rendered from
minijinja templates (relative to the profile file; an undefined variable is an error with
the template's line), system users (created when missing, never changed), and directories
in <root>/var/<profile>/ (owner, group, mode). See profiles/ for examples.

Config files follow dpkg's conffile rules: a file you did not edit is replaced by the new
rendering; one you edited is kept, and when the rendering changed too the new one is written
beside it as FILE.berth-dist (`berth config status` and `berth config diff` show them).
The same holds for the packages' config files on every switch, rollback included.
Running it again changes nothing and prints \"PROFILE: unchanged\". --dry-run changes nothing
and reports the same steps the real run carries out.")]
pub struct Args {
    /// The profile file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Where you edited a config file and a new one is shipped: keep yours (old, the
    /// default: the new one waits as .berth-dist) or take the new one (yours saved as
    /// .berth-old)
    #[arg(long, value_enum, default_value_t = Conf::Old)]
    pub conf: Conf,
}

/// `--conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Conf {
    /// Keep the operator's file.
    Old,
    /// Take the new file.
    New,
}

/// Runs `apply`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let (text, spec) = plan::load(&a.file)?;
    let take_new = a.conf == Conf::New;
    let report = if a.dry_run {
        let view = ctx.view()?;
        let ground = Ground {
            store: view.as_ref().map(|v| &v.store),
            take_new,
        };
        Report::preview(ground.store, &plan::plan(&ground, &a.file, text, spec)?)?
    } else {
        let l = ctx.lock()?;
        let ground = Ground {
            store: Some(&l.store),
            take_new,
        };
        let p = plan::plan(&ground, &a.file, text, spec)?;
        converge::run(
            &l.store,
            &l.lock,
            p,
            &super::profile::command_line(),
            &ctx.progress,
        )?
    };
    if ctx.json {
        output::json(&report);
    } else if !ctx.quiet {
        print(&report);
    }
    Ok(())
}

fn print(r: &Report) {
    let p = &r.profile;
    for n in &r.notes {
        eprintln!("note: {p}: {n}");
    }
    if !r.changed {
        println!("{p}: unchanged");
    } else {
        println!(
            "{p}: {}",
            if r.dry_run {
                "would change (dry run)"
            } else {
                "changed"
            }
        );
        for s in &r.changes {
            println!("  {}", line(s));
        }
    }
    for f in &r.pending {
        eprintln!(
            "notice: {p}: config {f} has a new version waiting as {f}.berth-dist beside your edit (`berth config diff {p} {f}`)"
        );
    }
}

fn line(s: &Step) -> String {
    match s {
        Step::Install {
            package,
            version,
            repository,
        } => format!("install {package}@{version} from {repository}"),
        Step::User { name } => format!("user {name}: create (system, no login)"),
        Step::Dir(w) => format!(
            "dir {}: {} ({}:{} {})",
            w.path, w.action, w.owner, w.group, w.mode
        ),
        Step::Config { path, action } => format!(
            "config {path}: {}",
            serde_json::to_value(action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        Step::TakePending { path } => {
            format!("config {path}: take {path}.berth-dist (yours saved as .berth-old)")
        }
        Step::Switch {
            from,
            to,
            packages,
            profile_file_changed,
            ..
        } => {
            let what = if !packages.is_empty() {
                packages.join(", ")
            } else if *profile_file_changed {
                "profile file changed".to_string()
            } else {
                "config renders differently".to_string()
            };
            match from {
                Some(f) => format!("switch generation {f} -> {to}: {what}"),
                None => format!("switch to generation {to} (new profile): {what}"),
            }
        }
        Step::Restart { profile } => format!("restart the service of {profile}"),
    }
}
