//! `berth run`: a command, or the profile's service, with a profile's environment; with
//! `--isolate`, in an instance (own user, mount, PID and IPC namespaces, the host read-only)
//! where the profile's packages appear at their usual paths; with `--user`/`--cap`, with
//! privileges dropped. berth `exec`s, except under `--isolate`, where it supervises the
//! instance until its last process ends.

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
  berth run --isolate site-a --service nginx       # the nginx.service a package ships
  berth run --isolate site-b --user nobody --cap NET_BIND_SERVICE

--isolate: an instance with its own user namespace (as root: the profile's private range of
65536 ids, whose root is unprivileged on the host; otherwise only your own uid), mount, PID
and IPC namespaces, in which each top-level directory the packages provide (usr/, etc/,
opt/ …) is a read-only overlay of those packages over the host's directory, in the
profile's precedence. Everything else of the host is read-only; /proc is the instance's own
(its kernel tunables read-only), /dev is private, /tmp and /run are the profile's own, the
berth root is hidden but for the read-only store. [[config]] files and [[writable]]
directories are bound read-write from <root>/etc/<profile>/<package>/ and
<root>/var/<profile>/<package>/ (seeded from the package on first use, kept across switches
and rollbacks). Then --user (supplementary groups, group, user; as root without --user,
root inside keeps Docker's default capabilities), every capability dropped but each --cap,
no_new_privs, and exec. berth stays as the instance's supervisor: it passes signals on and
exits with the command's status when the last process inside has ended; until then gc
keeps (defers) the entries it uses.

Without a command, the profile's service runs: a package's [service] exec (relative to the
package root), else the systemd unit a native package ships (lib/systemd/system/*.service:
its ExecStartPre= lines first, then ExecStart=, User=, Group=, AmbientCapabilities=), with
its user and capabilities unless --user / --cap say otherwise; --service NAME picks one of
several, -v says which and from where. Under --isolate a native package's state directories
(the empty var/lib, var/log, var/cache, var/spool directories it ships, its unit's
StateDirectory=, LogsDirectory=, CacheDirectory=, ReadWritePaths= under /var, tmpfiles.d
lines under /var) are bound like [[writable]], its RuntimeDirectory= and tmpfiles.d lines
under /run are made in the profile's /run, and /etc/passwd and /etc/group are the host's
plus the profile's [[user]] records. --user and --cap also work
without --isolate (root only, except --user naming yourself). -v says which namespace
kind was used. Exit status: the command's; 127 when it is not found, 126 when it cannot be
executed; berth's own errors as listed in `berth --help`.";

/// `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Profile [default: chosen like a shim: $BERTH_PROFILE, .berth-profile, default profile]
    pub profile: Option<String>,
    /// Run in an isolated instance with the profile's packages at their usual paths
    #[arg(long)]
    pub isolate: bool,
    /// Run as this user, and group: names or numbers [default: the service's user, else yourself]
    #[arg(long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Keep this capability (repeat for more); every other one is dropped
    #[arg(long = "cap", value_name = "NAME")]
    pub caps: Vec<String>,
    /// Set this variable for the command (repeat for more); under --isolate the
    /// environment is otherwise clean
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,
    /// Without a command: which service runs when the profile has several (a unit's name
    /// without .service, or a package's name)
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The command and its arguments, after `--` [default: the profile's service]
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `NAME=VALUE` of `--env`.
fn parse_env(s: &str) -> std::result::Result<(OsString, OsString), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.into(), v.into())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

/// Runs `run`: without --isolate berth is replaced by the command; with it, berth exits
/// with the command's status.
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
        env: a.env,
        lock_timeout: ctx.lock_timeout,
        service: a.service,
    };
    let status = crate::run::launch(&view.store, req)?;
    // The instance's own exit status is berth's, as if berth had exec'd the command (as it
    // does without --isolate); berth's own failures came back as errors above.
    if status != 0 {
        drop(view);
        std::process::exit(status);
    }
    Ok(())
}
