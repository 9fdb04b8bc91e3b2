//! Carrying out a [`Plan`] inside the instance's namespaces: read-only overlays (no upper
//! layer, `nosuid,nodev`) of the packages over the host's directories, the host's
//! submounts put back on top, the store bound read-only onto itself; then the boundary,
//! in systemd's words: everything read-only (`ProtectSystem=strict`), a fresh `/proc` with
//! its kernel tunables read-only (`ProtectKernelTunables=`), a private `/dev` (bubblewrap's
//! `--dev`), the profile's own `/tmp` and `/run` (`PrivateTmp=`), the berth root hidden but
//! for the store; last the config and writable binds, the only writable paths of the host.
//! Every path of the root is opened before the first mount covers it.

use super::error::{Ctx, Error};
use super::namespace::kernel_version;
use super::plan::{Overlay, Plan};
use super::syscalls;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode as Perm;
use nix::sys::statvfs::{statvfs, FsFlags};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The package layers, opened by berth before the instance starts.
#[derive(Debug)]
pub struct Layers {
    /// Per overlay of the plan, per layer: a detached idmapped mount (as root; otherwise
    /// nothing: the layers are opened by path inside the namespace).
    fds: Vec<Vec<OwnedFd>>,
    /// Whether `fds` are detached idmapped mounts, to be attached before use.
    idmapped: bool,
}

/// The paths of the boundary: what is hidden, and the profile's private directories.
#[derive(Debug, Clone)]
pub struct Private {
    /// The berth root (hidden inside, but for the store).
    pub root: PathBuf,
    /// The profile's /tmp.
    pub tmp: PathBuf,
    /// The profile's /run.
    pub run: PathBuf,
}

/// Host device nodes a private /dev gets (as bubblewrap's `--dev`).
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Parts of the fresh /proc that change the kernel, made read-only.
const PROC_READ_ONLY: [&str; 5] = ["sys", "sysrq-trigger", "irq", "bus", "fs"];

/// Opens the package layers of `plan`. With `userns` (as root), each layer is a detached
/// recursive clone idmapped through it: the store's root-owned files (0400 ones included)
/// are root's inside, while outside the instance runs as an unprivileged id range.
pub fn layers(plan: &Plan, userns: Option<&OwnedFd>) -> Result<Layers, Error> {
    let Some(ns) = userns else {
        // Opened inside the instance's mount namespace instead (see `setup`): overlayfs
        // refuses a lower layer reached through another namespace.
        return Ok(Layers {
            fds: plan.overlays.iter().map(|_| Vec::new()).collect(),
            idmapped: false,
        });
    };
    let mut fds = Vec::new();
    for o in &plan.overlays {
        let mut v = Vec::new();
        for l in &o.layers {
            match idmapped_tree(&l.dir, ns) {
                Ok(fd) => v.push(fd),
                // A filesystem without idmapped mounts: files are then shown as the
                // overflow id inside, readable only where "others" may read.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::warn!(
                        "the store's filesystem cannot be idmapped ({e}): package files \
                         appear owned by nobody inside, and those others may not read \
                         are unreadable"
                    );
                    return layers(plan, None);
                }
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    return Err(Error::NotPermitted {
                        what: "idmapped package layers",
                        needs: "CAP_SYS_ADMIN (berth runs as root, but without it: in a \
                                container? allow it, or run on the host)"
                            .into(),
                        source: e,
                    })
                }
                Err(e) => {
                    return Err(Error::Mount {
                        what: "idmap the package layer",
                        path: l.dir.clone(),
                        hint: "idmapped mounts need Linux 5.12 and a filesystem that has them (ext4, xfs, btrfs, tmpfs 6.3+)",
                        source: e,
                    })
                }
            }
        }
        fds.push(v);
    }
    Ok(Layers {
        fds,
        idmapped: true,
    })
}

