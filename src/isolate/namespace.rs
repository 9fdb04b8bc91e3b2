//! Entering a private mount namespace: as root a plain `CLONE_NEWNS`; otherwise a user
//! namespace too (the caller's own uid and gid mapped to themselves), where the kernel
//! allows it. `/` is made a slave right away, so that no mount made here reaches the host.

use super::error::{Ctx, Error};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

/// How the namespace was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As root: a mount namespace only.
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

/// Unshares the mount namespace (and the user namespace when not root), writes the id maps
/// and makes every mount a slave of the host's. Must run while the process has one thread.
pub fn enter(mode: Mode) -> Result<(), Error> {
    match mode {
        Mode::Root => {
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| Error::NotPermitted {
                what: "a mount namespace",
                needs: "CAP_SYS_ADMIN (berth runs as root, but without it: in a container? \
                        allow it, or run on the host)"
                    .into(),
                source: e.into(),
            })?;
            tracing::info!("isolation: private mount namespace (as root)");
        }
        Mode::UserNamespace { uid, gid } => {
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|e| {
                Error::NotPermitted {
                    what: "a user namespace",
                    needs: userns_needs(),
                    source: e.into(),
                }
            })?;
            // Unprivileged writers must deny setgroups before writing gid_map.
            write_proc("/proc/self/setgroups", "deny")?;
            write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
            write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
            tracing::info!(
                "isolation: user namespace (unprivileged; uid {uid} and gid {gid} mapped to \
                 themselves) with a private mount namespace"
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
