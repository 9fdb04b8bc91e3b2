//! The process tree of an isolated instance, so that nothing inside outlives what holds its
//! entries and nothing inside reaches the host:
//!
//! - **P**, berth itself (host root, or the caller): makes the user namespace, idmaps the
//!   package layers for it, keeps the hold's lock on a close-on-exec descriptor no process
//!   inside ever has, forwards signals, and exits with the instance's status;
//! - **A**, a small waiter in the user namespace but outside the new PID namespace: enters
//!   the namespaces, dies with P (`PR_SET_PDEATHSIG`), forwards signals to B;
//! - **B**, PID 1 of the new PID namespace: mounts the view and the boundary, starts C,
//!   forwards signals, reaps every process until none is left (a daemon's orphans are its
//!   children), then exits with C's status. When B ends, the kernel kills whatever is left
//!   in the namespace; B dies with A, A with P: the instance lasts exactly as long as P.
//! - **C**, the command: privileges dropped, then `exec`.
//!
//! Errors before `exec` travel back to P through a close-on-exec pipe (its end of file
//! means that the command started), so that berth reports them as it always does.

use super::error::{Ctx, Error};
use super::launch;
use super::mounts::{self, Layers, OverlayApi, Private, Upper};
use super::namespace::{self, Mode};
use super::plan::Plan;
use super::privileges::{self, Privileges};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;

/// Signals passed on to the command, as a terminal or a service manager sends them.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// What the instance needs beyond the plan.
#[derive(Debug)]
pub struct Boundary {
    /// As root: the first id of the profile's range (root inside).
    pub range: Option<u32>,
    /// What is hidden, and the profile's private /tmp and /run.
    pub private: Private,
    /// The caller's working directory: kept inside when the view has it, else `/`.
    pub cwd: Option<PathBuf>,
    /// The hold's descriptor, closed in every process of the instance.
    pub hold_fd: Option<RawFd>,
}

/// Everything the command needs.
pub struct Command<'a> {
    /// The program and its arguments.
    pub argv: &'a [OsString],
    /// Its whole environment (nothing of berth's own is passed on).
    pub env: &'a [(OsString, OsString)],
    /// The profile, for messages.
    pub profile: &'a str,
    /// Commands run first, each to its end (a unit's `ExecStartPre=`), and whether its
    /// failure is ignored.
    pub pre: &'a [(Vec<OsString>, bool)],
}

/// Runs the instance and waits for it: the command's exit status (128 + the signal that
/// killed it), or the error that kept it from starting.
pub fn run(
    plan: &Plan,
    mode: Mode,
    boundary: &Boundary,
    privileges: &Privileges,
    command: &Command,
) -> Result<i32, Error> {
    run_with(plan, mode, boundary, privileges, command, None)
}

/// [`run`], confined for maintainer scripts: every overlay writable into the throwaway
/// layer `upper` (nothing of the host is), and a network namespace of its own (no network).
pub fn run_confined(
    plan: &Plan,
    mode: Mode,
    boundary: &Boundary,
    privileges: &Privileges,
    command: &Command,
    upper: &Upper,
) -> Result<i32, Error> {
    run_with(plan, mode, boundary, privileges, command, Some(upper))
}

