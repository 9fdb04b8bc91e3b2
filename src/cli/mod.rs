//! The command line: global flags, one module per command group, and the dispatch.

mod check;
mod gc;
mod info;
mod install;
mod output;
mod pack;
mod profile;
mod remove;
mod repo;
mod verify;

use crate::error::Result;
use crate::progress::Progress;
use crate::root::Root;
use crate::store::{LockedFile, Store};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (I/O error, corrupt store entry, network failure …)
  2  usage: bad arguments, invalid name or version, ambiguous reference
  3  not found: no such file, package, version, profile or repository (HTTP 404)
  4  conflict: name@version clash, entry in use, path collision
  5  integrity: checksum mismatch, files that no longer verify, bad or unpinned
     signature, rollback or freeze of a repository index
  6  refused input: unsafe or malformed archive or manifest
  7  timed out waiting for the root's lock (--lock-timeout)";

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

/// Flags every command takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The berth root [default: $BERTH_ROOT, else /var/lib/berth as root, else ~/.local/share/berth]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print one JSON document instead of human output
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG also works
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Give up after waiting this many seconds for another berth command's lock
    #[arg(long, global = true, value_name = "SECS")]
    pub lock_timeout: Option<u64>,
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
    /// Install .berth packages and tarballs into the store
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
}

/// What every command gets: the root and the output settings.
pub struct Ctx {
    /// The root.
    pub root: Root,
    /// Its store.
    pub store: Store,
    /// `--json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// Progress bars (stderr, terminals only).
    pub progress: Progress,
    lock_timeout: Option<Duration>,
}

impl Ctx {
    /// Takes the root's lock for a mutation.
    pub fn lock(&self) -> Result<LockedFile> {
        LockedFile::acquire(&self.root.lock_file(), self.lock_timeout)
    }
}

/// Runs a parsed command line; returns the exit code for success paths that still report a
/// problem (none yet: problems are errors).
pub fn run(cli: Cli) -> Result<i32> {
    let root = Root::resolve(cli.global.root.as_deref());
    let ctx = Ctx {
        store: Store::new(&root),
        root,
        json: cli.global.json,
        quiet: cli.global.quiet,
        progress: Progress::new(cli.global.quiet || cli.global.json),
        lock_timeout: cli.global.lock_timeout.map(Duration::from_secs),
    };
    match cli.command {
        Command::Pack(a) => pack::run(&ctx, a),
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
    }
}