fn idmapped_tree(dir: &Path, userns: &OwnedFd) -> std::io::Result<OwnedFd> {
    let tree = syscalls::clone_tree(dir)?;
    let attrs = syscalls::MOUNT_ATTR_IDMAP
        | u64::from(
            syscalls::MOUNT_ATTR_RDONLY | syscalls::MOUNT_ATTR_NOSUID | syscalls::MOUNT_ATTR_NODEV,
        );
    syscalls::set_tree_attrs(&tree, attrs, Some(userns))?;
    Ok(tree)
}

/// How overlays are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayApi {
    /// `fsopen` + one `fsconfig("lowerdir+")` per layer (Linux 6.8+): any number of layers.
    PerLayer,
    /// mount(2) with `lowerdir=/proc/self/fd/N:…`: short paths, but one page at most.
    OptionString,
}

impl OverlayApi {
    /// The per-layer API where the kernel has it, unless `BERTH_OVERLAY_API=legacy`.
    pub fn detect() -> OverlayApi {
        let forced = std::env::var(crate::env::BERTH_OVERLAY_API).unwrap_or_default();
        let (major, minor, _) = kernel_version();
        if forced == "legacy" || (major, minor) < (6, 8) {
            OverlayApi::OptionString
        } else {
            OverlayApi::PerLayer
        }
    }
}

/// A mount tree cloned before the overlays, and where it goes afterwards.
struct Pending {
    tree: OwnedFd,
    target: PathBuf,
}

/// Mounts everything `plan` says, then the boundary. Runs as the instance's PID 1, inside
/// its namespaces, before privileges drop.
pub fn setup(plan: &Plan, layers: Layers, private: &Private, api: OverlayApi) -> Result<(), Error> {
    // Bind sources are cloned now: once an overlay covers a directory that holds the root
    // (/var/lib/berth under a `var` overlay), their paths would resolve into the overlay's
    // read-only view instead; and /dev, /tmp, /run are covered below.
    let store = clone(&plan.store, &plan.store)?;
    let mut binds = Vec::new();
    for b in &plan.binds {
        binds.push(clone(&b.source, &b.target)?);
    }
    let submounts = submounts_of(plan.overlays.iter().map(|o| o.target.as_path()))?;
    let mut resubmount: Vec<Vec<Pending>> = Vec::new();
    for list in &submounts {
        let mut v = Vec::new();
        for m in list {
            v.push(clone(m, m)?);
        }
        resubmount.push(v);
    }
    let mut devs = Vec::new();
    for n in DEV_NODES {
        let p = Path::new("/dev").join(n);
        if let Ok(tree) = syscalls::clone_one(&p) {
            devs.push(Pending { tree, target: p });
        }
    }
    let tmp = clone(&private.tmp, Path::new("/tmp"))?;
    let run = clone(&private.run, Path::new("/run"))?;
    let layer_count = if layers.idmapped {
        layers.fds.iter().map(Vec::len).sum()
    } else {
        0
    };
    let scratch = if plan.mount_points.is_empty() && layer_count == 0 {
        None
    } else {
        Some(scratch_layer(plan, layer_count)?)
    };
    let layer_fds = match (&scratch, layers.idmapped) {
        (Some(dir), true) => attach_layers(dir, layers.fds)?,
        _ => {
            let mut all = Vec::new();
            for o in &plan.overlays {
                let mut v = Vec::new();
                for l in &o.layers {
                    v.push(open_dir(&l.dir)?);
                }
                all.push(v);
            }
            all
        }
    };
    for ((o, fds), subs) in plan.overlays.iter().zip(&layer_fds).zip(resubmount) {
        let mut all: Vec<OwnedFd> = Vec::new();
        if o.mount_points {
            if let Some(dir) = &scratch {
                all.push(open_dir(&dir.join(POINTS).join(&o.top))?);
            }
        }
        for fd in fds {
            all.push(fd.try_clone().ctx("duplicate descriptor", &o.target)?);
        }
        // The host's directory as it is now: under an overlay mounted just before (bin/ on
        // a merged-/usr host goes over the new /usr's bin).
        all.push(open_dir(&o.target)?);
        mount_overlay(o, &all, api, &plan.store)?;
        tracing::debug!("overlay on {}: {} layer(s)", o.target.display(), all.len());
        for p in subs {
            attach(&p, "put back the host's mount")?;
        }
    }
    attach(&store, "bind the store read-only onto")?;
    remount(&plan.store, MsFlags::MS_RDONLY)?;
    // ProtectSystem=strict: every mount read-only, submounts included; what is writable
    // below is mounted after this, on purpose.
    syscalls::make_read_only_recursive(Path::new("/")).map_err(|e| Error::Mount {
        what: "make every mount read-only under",
        path: "/".into(),
        hint: "mount_setattr needs Linux 5.12",
        source: e,
    })?;
    fresh_proc()?;
    private_dev(devs)?;
    attach(&tmp, "bind the profile's private /tmp onto")?;
    remount(Path::new("/tmp"), MsFlags::empty())?;
    attach(&run, "bind the profile's private /run onto")?;
    remount(Path::new("/run"), MsFlags::empty())?;
    hide_root(&private.root, &plan.store)?;
    for (p, b) in binds.iter().zip(&plan.binds) {
        attach(p, "bind")?;
        remount(&b.target, MsFlags::empty())?;
        tracing::debug!(
            "{} {} -> {}",
            b.what,
            b.source.display(),
            b.target.display()
        );
    }
    Ok(())
}