fn run_with(
    plan: &Plan,
    mode: Mode,
    boundary: &Boundary,
    privileges: &Privileges,
    command: &Command,
    upper: Option<&Upper>,
) -> Result<i32, Error> {
    namespace::check_kernel(mode)?;
    let userns = match (mode, boundary.range) {
        (Mode::Root, Some(base)) => Some(namespace::user_namespace(base)?),
        _ => None,
    };
    let layers = mounts::layers_with(plan, userns.as_ref(), upper.is_some())?;
    let api = OverlayApi::detect();
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    let mut old = SigSet::empty();
    // Blocked from before the first fork: a signal or a child's end is never missed, and
    // is taken with sigwait, not by a handler.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).ctx("block", "signals")?;
    let result = (|| {
        let (report_r, report_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx("create", "a pipe")?;
        // SAFETY: berth has one thread here; the child continues as a plain process that
        // never returns to the caller (it ends with _exit).
        match unsafe { fork() }.ctx("fork", "the instance")? {
            ForkResult::Child => {
                drop(report_r);
                if let Some(fd) = boundary.hold_fd {
                    // SAFETY: closes this process's copy of berth's own descriptor.
                    unsafe { libc::close(fd) };
                }
                let parent = nix::unistd::getppid();
                let code = waiter(
                    parent, mode, userns, layers, plan, api, boundary, privileges, command,
                    report_w, &set, upper,
                );
                // SAFETY: ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop((report_w, userns, layers));
                let mut report = Vec::new();
                let _ = std::fs::File::from(report_r).read_to_end(&mut report);
                let status = supervise(child, &set);
                match relayed(&report) {
                    Some(e) => Err(e),
                    None => Ok(status),
                }
            }
        }
    })();
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// A: enters the namespaces, forks B and waits for it.
#[allow(clippy::too_many_arguments)]
fn waiter(
    parent: Pid,
    mode: Mode,
    userns: Option<OwnedFd>,
    layers: Layers,
    plan: &Plan,
    api: OverlayApi,
    boundary: &Boundary,
    privileges: &Privileges,
    command: &Command,
    report: OwnedFd,
    set: &SigSet,
    upper: Option<&Upper>,
) -> i32 {
    let started = (|| -> Result<Pid, Error> {
        die_with_parent()?;
        if nix::unistd::getppid() != parent {
            // P is already gone: nothing would wait for the instance.
            return Err(Error::Relayed {
                message: "berth ended while the instance started".into(),
                hint: None,
                code: crate::error::exit::FAILURE,
            });
        }
        namespace::enter(mode, userns.as_ref(), upper.is_some())?;
        drop(userns);
        not_dumpable()?;
        // SAFETY: one thread; the child never returns (it ends with _exit).
        match unsafe { fork() }.ctx("fork", "the instance's init")? {
            ForkResult::Child => {
                let code = init(
                    layers, plan, api, boundary, privileges, command, &report, set, upper,
                );
                // SAFETY: ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Ok(child),
        }
    })();
    match started {
        Err(e) => fail(&report, &e),
        Ok(child) => {
            drop(report);
            supervise(child, set)
        }
    }
}

/// B, PID 1: mounts, forks C, reaps everything, exits with C's status.
#[allow(clippy::too_many_arguments)]
fn init(
    layers: Layers,
    plan: &Plan,
    api: OverlayApi,
    boundary: &Boundary,
    privileges: &Privileges,
    command: &Command,
    report: &OwnedFd,
    set: &SigSet,
    upper: Option<&Upper>,
) -> i32 {
    let started = (|| -> Result<Pid, Error> {
        die_with_parent()?;
        mounts::setup(plan, layers, &boundary.private, api, upper)?;
        let inside = boundary
            .cwd
            .as_ref()
            .is_some_and(|d| std::env::set_current_dir(d).is_ok());
        if !inside {
            std::env::set_current_dir("/").ctx("change directory to", "/")?;
        }
        // SAFETY: one thread; the child never returns (it ends with exec or _exit).
        match unsafe { fork() }.ctx("fork", "the command")? {
            ForkResult::Child => {
                let e = start(privileges, command);
                // SAFETY: ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(fail(report, &e)) }
            }
            ForkResult::Parent { child } => Ok(child),
        }
    })();
    let command = match started {
        Err(e) => return fail(report, &e),
        Ok(c) => c,
    };
    // SAFETY: closes this process's copy of the report pipe; C keeps its own until exec.
    unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(report)) };
    reap(command, set)
}

/// C: drops privileges and executes the command. Returns only on failure.
fn start(privileges: &Privileges, command: &Command) -> Error {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if let Err(e) = privileges::apply(privileges, true) {
        return e;
    }
    for (argv, ignore) in command.pre {
        if let Err(e) = launch::run_pre(argv, command.env) {
            if !*ignore {
                return e;
            }
            tracing::warn!("{e} (ignored: the line starts with `-`)");
        }
    }
    launch::exec(command.argv, command.env, command.profile, true)
}

/// Waits for `child` (the one child of P or A), passing signals on; its exit status.
fn supervise(child: Pid, set: &SigSet) -> i32 {
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => {}
            Err(_) => return crate::error::exit::FAILURE,
        }
    }
}

/// PID 1's loop: signals go to the command while it runs, then to every process left;
/// every child is reaped; when none is left, the command's status.
fn reap(command: Pid, set: &SigSet) -> i32 {
    let mut status: Option<i32> = None;
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let to = if status.is_none() {
                command
            } else {
                Pid::from_raw(-1)
            };
            let _ = kill(to, sig);
            continue;
        }
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(WaitStatus::Exited(pid, code)) if pid == command => status = Some(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == command => {
                    status = Some(128 + s as i32);
                }
                Ok(_) => {}
                Err(_) => return status.unwrap_or(crate::error::exit::FAILURE),
            }
        }
    }
}

/// Kills this process when its parent ends.
fn die_with_parent() -> Result<(), Error> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| Error::Privileges {
        step: "PR_SET_PDEATHSIG",
        source: e.into(),
    })
}

/// Not dumpable: no process of the instance's user can ptrace this one or open its /proc
/// files.
fn not_dumpable() -> Result<(), Error> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::Privileges {
        step: "PR_SET_DUMPABLE",
        source: e.into(),
    })
}

/// Sends `e` to P (exit code, a newline, the message) and returns its exit code.
fn fail(report: &OwnedFd, e: &Error) -> i32 {
    use crate::error::ModuleError;
    let code = e.exit_code();
    let relay = Relay {
        code,
        message: e.to_string(),
        hint: e.hint(),
    };
    if let (Ok(fd), Ok(bytes)) = (report.try_clone(), serde_json::to_vec(&relay)) {
        let _ = std::fs::File::from(fd).write_all(&bytes);
    }
    code
}

/// An error of a process of the instance, as it crosses the pipe to berth: what berth
/// prints and exits with, exactly as if it had been raised in berth itself.
#[derive(serde::Serialize, serde::Deserialize)]
struct Relay {
    code: i32,
    message: String,
    hint: Option<String>,
}

/// The error a process of the instance reported, if any.
fn relayed(report: &[u8]) -> Option<Error> {
    if report.is_empty() {
        return None;
    }
    let relay = serde_json::from_slice::<Relay>(report).unwrap_or_else(|_| Relay {
        code: crate::error::exit::FAILURE,
        message: String::from_utf8_lossy(report).into_owned(),
        hint: None,
    });
    Some(Error::Relayed {
        message: relay.message,
        hint: relay.hint,
        code: relay.code,
    })
}
