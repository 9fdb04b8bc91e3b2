//! `berth run`: a command, or the profile's service, with a profile's environment; with
//! `--isolate`, in a private mount namespace where the profile's packages appear at their
//! usual paths; with `--user`/`--cap`, with privileges dropped. berth `exec`s, except under
//! `--isolate`, where it supervises the instance until its last process ends.

use super::which::choose;
use super::Ctx;
use crate::apply::state as apply_state;
use crate::error::Result;
use crate::isolate::hold::{self, Hold};
use crate::isolate::instance;
use crate::isolate::launch::{self, Source};
use crate::isolate::mounts::Private;
use crate::isolate::namespace::{self, Mode};
use crate::isolate::privileges::{self, resolve_user, Privileges};
use crate::isolate::service::{self, ServiceCommand};
use crate::isolate::users;
use crate::isolate::{plan, Error as IsolateError};
use crate::profile::{Generation, Profiles};
use crate::store::Entry;
use std::ffi::OsString;
use std::path::Path;

/// Examples and notes for `berth run --help`.
pub const AFTER_HELP: &str = "Examples:
  berth run site-b -- drush status                 # the profile's bin/ first on PATH
  berth run -- drush status                        # profile chosen like a shim does
  berth run --isolate site-a -- cat /usr/share/drupal7/VERSION
  berth run --isolate site-b --user www-data -- php-fpm8.2 -F
  berth run --isolate site-b                       # the profile's [service] exec
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
    /// Set this variable for the command (repeat for more); under --isolate the
    /// environment is otherwise clean
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,
    /// The command and its arguments, after `--` [default: the profile's [service] exec]
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

/// The standard PATH of an isolated run (the caller's may name directories of the host).
const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `run`. Returns only on failure: on success the command replaces berth.
pub fn run(ctx: &Ctx, a: Args) -> Result<i32> {
    let (profile, _why) = choose(ctx.root_path(), a.profile.as_deref())?;
    let (view, number) = super::profile::view_with_profile(ctx, &profile)?;
    let gen = view.profiles.read(&profile, number)?;
    let names: Vec<String> = gen.packages.iter().map(|p| p.entry_dir()).collect();
    let entries = plan::load_entries(&view.store, &names, &gen.prefer)?;
    if entries.is_empty() && (a.isolate || a.command.is_empty()) {
        return Err(IsolateError::NoPackages {
            profile,
            generation: number,
        }
        .into());
    }
    let service = match a.command.is_empty() {
        true => Some(service::find(&profile, &entries)?),
        false => None,
    };
    let user = match (&a.user, &service) {
        (Some(u), _) => Some((u.as_str(), Source::Flag)),
        (None, Some(s)) => s.user.as_deref().map(|u| (u, Source::Manifest)),
        (None, None) => None,
    };
    let caps: (&[String], Source) = match (&a.caps, &service) {
        (c, _) if !c.is_empty() => (c, Source::Flag),
        (_, Some(s)) => (&s.capabilities, Source::Manifest),
        _ => (&[], Source::Flag),
    };
    let privs = launch::privileges_for(user, caps, a.isolate)?;
    if a.isolate {
        isolated(
            ctx, &view, &profile, &gen, &entries, &privs, a.command, service, &a.env,
        )
    } else {
        let drop_privs = a.user.is_some() || !a.caps.is_empty() || service.is_some();
        plain(
            &view.profiles,
            &profile,
            &entries,
            drop_privs.then_some(&privs),
            a.command,
            service,
            &a.env,
        )
    }
}

/// The service's command line: a program with a `/` that does not start with one is
/// relative to the package root, which `root_of` gives.
fn service_argv(s: &ServiceCommand, root_of: impl Fn(usize) -> OsString) -> Vec<OsString> {
    let mut argv: Vec<OsString> = s.argv.iter().map(OsString::from).collect();
    let prog = &s.argv[0];
    if prog.contains('/') && !prog.starts_with('/') {
        let mut p = root_of(s.package);
        p.push("/");
        p.push(prog);
        argv[0] = p;
    }
    argv
}

