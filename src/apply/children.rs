//! Every process a hook, restart or health command starts, found and ended: a process
//! group alone does not hold them (a child that calls `setsid` or forks twice leaves it), so
//! berth is a child subreaper while a command runs — orphans of the command become berth's
//! children instead of init's — and at the time limit it kills whatever descends from it
//! that was not there before, then reaps them.
//!
//! A signal that kills berth cannot be acted on by berth, and `PR_SET_PDEATHSIG` reaches
//! only a direct child. So each command runs under a supervisor: berth itself, re-executed
//! (`/proc/self/exe`, argv[0] [`SUPERVISOR`]), a child subreaper whose stdin is a pipe only
//! berth holds open. The pipe's hang-up says berth is gone, whatever ended it: the
//! supervisor then kills every process below it (what left the group included: as
//! subreaper, it inherits the orphans) and exits. It exits with the command's status when
//! the command ends, killing what the command left running first unless that may be the
//! service a restart command started.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`Scope::kill_all`] keeps killing and reaping at most: a fork bomb must not hold the
/// switch forever.
const SWEEP_LIMIT: Duration = Duration::from_secs(5);

/// A command's processes: berth as subreaper while it runs, and the descendants berth
/// already had before it (a daemon an earlier restart command left), which are not its.
#[derive(Debug)]
pub struct Scope {
    before: BTreeSet<i32>,
    was_subreaper: bool,
}

impl Scope {
    /// Makes berth a child subreaper and notes its current descendants.
    pub fn begin() -> Scope {
        let mut was = 0 as libc::c_int;
        // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer given.
        unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut was as *mut libc::c_int) };
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
        let set = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) };
        if set != 0 {
            tracing::warn!(
                "cannot become a child subreaper ({}): a command's children that leave its \
                 process group may outlive it",
                std::io::Error::last_os_error()
            );
        }
        Scope {
            before: descendants(&BTreeSet::new()),
            was_subreaper: was != 0,
        }
    }

    /// Kills every descendant of berth that appeared since [`Scope::begin`] (the
    /// command's children and their children, whatever session or group they moved to)
    /// and reaps those that are berth's, until none is left or [`SWEEP_LIMIT`] passes.
    pub fn kill_all(&self) {
        let start = Instant::now();
        loop {
            let left: Vec<i32> = descendants(&self.before).into_iter().collect();
            if left.is_empty() {
                return;
            }
            for &p in &left {
                let pid = nix::unistd::Pid::from_raw(p);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                // Not berth's child (yet: its parent is dying too) is ECHILD; tried again.
                let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            }
            if start.elapsed() >= SWEEP_LIMIT {
                tracing::warn!(
                    "{} process(es) a command started still run after {}s of killing",
                    left.len(),
                    SWEEP_LIMIT.as_secs()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.was_subreaper {
            // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0 as libc::c_ulong) };
        }
    }
}

/// The processes whose parent chain reaches berth without passing through `skip` (nor
/// what descends from it: a daemon left before forks workers of its own), from
/// `/proc/<pid>/stat`, zombies included (they still need reaping). Unreadable entries (a
/// process that just ended) are skipped.
fn descendants(skip: &BTreeSet<i32>) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut todo = vec![me];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if !skip.contains(&c) && out.insert(c) {
                todo.push(c);
            }
        }
    }
    out
}

/// The parent pid in `/proc/<pid>/stat`: the fourth field, counted after the command name
/// in parentheses (which may itself contain spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// For `pre_exec`: the command is killed when berth dies (between fork and exec, so only
/// async-signal-safe calls). `parent` is berth's pid, read before the fork: had berth died
/// already, the signal would never come, so the child ends itself. (The kernel sends it
/// when the spawning *thread* ends: commands are run and waited for on one thread.)
pub fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments and getppid are async-signal-safe system calls.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() as u32 != parent {
            libc::_exit(137);
        }
    }
    Ok(())
}

/// argv[0] of berth re-executed as a command's supervisor.
pub const SUPERVISOR: &str = "berth-supervise";

/// The supervisor's first argument: what it does with what the command leaves running.
const KILL: &str = "kill";
const KEEP: &str = "keep";

/// How often the supervisor looks at the command and at berth.
const TICK_MS: i32 = 20;

/// The supervisor of `sh -c command` (see the module's comment), ready to be given its
/// environment and output and spawned in its own process group; the returned pipe end must
/// be kept open by berth for as long as the command may run (dropping it ends the command
/// and everything it started).
pub fn supervised(command: &str, keep_leftovers: bool) -> std::io::Result<(Command, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut c = Command::new("/proc/self/exe");
    c.arg0(SUPERVISOR)
        .arg(if keep_leftovers { KEEP } else { KILL })
        .arg(command)
        .stdin(Stdio::from(read));
    Ok((c, write))
}

/// When berth was started as a supervisor ([`SUPERVISOR`] as argv[0]): supervises and
/// returns the exit code to end with. `None` otherwise (berth proper runs).
pub fn supervise_if_asked() -> Option<i32> {
    let mut args = std::env::args_os();
    if args.next().as_deref() != Some(std::ffi::OsStr::new(SUPERVISOR)) {
        return None;
    }
    let mode = args.next()?;
    let command = args.next()?;
    Some(supervise(mode == KEEP, &command))
}

fn supervise(keep: bool, command: &std::ffi::OsStr) -> i32 {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) };
    let me = std::process::id();
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c").arg(command).stdin(Stdio::null());
    // SAFETY: the closure makes only async-signal-safe system calls (prctl, getppid).
    let child = unsafe { sh.pre_exec(move || die_with_parent(me)) }.spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth: cannot run /bin/sh: {e}");
            return 127;
        }
    };
    let everything = Scope {
        before: BTreeSet::new(),
        was_subreaper: true,
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !keep {
                    everything.kill_all();
                }
                return exit_code(status);
            }
            Ok(None) => {}
            Err(_) => {
                everything.kill_all();
                return 1;
            }
        }
        if berth_gone() {
            // berth is gone: nobody waits for the command, and nothing may outlive it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            everything.kill_all();
            let _ = child.wait();
            return 137;
        }
    }
}

/// Waits up to one tick for a hang-up of stdin (the pipe only berth holds open): true
/// when berth is gone.
fn berth_gone() -> bool {
    let mut fds = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call.
    let n = unsafe { libc::poll(&mut fds, 1, TICK_MS) };
    if n <= 0 {
        return false;
    }
    if fds.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return true;
    }
    // Readable: berth never writes, so this is the end of the file.
    let mut b = [0u8; 1];
    // SAFETY: reads at most one byte into a one-byte buffer.
    let r = unsafe { libc::read(0, b.as_mut_ptr().cast(), 1) };
    r <= 0
}

/// The command's status as the supervisor's own: its exit code, or its signal raised again
/// (so that berth sees "killed by a signal").
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(c) = status.code() {
        return c;
    }
    if let Some(sig) = status.signal() {
        // SAFETY: resetting a signal to its default and raising it touch no memory.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return 128 + sig;
    }
    1
}
