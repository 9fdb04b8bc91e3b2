//! `berth run` as a request in, a launch out: the profile's environment, the identity to
//! drop to, and with `--isolate` the isolation plan, the seeded `etc/` and `var/` binds and
//! the hold that keeps gc off the entries while the command runs. Composes profile, isolate
//! and apply's state; the cli only parses the request and reports the error.

use crate::apply::{layout, state as apply_state};
use crate::error::Result;
use crate::isolate::accounts::Accounts;
use crate::isolate::hold::{self, Hold};
use crate::isolate::instance;
use crate::isolate::launch::{self, Source};
use crate::isolate::mounts::Private;
use crate::isolate::namespace::{self, Mode};
use crate::isolate::privileges::{self, resolve_user, Privileges};
use crate::isolate::service::{self, ServiceCommand};
use crate::isolate::shipped;
use crate::isolate::users;
use crate::isolate::{plan, Error as IsolateError};
use crate::lock::LockedFile;
use crate::profile::{Generation, Profiles};
use crate::store::{Entry, Store};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// The PATH of an isolated run (the caller's may name directories of the host).
const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    /// `--env NAME=VALUE`, each one (under `--isolate` the environment is otherwise clean).
    pub env: Vec<(OsString, OsString)>,
    /// How long to wait for the root's lock (`--lock-timeout`).
    pub lock_timeout: Option<Duration>,
    /// `--service NAME`: which of several services runs when no command is given.
    pub service: Option<String>,
}

/// What the profile's native packages ship for running (units, implied state, runtime
/// directories), and who exists in its view.
struct Shipped {
    per_entry: Vec<shipped::Shipped>,
    accounts: Accounts,
}

impl Shipped {
    fn read(store: &Store, entries: &[Entry]) -> Result<Shipped> {
        let mut per_entry = Vec::with_capacity(entries.len());
        for e in entries {
            per_entry.push(shipped::read(store, e)?);
        }
        Ok(Shipped {
            per_entry,
            accounts: Accounts::of(entries),
        })
    }

    fn implicit(&self) -> Vec<Vec<crate::package::manifest::PathEntry>> {
        self.per_entry.iter().map(|s| s.state.clone()).collect()
    }
}

/// Whether a package of `entries` ships the absolute path `path` (on a merged-/usr view
/// `/bin/x` and `/usr/bin/x` are one).
fn provided(store: &Store, entries: &[Entry], path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    let alias = match rel.strip_prefix("usr/") {
        Some(r) if ["bin/", "sbin/", "lib/"].iter().any(|p| r.starts_with(p)) => {
            Some(r.to_string())
        }
        _ if ["bin/", "sbin/", "lib/"].iter().any(|p| rel.starts_with(p)) => {
            Some(format!("usr/{rel}"))
        }
        _ => None,
    };
    entries.iter().any(|e| {
        store.open_entry(e).is_ok_and(|d| {
            [Some(rel.to_string()), alias.clone()]
                .into_iter()
                .flatten()
                .any(|r| d.stat(&r).ok().flatten().is_some())
        })
    })
}

