//! The namespaces of an isolated instance: a user namespace (as root, one mapping the
//! profile's private id range, made once by a short-lived helper so that berth can idmap
//! the package layers for it; otherwise the caller's own uid and gid mapped to themselves),
//! then private mount, PID and IPC namespaces. `/` is made a slave right away, so that no
//! mount made inside reaches the host.

use super::error::{Ctx, Error};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{getegid, geteuid, ForkResult, Gid, Uid};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// How the namespace was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As root: a user namespace mapping the profile's id range (root inside is the
    /// range's first id outside).
    Root,
    /// As an unprivileged user: a user namespace mapping `uid`/`gid` to themselves.
    UserNamespace {
        /// The caller's uid (inside and outside).
        uid: u32,
        /// The caller's gid (inside and outside).
        gid: u32,
    },
}

impl Mode {
    /// How isolation would be done for the current process.
    pub fn for_caller() -> Mode {
        if geteuid().is_root() {
            Mode::Root
        } else {
            Mode::UserNamespace {
                uid: geteuid().as_raw(),
                gid: getegid().as_raw(),
            }
        }
    }
}

/// The running kernel's (major, minor) version, from uname.
pub fn kernel_version() -> (u32, u32, String) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse::<u32>().ok());
    let major = nums.next().unwrap_or(0);
    let minor = nums.next().unwrap_or(0);
    (major, minor, release)
}

/// Refuses early what this kernel cannot do, naming what is missing.
pub fn check_kernel(mode: Mode) -> Result<(), Error> {
    let (major, minor, release) = kernel_version();
    let v = (major, minor);
    if v < (5, 2) {
        return Err(Error::KernelTooOld {
            feature: "berth run --isolate (open_tree, move_mount)",
            needs: "5.2",
            have: release,
            hint: "run without --isolate",
        });
    }
    if mode == Mode::Root && v < (5, 12) {
        return Err(Error::KernelTooOld {
            feature: "berth run --isolate as root (idmapped package layers: mount_setattr)",
            needs: "5.12",
            have: release,
            hint: "run without --isolate",
        });
    }
    if matches!(mode, Mode::UserNamespace { .. }) && v < (5, 11) {
        return Err(Error::KernelTooOld {
            feature: "overlayfs in a user namespace (the userxattr option)",
            needs: "5.11",
            have: release,
            hint: "run berth as root, or without --isolate",
        });
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        // The module may load on first mount as root; say so only when it cannot.
        if mode != Mode::Root {
            return Err(Error::NoOverlayfs {
                detail: "`overlay` is not in /proc/filesystems".into(),
            });
        }
    }
    Ok(())
}

