//! `berth run` as a request in, a launch out: the profile's environment, the identity to
//! drop to, and with `--isolate` the isolation plan, the seeded `etc/` and `var/` binds and
//! the hold that keeps gc off the entries while the command runs. Composes profile, isolate
//! and apply's state; the cli only parses the request and reports the error.

use crate::apply::{layout, state as apply_state};
use crate::error::Result;
use crate::isolate::hold::{self, Hold};
use crate::isolate::launch::{self, Source};
use crate::isolate::namespace::{self, Mode};
use crate::isolate::privileges::{self, Privileges};
use crate::isolate::service::{self, ServiceCommand};
use crate::isolate::{plan, Error as IsolateError};
use crate::lock::LockedFile;
use crate::profile::{Generation, Profiles};
use crate::store::{Entry, Store};
use std::convert::Infallible;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// PATH inside an isolated run when berth was started without one.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `berth run` was asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The profile (already chosen and known to exist).
    pub profile: String,
    /// Its current generation.
    pub generation: u64,
    /// In a private mount namespace with the packages at their usual paths.
    pub isolate: bool,
    /// `--user USER[:GROUP]`.
    pub user: Option<String>,
    /// `--cap NAME`, each one.
    pub caps: Vec<String>,
    /// The command and its arguments; empty runs the profile's `[service]` exec.
    pub command: Vec<OsString>,
    /// How long to wait for the root's lock (`--lock-timeout`).
    pub lock_timeout: Option<Duration>,
}

/// Carries out `req`. Returns only on failure: on success the command replaces berth.
pub fn launch(store: &Store, req: Request) -> Result<Infallible> {
    let profiles = Profiles::new(store.root());
    let gen = profiles.read(&req.profile, req.generation)?;
    let names: Vec<String> = gen.packages.iter().map(|p| p.entry_dir()).collect();
    let entries = plan::load_entries(store, &names, &gen.prefer)?;
    if entries.is_empty() && (req.isolate || req.command.is_empty()) {
        return Err(IsolateError::NoPackages {
            profile: req.profile,
            generation: req.generation,
        }
        .into());
    }
    let service = match req.command.is_empty() {
        true => Some(service::find(&req.profile, &entries)?),
        false => None,
    };
    let privs = privileges(&req, service.as_ref())?;
    if req.isolate {
        isolated(store, &req, &gen, &entries, &privs, service)
    } else {
        let drop_privs = req.user.is_some() || !req.caps.is_empty() || service.is_some();
        plain(
            &profiles,
            &req,
            &entries,
            drop_privs.then_some(&privs),
            service,
        )
    }
}

/// The identity and capabilities to drop to: the flags', else the service's.
fn privileges(req: &Request, service: Option<&ServiceCommand>) -> Result<Privileges> {
    let user = match (&req.user, service) {
        (Some(u), _) => Some((u.as_str(), Source::Flag)),
        (None, Some(s)) => s.user.as_deref().map(|u| (u, Source::Manifest)),
        (None, None) => None,
    };
    let caps: (&[String], Source) = match (&req.caps, service) {
        (c, _) if !c.is_empty() => (c, Source::Flag),
        (_, Some(s)) => (&s.capabilities, Source::Manifest),
        _ => (&[], Source::Flag),
    };
    Ok(launch::privileges_for(user, caps, req.isolate)?)
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

/// Without isolation: the profile's `bin/` first on PATH, then exec.
fn plain(
    profiles: &Profiles,
    req: &Request,
    entries: &[Entry],
    privs: Option<&Privileges>,
    service: Option<ServiceCommand>,
) -> Result<Infallible> {
    let profile = req.profile.as_str();
    let old = std::env::var_os(crate::env::PATH);
    let path = profiles.path_env(profile, old.as_deref())?;
    let command = match &service {
        Some(s) => service_argv(s, |i| {
            profiles.package_path(profile, entries[i].name()).into()
        }),
        None => req.command.clone(),
    };
    let mut env = vec![
        (OsString::from(crate::env::PATH), path),
        (crate::env::BERTH_PROFILE.into(), profile.into()),
    ];
    if let Some(p) = privs {
        identity_env(p, &mut env);
        privileges::apply(p, nix::unistd::geteuid().is_root())?;
    }
    Err(launch::exec(&command, &env, profile).into())
}

/// The isolated launch: plan, kernel check, then under the lock the stale holds, the
/// entries again, the seeded binds and this run's hold; then exec in the namespace.
fn isolated(
    store: &Store,
    req: &Request,
    gen: &Generation,
    entries: &[Entry],
    privs: &Privileges,
    service: Option<ServiceCommand>,
) -> Result<Infallible> {
    let root = store.root();
    let profile = req.profile.as_str();
    let mode = Mode::for_caller();
    let binds = layout::binds(root, profile, entries);
    let plan = plan::plan(
        entries,
        binds,
        &root.path().join(crate::root::STORE),
        &hold::mount_point_dir(root),
        Path::new("/"),
    )?;
    namespace::check_kernel(mode)?;
    let hold = hold_entries(store, req, gen, entries, privs)?;
    let command = match &service {
        Some(s) => service_argv(s, |_| OsString::new()),
        None => req.command.clone(),
    };
    let path = std::env::var_os(crate::env::PATH)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let mut env = vec![
        (OsString::from(crate::env::PATH), path),
        (crate::env::BERTH_PROFILE.into(), profile.into()),
    ];
    identity_env(privs, &mut env);
    let err = launch::isolated(&plan, mode, privs, &command, &env, profile);
    hold.release();
    Err(err.into())
}

/// Under the root's lock: clears stale holds, makes sure gc has not taken an entry since
/// they were loaded, seeds the binds' sources and records this run's hold.
fn hold_entries(
    store: &Store,
    req: &Request,
    gen: &Generation,
    entries: &[Entry],
    privs: &Privileges,
) -> Result<Hold> {
    let root = store.root();
    let lock = LockedFile::acquire(root.dir(), req.lock_timeout)?;
    let store = Store::create(root, &lock)?;
    hold::clean_stale(root, &lock)?;
    let names: Vec<String> = entries.iter().map(|e| e.dir_name().to_string()).collect();
    // Loaded before the lock: gc may have taken an entry since.
    plan::load_entries(&store, &names, &[])?;
    let owner = privs.identity.as_ref().map(|i| (i.uid, i.gid));
    apply_state::prepare(root, &store, &lock, &req.profile, entries, owner)?;
    Hold::create(root, &lock, &req.profile, gen.number, &names)
}