/// Carries out `req`. Without `--isolate` it returns only on failure (the command replaces
/// berth); with it, the command's exit status once the instance's last process has ended.
pub fn launch(store: &Store, req: Request) -> Result<i32> {
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
    let shipped = match req.isolate || req.command.is_empty() {
        true => Shipped::read(store, &entries)?,
        false => Shipped {
            per_entry: Vec::new(),
            accounts: Accounts::default(),
        },
    };
    let from_file = match (req.command.is_empty(), &req.service) {
        (true, None) => profile_file_service(&profiles, &req.profile, &gen)?,
        _ => None,
    };
    let service = match req.command.is_empty() {
        true if from_file.is_some() => from_file,
        true => {
            let units: Vec<Vec<_>> = shipped.per_entry.iter().map(|s| s.units.clone()).collect();
            let s = service::find(
                &req.profile,
                &entries,
                &units,
                req.service.as_deref(),
                &|p| provided(store, &entries, p),
            )?;
            tracing::info!("profile {}: runs the service {}", req.profile, s.from);
            Some(s)
        }
        false => None,
    };
    let privs = privileges(&req, service.as_ref(), &shipped.accounts)?;
    if req.isolate {
        isolated(store, &req, &gen, &entries, &privs, service, &shipped)
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

/// The `[service]` of the profile file the generation records (`use --spec`, `apply`): it
/// comes before the packages' own, as `berth service install` and `apply` use it. Its
/// first word is a command of the profile (found on PATH: the profile's `bin/`, or the
/// usual paths inside an isolated view).
fn profile_file_service(
    profiles: &Profiles,
    profile: &str,
    gen: &Generation,
) -> Result<Option<ServiceCommand>> {
    let Some(spec) = crate::apply::spec::ProfileSpec::recorded(profiles, profile, gen)? else {
        return Ok(None);
    };
    let Some(s) = spec.service else {
        return Ok(None);
    };
    let argv = service::split(&s.exec).map_err(|why| IsolateError::BadServiceExec {
        package: format!("the profile file of {profile} (generation {})", gen.number),
        exec: s.exec.clone(),
        why,
    })?;
    if argv.is_empty() {
        return Ok(None);
    }
    tracing::info!(
        "profile {profile}: runs the profile file's [service] ({})",
        s.exec
    );
    Ok(Some(ServiceCommand {
        package: 0,
        argv,
        pre: vec![],
        user: s.user.map(|u| u.replace("uid:", "").replace("gid:", "")),
        capabilities: s.capabilities,
        name: profile.to_string(),
        from: "the profile file's [service]".into(),
    }))
}

/// The identity and capabilities to drop to: the flags', else the service's.
fn privileges(
    req: &Request,
    service: Option<&ServiceCommand>,
    accounts: &Accounts,
) -> Result<Privileges> {
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
    Ok(launch::privileges_for(user, caps, req.isolate, accounts)?)
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

/// The service's `ExecStartPre=` lines as the launch takes them.
fn pre_commands(service: Option<&ServiceCommand>) -> Vec<(Vec<OsString>, bool)> {
    service.map_or_else(Vec::new, |s| {
        s.pre
            .iter()
            .map(|(argv, ignore)| (argv.iter().map(OsString::from).collect(), *ignore))
            .collect()
    })
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
) -> Result<i32> {
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
    env.extend(req.env.iter().cloned());
    for (argv, ignore) in pre_commands(service.as_ref()) {
        if let Err(e) = launch::run_pre(&argv, &env) {
            if !ignore {
                return Err(e.into());
            }
            tracing::warn!("{e} (ignored: the line starts with `-`)");
        }
    }
    Err(launch::exec(&command, &env, profile, false).into())
}

/// The isolated launch: plan, kernel check, then under the lock the stale holds, the
/// entries again, the profile's id range, the seeded binds, its private /tmp and /run and
/// this run's hold; then the instance, supervised until its last process ends.
fn isolated(
    store: &Store,
    req: &Request,
    gen: &Generation,
    entries: &[Entry],
    privs: &Privileges,
    service: Option<ServiceCommand>,
    shipped: &Shipped,
) -> Result<i32> {
    let root = store.root();
    let profile = req.profile.as_str();
    let mode = Mode::for_caller();
    let paths = layout::state_paths(entries, &shipped.implicit());
    let binds = layout::binds(root, profile, entries, &paths);
    let plan = plan::plan(
        entries,
        binds,
        &root.path().join(crate::root::STORE),
        &hold::mount_point_dir(root),
        Path::new("/"),
    )?;
    namespace::check_kernel(mode)?;
    let prepared = prepare(store, req, gen, entries, privs, mode, &paths, shipped)?;
    let command = match &service {
        Some(s) => service_argv(s, |_| OsString::new()),
        None => req.command.clone(),
    };
    let env = clean_env(req, privs, mode);
    let boundary = instance::Boundary {
        range: prepared.range,
        private: Private {
            root: root.path().to_path_buf(),
            tmp: prepared.tmp,
            run: prepared.run,
            accounts: prepared.accounts,
        },
        cwd: std::env::current_dir().ok(),
        hold_fd: Some(prepared.hold.raw_fd()),
    };
    let pre = pre_commands(service.as_ref());
    let cmd = instance::Command {
        argv: &command,
        env: &env,
        profile,
        pre: &pre,
    };
    let status = instance::run(&plan, mode, &boundary, privs, &cmd);
    prepared.hold.release();
    Ok(status?)
}

/// What an isolated run prepared under the root's lock.
struct Prepared {
    /// The first host id of the profile's range (as root).
    range: Option<u32>,
    /// The profile's private /tmp and /run on the host.
    tmp: std::path::PathBuf,
    run: std::path::PathBuf,
    /// The view's passwd and group, when the profile has users of its own.
    accounts: Option<std::path::PathBuf>,
    /// This run's hold on its entries.
    hold: Hold,
}

/// Under the root's lock: clears stale holds, makes sure gc has not taken an entry since
/// they were loaded, gives the profile its id range (as root; its state belongs to that
/// range), seeds the binds' sources, makes its private /tmp and /run and records the hold.
#[allow(clippy::too_many_arguments)]
fn prepare(
    store: &Store,
    req: &Request,
    gen: &Generation,
    entries: &[Entry],
    privs: &Privileges,
    mode: Mode,
    paths: &[layout::StatePath],
    shipped: &Shipped,
) -> Result<Prepared> {
    let root = store.root();
    let profile = req.profile.as_str();
    let lock = LockedFile::acquire(root.dir(), req.lock_timeout)?;
    let store = Store::create(root, &lock)?;
    hold::clean_stale(root, &lock)?;
    let names: Vec<String> = entries.iter().map(|e| e.dir_name().to_string()).collect();
    // Loaded before the lock: gc may have taken an entry since.
    plan::load_entries(&store, &names, &[])?;
    let range = match mode {
        Mode::Root => Some(users::range_for(root, &lock, profile)?),
        Mode::UserNamespace { .. } => None,
    };
    let inside = privs.identity.as_ref().map(|i| (i.uid, i.gid));
    let (owner, private_owner) = match range {
        Some(base) => {
            apply_state::shift_into_range(root, profile, paths, base)?;
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
    let owners = apply_state::Owners {
        default: owner,
        accounts: &shipped.accounts,
        base: range,
    };
    apply_state::prepare(root, &store, &lock, profile, entries, paths, &owners)?;
    let (tmp, run) = hold::private_dirs(root, &lock, profile, private_owner)?;
    let mut runtime = Vec::new();
    for r in shipped.per_entry.iter().flat_map(|s| s.runtime.iter()) {
        let ids = match (&r.owner, range) {
            (Some(o), Some(base)) => {
                let (u, g) = shipped.accounts.owner_ids(o)?;
                (base + u, base + g)
            }
            _ => private_owner,
        };
        runtime.push((r.path.clone(), r.mode, ids));
    }
    hold::runtime_dirs(root, &lock, profile, &runtime)?;
    let accounts = hold::accounts_dir(root, &lock, profile, &shipped.accounts)?;
    let hold = Hold::create(root, &lock, profile, gen.number, &names)?;
    Ok(Prepared {
        range,
        tmp,
        run,
        accounts,
        hold,
    })
}

/// A clean environment: the standard PATH, the profile, TERM, the identity's USER, LOGNAME
/// and HOME (`/` for a uid without a passwd entry), then what `--env` passes.
fn clean_env(req: &Request, privs: &Privileges, mode: Mode) -> Vec<(OsString, OsString)> {
    let mut env = vec![
        (
            OsString::from(crate::env::PATH),
            OsString::from(STANDARD_PATH),
        ),
        (
            crate::env::BERTH_PROFILE.into(),
            req.profile.as_str().into(),
        ),
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
    for (k, v) in &req.env {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
    env
}