/// Where the mount points for binds go in the scratch tmpfs.
const POINTS: &str = "points";
/// Where the idmapped package layers are attached in the scratch tmpfs.
const LAYERS: &str = "layers";

/// Attaches each idmapped layer in the scratch tmpfs (overlayfs takes an attached mount
/// as a lower layer, not a detached one) and opens it by path.
fn attach_layers(scratch: &Path, trees: Vec<Vec<OwnedFd>>) -> Result<Vec<Vec<OwnedFd>>, Error> {
    let mut n = 0usize;
    let mut out = Vec::with_capacity(trees.len());
    for list in trees {
        let mut v = Vec::with_capacity(list.len());
        for tree in list {
            let target = scratch.join(LAYERS).join(n.to_string());
            n += 1;
            attach(
                &Pending {
                    tree,
                    target: target.clone(),
                },
                "attach the package layer on",
            )?;
            v.push(open_dir(&target)?);
        }
        out.push(v);
    }
    Ok(out)
}

/// A fresh `proc` for the instance's PID namespace (a process inside sees and signals only
/// its own), its kernel tunables bound read-only onto themselves.
fn fresh_proc() -> Result<(), Error> {
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
fn private_dev(nodes: Vec<Pending>) -> Result<(), Error> {
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
fn hide_root(root: &Path, store: &Path) -> Result<(), Error> {
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

fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let fd = open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Perm::empty(),
    )
    .ctx("open directory", path)?;
    // SAFETY: `open` returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn clone(source: &Path, target: &Path) -> Result<Pending, Error> {
    let tree = syscalls::clone_tree(source).map_err(|e| Error::Mount {
        what: "clone the mount at",
        path: source.to_path_buf(),
        hint: "open_tree needs Linux 5.2 and the right to mount in this namespace",
        source: e,
    })?;
    Ok(Pending {
        tree,
        target: target.to_path_buf(),
    })
}

fn attach(p: &Pending, what: &'static str) -> Result<(), Error> {
    syscalls::move_mount(&p.tree, &p.target).map_err(|e| Error::Mount {
        what,
        path: p.target.clone(),
        hint: "the path must exist inside the namespace and have the same type (file or directory)",
        source: e,
    })
}

/// Remounts the bind at `path` with `nosuid,nodev` plus `extra`, keeping the flags it has
/// (a user namespace may not clear locked ones such as `noexec`).
fn remount(path: &Path, extra: MsFlags) -> Result<(), Error> {
    let st = statvfs(path).ctx("statvfs", path)?;
    let have = st.flags();
    let mut flags =
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | extra;
    for (f, m) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(f) {
            flags |= m;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(|e| Error::Mount {
        what: "remount",
        path: path.to_path_buf(),
        hint: "the kernel refused to restrict a bind mount",
        source: e.into(),
    })
}

/// A tmpfs private to the namespace (at `run/mnt` of the root, an empty directory on the
/// host) holding the empty files and directories where binds need a target that neither a
/// package nor the host has, and a directory per idmapped layer. Read-only once filled.
fn scratch_layer(plan: &Plan, layers: usize) -> Result<PathBuf, Error> {
    let dir = &plan.mount_point_dir;
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=1m"),
    )
    .map_err(|e| Error::Mount {
        what: "mount a tmpfs for mount points on",
        path: dir.clone(),
        hint: "tmpfs must be available",
        source: e.into(),
    })?;
    let points = dir.join(POINTS);
    std::fs::create_dir_all(&points).ctx("create directory", &points)?;
    for (rel, is_dir) in &plan.mount_points {
        let p = points.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        }
        if *is_dir {
            std::fs::create_dir_all(&p).ctx("create directory", &p)?;
        } else {
            std::fs::File::create(&p).ctx("create", &p)?;
        }
    }
    for n in 0..layers {
        let p = dir.join(LAYERS).join(n.to_string());
        std::fs::create_dir_all(&p).ctx("create directory", &p)?;
    }
    remount(dir, MsFlags::MS_RDONLY)?;
    Ok(dir.clone())
}

