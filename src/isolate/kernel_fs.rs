//! The kernel's interfaces inside an instance, and what hides the host's: a fresh `/proc`
//! for its PID namespace with the kernel tunables read-only (`ProtectKernelTunables=`), a
//! private `/dev` (bubblewrap's `--dev`, systemd's `PrivateDevices=`), and the berth root
//! covered but for the read-only store (`InaccessiblePaths=`).

use super::attach::{attach, clone, remount, Pending};
use super::error::{Ctx, Error};
use super::syscalls;
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// Host device nodes a private /dev gets (as bubblewrap's `--dev`).
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Parts of the fresh /proc that change the kernel, made read-only.
const PROC_READ_ONLY: [&str; 5] = ["sys", "sysrq-trigger", "irq", "bus", "fs"];

/// The host's device nodes a private /dev gets, cloned before anything covers /dev.
pub(super) fn clone_dev_nodes() -> Vec<Pending> {
    let mut devs = Vec::new();
    for n in DEV_NODES {
        let p = Path::new("/dev").join(n);
        if let Ok(tree) = syscalls::clone_one(&p) {
            devs.push(Pending { tree, target: p });
        }
    }
    devs
}

/// A fresh `proc` for the instance's PID namespace (a process inside sees and signals only
/// its own), its kernel tunables bound read-only onto themselves.
pub(super) fn fresh_proc() -> Result<(), Error> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>).map_err(|e| Error::Mount {
        what: "mount a fresh proc on",
        path: "/proc".into(),
        hint: "the kernel allows proc in a PID namespace only where the host's /proc is fully visible (not covered in part, as in some containers)",
        source: e.into(),
    })?;
    for name in PROC_READ_ONLY {
        let p = Path::new("/proc").join(name);
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        mount(
            Some(&p),
            &p,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::Mount {
            what: "bind onto itself",
            path: p.clone(),
            hint: "the kernel refused a bind mount inside /proc",
            source: e.into(),
        })?;
        remount(&p, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC)?;
    }
    Ok(())
}

/// A private /dev: a tmpfs with the harmless host nodes bound in, a new devpts instance
/// of its own, a private /dev/shm and the usual links; read-only once made.
pub(super) fn private_dev(nodes: Vec<Pending>) -> Result<(), Error> {
    let dev = Path::new("/dev");
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )
    .map_err(|e| Error::Mount {
        what: "mount a private tmpfs on",
        path: dev.into(),
        hint: "tmpfs must be available",
        source: e.into(),
    })?;
    for n in &nodes {
        std::fs::File::create(&n.target).ctx("create", &n.target)?;
        attach(n, "bind the host's device node onto")?;
    }
    for d in ["pts", "shm"] {
        std::fs::create_dir(dev.join(d)).ctx("create directory", dev.join(d))?;
    }
    let pts = mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    );
    match pts {
        Ok(()) => std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx").ctx("link", "/dev/ptmx")?,
        Err(e) => tracing::warn!("no pseudo-terminals inside: cannot mount devpts ({e})"),
    }
    mount(
        Some("tmpfs"),
        "/dev/shm",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777"),
    )
    .map_err(|e| Error::Mount {
        what: "mount a private tmpfs on",
        path: "/dev/shm".into(),
        hint: "tmpfs must be available",
        source: e.into(),
    })?;
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(link)).ctx("link", dev.join(link))?;
    }
    mount(
        None::<&str>,
        dev,
        None::<&str>,
        MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        what: "remount",
        path: dev.into(),
        hint: "the kernel refused to restrict a tmpfs",
        source: e.into(),
    })
}

/// Covers the berth root with an empty read-only tmpfs and puts only the store back
/// (read-only): the hold files, other profiles' state, the shim every shim runs and the
/// generations are neither visible nor writable inside. A root under /tmp or /run is
/// already out of sight (behind the private ones): then the store is not shown either.
pub(super) fn hide_root(root: &Path, store: &Path) -> Result<(), Error> {
    if std::fs::symlink_metadata(root).is_err() {
        return Ok(());
    }
    let again = clone(store, store)?;
    mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=16k"),
    )
    .map_err(|e| Error::Mount {
        what: "hide the berth root under a tmpfs at",
        path: root.to_path_buf(),
        hint: "tmpfs must be available",
        source: e.into(),
    })?;
    std::fs::create_dir_all(store).ctx("create directory", store)?;
    remount(root, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC)?;
    attach(&again, "bind the store read-only onto")?;
    remount(store, MsFlags::MS_RDONLY)
}
