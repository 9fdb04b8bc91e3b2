//! The command line: global flags, one module per command group, and the dispatch.

mod apply;
mod check;
mod completions;
mod config;
mod env;
mod gc;
mod generations;
mod info;
mod info_native;
mod install;
mod install_apt;
mod man;
mod output;
mod pack;
mod pick;
mod profile;
mod remove;
mod repo;
mod run;
mod service;
mod verify;
mod which;

use crate::check::known_names;
use crate::error::Result;
use crate::lock::LockedFile;
use crate::profile::Profiles;
use crate::progress::Progress;
use crate::root::Root;
use crate::store::Store;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (I/O error, a root others can write or that has a symlinked part, network …)
  2  usage: bad arguments, invalid name or version, ambiguous reference
  3  not found: no such file, package, version, profile or repository (HTTP 404)
  4  conflict: name@version clash, entry in use, path collision
  5  integrity: checksum mismatch, entries or objects that no longer verify (verify, check),
     bad or unpinned signature, rollback or freeze of a repository index
  6  refused input: unsafe or malformed archive, manifest, profile file or template
  7  timed out waiting for the root's lock (--lock-timeout)
  8  not permitted: needs a privilege the system does not grant (namespaces, --user)
  9  deploy: a pre-switch hook, the service restart or its health check failed; the
     switch was stopped or undone (rolled back to the previous generation)
126  run: the command was found but cannot be executed
127  run: the command was not found";

/// berth: install every version side by side; switch, roll back and clean up safely.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    /// Global flags.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The heading global options are listed under in `--help`.
const GLOBAL: &str = "Global options";

/// Flags every command takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The berth root [default: $BERTH_ROOT, else /var/lib/berth as root, else ~/.local/share/berth]
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub root: Option<PathBuf>,
    /// Print one JSON document instead of human output
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG also works
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Print only errors
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, help_heading = GLOBAL)]
    pub color: ColorChoice,
    /// Give up after waiting this many seconds for another berth command's lock
    #[arg(long, global = true, value_name = "SECS", help_heading = GLOBAL)]
    pub lock_timeout: Option<u64>,
    /// Go on although the root is writable by others or owned by another user (unsafe)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub insecure_permissions: bool,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal unless NO_COLOR is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a .berth package from a directory holding berth.toml
    Pack(pack::Args),
    /// Install .berth, .deb and .rpm packages and tarballs into the store
    Install(install::Args),
    /// List installed packages
    List(info::ListArgs),
    /// Show one installed package: manifest, origin, size, files
    Info(info::InfoArgs),
    /// Re-hash installed packages against their recorded file lists
    Verify(verify::Args),
    /// Remove installed packages
    Remove(remove::Args),
    /// Delete store entries no generation or pin references; prune old generations
    Gc(gc::Args),
    /// Keep installed packages although no profile uses them
    Pin(gc::PinArgs),
    /// Let gc delete pinned packages again
    Unpin(gc::UnpinArgs),
    /// Set how many generations gc keeps for one profile
    Keep(gc::KeepArgs),
    /// Verify every invariant of the root; --repair fixes what is safe
    Check(check::Args),
    /// Profiles, generations, shims and running (use, drop, rollback, switch …).
    #[command(flatten)]
    Profile(profile::Command),
    /// Keys and signed repositories (key, repo, update, search).
    #[command(flatten)]
    Repo(repo::Command),
    /// Converge a profile to a profile file (versions, config, users, dirs, switch)
    Apply(apply::Args),
    /// A profile's config files: status and your edits
    #[command(subcommand)]
    Config(config::Command),
    /// Print the completion script for bash, zsh or fish
    Completions(completions::Args),
    /// Print a manual page (roff), or write them all with --dir
    Man(man::Args),
    /// A profile as a systemd service: install or remove its unit
    #[command(subcommand)]
    Service(service::Command),
}

/// What every command gets: where the root is, and the output settings.
pub struct Ctx {
    root_path: PathBuf,
    insecure: bool,
    /// `--json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// Progress bars (stderr, terminals only).
    pub progress: Progress,
    lock_timeout: Option<Duration>,
}

/// An open root for reading: its store and profiles.
pub struct View {
    /// The root.
    pub root: Root,
    /// Its store.
    pub store: Store,
    /// Its profiles.
    pub profiles: Profiles,
}

/// An open root under its lock, for a mutation.
pub struct Locked {
    /// The store, created if needed.
    pub store: Store,
    /// The profiles.
    pub profiles: Profiles,
    /// The lock (released when this is dropped).
    pub lock: LockedFile,
}

impl Ctx {
    /// The root as it is, for a command that only reads (`None` when there is no root yet).
    pub fn view(&self) -> Result<Option<View>> {
        let Some(root) = Root::open(&self.root_path, self.insecure, &known_names())? else {
            return Ok(None);
        };
        Ok(Some(View {
            store: Store::open(&root)?,
            profiles: Profiles::new(&root),
            root,
        }))
    }

    /// The root's path (for messages when there is no root yet).
    pub fn root_path(&self) -> &std::path::Path {
        &self.root_path
    }

    /// Creates the root if needed and takes its lock for a mutation.
    pub fn lock(&self) -> Result<Locked> {
        let root = Root::create(&self.root_path, self.insecure, &known_names())?;
        let lock = LockedFile::acquire(root.dir(), self.lock_timeout)?;
        Ok(Locked {
            store: Store::create(&root, &lock)?,
            profiles: Profiles::new(&root),
            lock,
        })
    }
}

/// Runs a parsed command line. A command's other exit codes come from its error
/// (`Error::exit_code`), so success is the only value left to return.
pub fn run(cli: Cli) -> Result<()> {
    crate::lock::set_quiet(cli.global.quiet);
    let ctx = Ctx {
        root_path: crate::root::locate(cli.global.root.as_deref()),
        insecure: cli.global.insecure_permissions,
        json: cli.global.json,
        quiet: cli.global.quiet,
        progress: Progress::new(cli.global.quiet || cli.global.json),
        lock_timeout: cli.global.lock_timeout.map(Duration::from_secs),
    };
    match cli.command {
        Command::Pack(a) => pack::run(&ctx, a),
        // `--apt` has a module of its own (it shares install's rows and report).
        Command::Install(a) if a.apt => install_apt::run(&ctx, &a),
        Command::Install(a) => install::run(&ctx, a),
        Command::List(a) => info::list(&ctx, a),
        Command::Info(a) => info::info(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Remove(a) => remove::run(&ctx, a),
        Command::Gc(a) => gc::run(&ctx, a),
        Command::Pin(a) => gc::pin(&ctx, a),
        Command::Unpin(a) => gc::unpin(&ctx, a),
        Command::Keep(a) => gc::keep(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Profile(c) => profile::run(&ctx, c),
        Command::Repo(c) => repo::run(&ctx, c),
        Command::Apply(a) => apply::run(&ctx, a),
        Command::Config(c) => config::run(&ctx, c),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(&ctx, a),
        Command::Service(c) => service::run(&ctx, c),
    }
}