/// Mounts one overlay. Always with `userxattr`: the instance runs in a user namespace.
fn mount_overlay(
    o: &Overlay,
    layers: &[OwnedFd],
    api: OverlayApi,
    store: &Path,
) -> Result<(), Error> {
    let paths: Vec<String> = layers
        .iter()
        .map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .collect();
    let fail = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ENODEV) {
            return Error::NoOverlayfs {
                detail: format!("the kernel does not know the overlay filesystem ({e})"),
            };
        }
        Error::Overlay {
            target: o.target.clone(),
            layers: layers.len(),
            store: store.to_path_buf(),
            source: e,
        }
    };
    match api {
        OverlayApi::PerLayer => {
            let fs = syscalls::fsopen("overlay").map_err(fail)?;
            for p in &paths {
                syscalls::fsconfig_string(&fs, "lowerdir+", p).map_err(fail)?;
            }
            syscalls::fsconfig_flag(&fs, "userxattr").map_err(fail)?;
            syscalls::fsconfig_create(&fs).map_err(fail)?;
            let attrs = syscalls::MOUNT_ATTR_RDONLY
                | syscalls::MOUNT_ATTR_NOSUID
                | syscalls::MOUNT_ATTR_NODEV;
            let m = syscalls::fsmount(&fs, attrs).map_err(fail)?;
            syscalls::move_mount(&m, &o.target).map_err(fail)
        }
        OverlayApi::OptionString => {
            let data = format!("lowerdir={},userxattr", paths.join(":"));
            // mount(2) copies at most one page of options, and says only EINVAL beyond it.
            if data.len() >= page_size() {
                return Err(Error::TooManyLayers {
                    target: o.target.clone(),
                    layers: layers.len(),
                });
            }
            mount(
                Some("overlay"),
                &o.target,
                Some("overlay"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(data.as_str()),
            )
            .map_err(|e| fail(e.into()))
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// For each target, the mounts strictly beneath it that are not beneath another of them
/// (a recursive clone brings those along).
fn submounts_of<'a>(targets: impl Iterator<Item = &'a Path>) -> Result<Vec<Vec<PathBuf>>, Error> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").ctx("read", "/proc/self/mountinfo")?;
    let points: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .collect();
    Ok(targets
        .map(|t| {
            let mut under: Vec<PathBuf> = points
                .iter()
                .filter(|p| p.starts_with(t) && p.as_path() != t)
                .cloned()
                .collect();
            under.sort();
            under.dedup();
            let tops: Vec<PathBuf> = under
                .iter()
                .filter(|p| !under.iter().any(|q| q != *p && p.starts_with(q)))
                .cloned()
                .collect();
            tops
        })
        .collect())
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_decodes_mountinfo_octal() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