/// A user namespace mapping 0..65535 to `base`..`base`+65535, as a descriptor: a helper
/// process unshares it and waits; berth (root outside) writes its maps, keeps
/// `/proc/<helper>/ns/user` open and lets the helper go. The namespace lives while the
/// descriptor (and later the instance's processes in it) do.
pub fn user_namespace(base: u32) -> Result<OwnedFd, Error> {
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx("create", "a pipe");
    let (ready_r, ready_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    // SAFETY: berth has one thread here; the child only makes system calls and exits.
    match unsafe { nix::unistd::fork() }.ctx("fork", "a user namespace helper")? {
        ForkResult::Child => {
            drop((ready_r, hold_w));
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = std::fs::File::from(ready_w).write_all(if ok { b"1" } else { b"0" });
            // Until berth closes its end (or dies): EOF.
            let _ = std::fs::File::from(hold_r).read(&mut [0u8]);
            // SAFETY: _exit ends the forked child without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop((ready_w, hold_r));
            let mut b = [0u8];
            let ready = std::fs::File::from(ready_r).read(&mut b).unwrap_or(0) == 1 && b[0] == b'1';
            let result = (|| {
                if !ready {
                    return Err(Error::NotPermitted {
                        what: "a user namespace",
                        needs:
                            "CAP_SYS_ADMIN (berth runs as root, but without it: in a container? \
                                allow it, or run on the host)"
                                .into(),
                        source: std::io::Error::from_raw_os_error(libc::EPERM),
                    });
                }
                let map = format!("0 {base} {}\n", super::users::SIZE);
                write_proc(&format!("/proc/{child}/uid_map"), &map)?;
                write_proc(&format!("/proc/{child}/gid_map"), &map)?;
                let path = format!("/proc/{child}/ns/user");
                let fd = nix::fcntl::open(
                    path.as_str(),
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ctx("open", &path)?;
                // SAFETY: `open` returned a new descriptor that nothing else owns.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            })();
            drop(hold_w);
            let _ = nix::sys::wait::waitpid(child, None);
            result
        }
    }
}

/// Enters the instance's namespaces (in the process that will fork its PID 1): the user
/// namespace `userns` as root inside it (as root), or a new one mapping the caller's ids
/// to themselves; then new mount, PID and IPC namespaces, every mount a slave of the host's.
/// Must run while the process has one thread. With `no_network`, a network namespace of
/// its own too (only a loopback device, down).
pub fn enter(mode: Mode, userns: Option<&OwnedFd>, no_network: bool) -> Result<(), Error> {
    let mut rest = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC;
    if no_network {
        rest |= CloneFlags::CLONE_NEWNET;
    }
    match (mode, userns) {
        (Mode::Root, Some(ns)) => {
            setns(ns, CloneFlags::CLONE_NEWUSER).map_err(|e| Error::NotPermitted {
                what: "a user namespace",
                needs: "CAP_SYS_ADMIN (berth runs as root, but without it: in a container? \
                        allow it, or run on the host)"
                    .into(),
                source: e.into(),
            })?;
            // Root of the namespace: the range's first id outside, no host group kept.
            let step = |step: &'static str| {
                move |e: nix::Error| Error::Privileges {
                    step,
                    source: e.into(),
                }
            };
            nix::unistd::setgroups(&[]).map_err(step("setgroups"))?;
            let (g, u) = (Gid::from_raw(0), Uid::from_raw(0));
            nix::unistd::setresgid(g, g, g).map_err(step("setresgid"))?;
            nix::unistd::setresuid(u, u, u).map_err(step("setresuid"))?;
            unshare(rest).map_err(|e| Error::NotPermitted {
                what: "mount, PID and IPC namespaces",
                needs: "CAP_SYS_ADMIN in the user namespace (refused by a security module?)".into(),
                source: e.into(),
            })?;
            tracing::info!(
                "isolation: user namespace of the profile's id range, private mount, PID and \
                 IPC namespaces (as root)"
            );
        }
        (_, _) => {
            let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
            unshare(CloneFlags::CLONE_NEWUSER | rest).map_err(|e| Error::NotPermitted {
                what: "a user namespace",
                needs: userns_needs(),
                source: e.into(),
            })?;
            // Unprivileged writers must deny setgroups before writing gid_map.
            write_proc("/proc/self/setgroups", "deny")?;
            write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
            write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
            tracing::info!(
                "isolation: user namespace (unprivileged; uid {uid} and gid {gid} mapped to \
                 themselves) with private mount, PID and IPC namespaces"
            );
        }
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        what: "make mounts private under",
        path: "/".into(),
        hint: "this kernel refuses mount propagation changes; run as root",
        source: e.into(),
    })
}

fn write_proc(path: &str, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).ctx("write", path)
}

/// What to change so that unprivileged user namespaces work, with the current values.
fn userns_needs() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "absent on this kernel".into())
    };
    let mut needs = format!(
        "run berth as root, or allow unprivileged user namespaces: \
         sysctl kernel.unprivileged_userns_clone=1 (now: {}) and user.max_user_namespaces \
         above 0 and not exhausted (now: {}; a user namespace has its own limit)",
        read("/proc/sys/kernel/unprivileged_userns_clone"),
        read("/proc/sys/user/max_user_namespaces"),
    );
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
        needs.push_str(
            "; AppArmor restricts them: sysctl kernel.apparmor_restrict_unprivileged_userns=0",
        );
    }
    needs.push_str("; and none can be made from inside a chroot");
    needs
}