fn identity_env(privs: &Privileges, env: &mut Vec<(OsString, OsString)>) {
    if let Some(id) = &privs.identity {
        if let Some(name) = &id.name {
            env.push(("USER".into(), name.into()));
            env.push(("LOGNAME".into(), name.into()));
        }
        if let Some(home) = &id.home {
            env.push(("HOME".into(), home.into()));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plain(
    profiles: &Profiles,
    profile: &str,
    entries: &[Entry],
    privs: Option<&Privileges>,
    command: Vec<OsString>,
    service: Option<ServiceCommand>,
    extra_env: &[(OsString, OsString)],
) -> Result<i32> {
    let link = profiles.link_path(profile);
    let old = std::env::var_os(crate::env::PATH);
    let path = profiles.path_env(profile, old.as_deref())?;
    let command = match &service {
        Some(s) => service_argv(s, |i| link.join("pkgs").join(entries[i].name()).into()),
        None => command,
    };
    let mut env = vec![
        (OsString::from(crate::env::PATH), path),
        (crate::env::BERTH_PROFILE.into(), profile.into()),
    ];
    if let Some(p) = privs {
        identity_env(p, &mut env);
        privileges::apply(p, nix::unistd::geteuid().is_root())?;
    }
    env.extend(extra_env.iter().cloned());
    Err(launch::exec(&command, &env, profile, false).into())
}

/// The isolated launch: everything it needs.
#[allow(clippy::too_many_arguments)]
fn isolated(
    ctx: &Ctx,
    view: &super::View,
    profile: &str,
    gen: &Generation,
    entries: &[Entry],
    privs: &Privileges,
    command: Vec<OsString>,
    service: Option<ServiceCommand>,
    extra_env: &[(OsString, OsString)],
) -> Result<i32> {
    let root = &view.root;
    let mode = Mode::for_caller();
    let binds = apply_state::binds(root, profile, entries);
    let plan = plan::plan(
        entries,
        binds,
        &root.path().join(crate::root::STORE),
        &hold::mount_point_dir(root),
        Path::new("/"),
    )?;
    namespace::check_kernel(mode)?;
    let l = ctx.lock()?;
    hold::clean_stale(root, &l.lock)?;
    let names: Vec<String> = entries.iter().map(|e| e.dir_name().to_string()).collect();
    // Loaded before the lock: gc may have taken an entry since.
    plan::load_entries(&l.store, &names, &[])?;
    // As root the instance's ids are the profile's range: its state belongs to them.
    let range = match mode {
        Mode::Root => Some(users::range_for(root, &l.lock, profile)?),
        Mode::UserNamespace { .. } => None,
    };
    let inside = privs.identity.as_ref().map(|i| (i.uid, i.gid));
    let (owner, private_owner) = match range {
        Some(base) => {
            apply_state::shift_into_range(root, profile, entries, base)?;
            let (u, g) = inside.unwrap_or((0, 0));
            (Some((base + u, base + g)), (base, base))
        }
        None => (
            inside,
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            ),
        ),
    };
    apply_state::prepare(root, &l.store, &l.lock, profile, entries, owner)?;
    let (tmp, run) = hold::private_dirs(root, &l.lock, profile, private_owner)?;
    let hold = Hold::create(root, &l.lock, profile, gen.number, &names)?;
    drop(l);
    let command = match &service {
        Some(s) => service_argv(s, |_| OsString::new()),
        None => command,
    };
    // A clean environment: the profile's, the identity's, TERM and what --env passes.
    let mut env = vec![
        (
            OsString::from(crate::env::PATH),
            OsString::from(STANDARD_PATH),
        ),
        (crate::env::BERTH_PROFILE.into(), profile.into()),
    ];
    if let Some(term) = std::env::var_os("TERM") {
        env.push(("TERM".into(), term));
    }
    let uid = match (&privs.identity, mode) {
        (Some(id), _) => id.uid,
        (None, Mode::Root) => 0,
        (None, Mode::UserNamespace { uid, .. }) => uid,
    };
    let me = privs
        .identity
        .clone()
        .or_else(|| resolve_user(&uid.to_string()).ok());
    if let Some(name) = me.as_ref().and_then(|i| i.name.as_ref()) {
        env.push(("USER".into(), name.into()));
        env.push(("LOGNAME".into(), name.into()));
    }
    let home = me.and_then(|i| i.home).unwrap_or_else(|| "/".into());
    env.push(("HOME".into(), home.into()));
    for (k, v) in extra_env {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
    let boundary = instance::Boundary {
        range,
        private: Private {
            root: root.path().to_path_buf(),
            tmp,
            run,
        },
        cwd: std::env::current_dir().ok(),
        hold_fd: Some(hold.raw_fd()),
    };
    let cmd = instance::Command {
        argv: &command,
        env: &env,
        profile,
    };
    let status = instance::run(&plan, mode, &boundary, privs, &cmd);
    hold.release();
    Ok(status?)
}
