//! `berth run`: a command, or the profile's service, with a profile's environment; with
//! `--isolate`, in a private mount namespace where the profile's packages appear at their
//! usual paths; with `--user`/`--cap`, with privileges dropped. berth `exec`s: it does not
//! stay as a parent.

use super::pick::{choose, view_with_profile};
use super::Ctx;
use crate::error::Result;
use crate::run::Request;
use std::ffi::OsString;

/// Examples and notes for `berth run --help`.
pub const AFTER_HELP: &str = "Examples:
  berth run site-b -- drush status                 # the profile's bin/ first on PATH
  berth run -- drush status                        # profile chosen like a shim does
  berth run --isolate site-a -- cat /usr/share/drupal7/VERSION
  berth run --isolate site-b --user www-data -- php-fpm8.2 -F
  berth run --isolate site-b                       # the profile's [service] exec
  berth run --isolate site-b --user nobody --cap NET_BIND_SERVICE

--isolate: a private mount namespace (as root; otherwise a user namespace where the kernel
allows it, mapping only your own uid) in which each top-level directory the packages
provide (usr/, etc/, opt/ …) is a read-only overlay of those packages over the host's
directory, in the profile's precedence. [[config]] files and [[writable]] directories are
bound read-write from <root>/etc/<profile>/<package>/ and <root>/var/<profile>/<package>/
(seeded from the package on first use, kept across switches and rollbacks). The store is
read-only, even for root. Then --user (supplementary groups, group, user), every capability
dropped but each --cap, no_new_privs, and exec: the service receives signals directly, and
the namespace ends with it. While it runs, gc keeps (defers) the entries it uses.

Without a command, the profile's [service] exec runs (relative to the package root), with
its user and capabilities unless --user / --cap say otherwise. --user and --cap also work
without --isolate (root only, except --user naming yourself). -v says which namespace
kind was used. Exit status: the command's; 127 when it is not found, 126 when it cannot be
executed; berth's own errors as listed in `berth --help`.";

/// `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Profile [default: chosen like a shim: $BERTH_PROFILE, .berth-profile, default profile]
    pub profile: Option<String>,
    /// Run in a private mount namespace with the profile's packages at their usual paths
    #[arg(long)]
    pub isolate: bool,
    /// Run as this user, and group: names or numbers [default: the service's user, else yourself]
    #[arg(long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Keep this capability (repeat for more); every other one is dropped
    #[arg(long = "cap", value_name = "NAME")]
    pub caps: Vec<String>,
    /// The command and its arguments, after `--` [default: the profile's [service] exec]
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Runs `run`. Returns only on failure: on success the command replaces berth.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let (profile, _why) = choose(ctx.root_path(), a.profile.as_deref())?;
    let (view, generation) = view_with_profile(ctx, &profile)?;
    let req = Request {
        profile,
        generation,
        isolate: a.isolate,
        user: a.user,
        caps: a.caps,
        command: a.command,
        lock_timeout: ctx.lock_timeout,
    };
    match crate::run::launch(&view.store, req)? {}
}
