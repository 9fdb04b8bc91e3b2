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
    #[arg(long, value_name = "USER[:GROUP]", value_parser = parse_user)]
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

/// `USER[:GROUP]` of `--user`: a part written as a number must be an id the kernel can
/// hold. 4294967295 is `(uid_t)-1`, which setresuid/chown read as "leave unchanged", and a
/// larger number does not fit; both are bad input (exit 2), not a question of privileges.
fn parse_user(s: &str) -> std::result::Result<String, String> {
    let rest = s.strip_prefix("uid:").unwrap_or(s);
    let (user, group) = match rest.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (rest, None),
    };
    check_id("user", user)?;
    if let Some(g) = group {
        check_id("group", g.strip_prefix("gid:").unwrap_or(g))?;
    }
    Ok(s.to_string())
}

fn check_id(what: &str, part: &str) -> std::result::Result<(), String> {
    if part.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if part.starts_with('-') {
        return Err(format!(
            "`{}` is not a {what} name or id (ids are 0 to 4294967294)",
            part.escape_debug()
        ));
    }
    if part.bytes().all(|b| b.is_ascii_digit()) {
        match part.parse::<u32>() {
            Ok(u32::MAX) => {
                return Err(format!(
                "{what} id 4294967295 is (uid_t)-1, reserved: the kernel reads it as \"no change\""
            ))
            }
            Ok(_) => {}
            Err(_) => {
                return Err(format!(
                    "{what} id {part} is out of range (ids are 0 to 4294967294)"
                ))
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_out_of_range_or_reserved_are_bad_input() {
        for good in [
            "www-data",
            "0",
            "993:993",
            "uid:993:gid:5",
            "4294967294",
            "nobody:1",
        ] {
            assert_eq!(parse_user(good).as_deref(), Ok(good), "{good}");
        }
        for (bad, why) in [
            ("4294967295", "(uid_t)-1"),
            ("4294967296", "out of range"),
            ("1:4294967295", "group id 4294967295"),
            ("-1", "not a user name or id"),
            (":5", "user is empty"),
        ] {
            let e = parse_user(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
