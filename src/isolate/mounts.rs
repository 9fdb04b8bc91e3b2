//! Carrying out a [`Plan`] inside the instance's namespaces: read-only overlays (no upper
//! layer, `nosuid,nodev`) of the packages over the host's directories, the host's
//! submounts put back on top, the store bound read-only onto itself; then the boundary,
//! in systemd's words: everything read-only (`ProtectSystem=strict`), a fresh `/proc` with
//! its kernel tunables read-only (`ProtectKernelTunables=`), a private `/dev` (bubblewrap's
//! `--dev`), the profile's own `/tmp` and `/run` (`PrivateTmp=`), the berth root hidden but
//! for the store; last the config and writable binds, the only writable paths of the host.
//! Every path of the root is opened before the first mount covers it.

use super::attach::{attach, clone, open_dir, remount, Pending};
use super::error::{Ctx, Error};
use super::kernel_fs::{clone_dev_nodes, fresh_proc, hide_root, private_dev};
pub use super::overlay::OverlayApi;
use super::overlay::{mount_overlay, submounts_of};
use super::plan::Plan;
use super::syscalls;
use super::upper::Mounted;
pub use super::upper::Upper;
use nix::mount::{mount, MsFlags};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The package layers, opened by berth before the instance starts.
#[derive(Debug)]
pub struct Layers {
    /// Per overlay of the plan, per layer: a detached idmapped mount (as root; otherwise
    /// nothing: the layers are opened by path inside the namespace).
    fds: Vec<Vec<OwnedFd>>,
    /// Whether `fds` are detached idmapped mounts, to be attached before use.
    idmapped: bool,
    /// Whether each overlay's last fd is the host's directory, idmapped too (a confined
    /// run as root: root's files of the host are root's inside, so a script can change
    /// them, into its throwaway layer).
    host_idmapped: bool,
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
    /// A directory with the view's `passwd` and `group` (the host's plus the profile's
    /// records), bound read-only over /etc/passwd and /etc/group; None: the host's.
    pub accounts: Option<PathBuf>,
}

/// Opens the package layers of `plan`. With `userns` (as root), each layer is a detached
/// recursive clone idmapped through it: the store's root-owned files (0400 ones included)
/// are root's inside, while outside the instance runs as an unprivileged id range.
pub fn layers(plan: &Plan, userns: Option<&OwnedFd>) -> Result<Layers, Error> {
    layers_with(plan, userns, false)
}

/// [`layers`]; with `host`, each overlay's host directory is idmapped as well.
pub fn layers_with(plan: &Plan, userns: Option<&OwnedFd>, host: bool) -> Result<Layers, Error> {
    let Some(ns) = userns else {
        // Opened inside the instance's mount namespace instead (see `setup`): overlayfs
        // refuses a lower layer reached through another namespace.
        return Ok(Layers {
            fds: plan.overlays.iter().map(|_| Vec::new()).collect(),
            idmapped: false,
            host_idmapped: false,
        });
    };
    let mut fds = Vec::new();
    for o in &plan.overlays {
        let mut v = Vec::new();
        // A directory that is the packages' alone shows no host content, idmapped or not.
        let host_dir = (host && o.over_host && !nested(plan, &o.target)).then(|| o.target.clone());
        for dir in o.layers.iter().map(|l| &l.dir).chain(host_dir.as_ref()) {
            match idmapped_tree(dir, ns) {
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
                        path: dir.clone(),
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
        host_idmapped: host,
    })
}

/// Whether `target` lies beneath another overlay of the plan: its host directory is then
/// taken as that overlay shows it (never a clone of the host's, which would hide it).
fn nested(plan: &Plan, target: &Path) -> bool {
    plan.overlays
        .iter()
        .any(|o| o.target != target && target.starts_with(&o.target))
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

/// Mounts everything `plan` says, then the boundary. Runs as the instance's PID 1, inside
/// its namespaces, before privileges drop. With `upper`, every overlay is writable into
/// a throwaway tmpfs layer (a confined run of maintainer scripts).
pub fn setup(
    plan: &Plan,
    layers: Layers,
    private: &Private,
    api: OverlayApi,
    upper: Option<&Upper>,
) -> Result<(), Error> {
    let sources = Sources::clone_all(plan, private)?;
    let targets: Vec<&Path> = plan.overlays.iter().map(|o| o.target.as_path()).collect();
    let writable = match upper {
        Some(u) => Some(super::upper::mount_layer(u, &targets)?),
        None => None,
    };
    let layer_count = if layers.idmapped {
        layers.fds.iter().map(Vec::len).sum()
    } else {
        0
    };
    let all_over_host = plan.overlays.iter().all(|o| o.over_host);
    let scratch = if plan.mount_points.is_empty() && layer_count == 0 && all_over_host {
        None
    } else {
        Some(scratch_layer(plan, layer_count)?)
    };
    let host_idmapped = layers.host_idmapped;
    let layer_fds = layer_fds(plan, layers, scratch.as_deref())?;
    mount_overlays(
        plan,
        &layer_fds,
        sources.resubmount,
        scratch.as_deref(),
        api,
        writable.as_ref(),
        host_idmapped,
    )?;
    attach(&sources.store, "bind the store read-only onto")?;
    remount(&plan.store, MsFlags::MS_RDONLY)?;
    // ProtectSystem=strict: every mount read-only, submounts included; what is writable
    // below is mounted after this, on purpose.
    syscalls::make_read_only_recursive(Path::new("/")).map_err(|e| Error::Mount {
        what: "make every mount read-only under",
        path: "/".into(),
        hint: "mount_setattr needs Linux 5.12",
        source: e,
    })?;
    if writable.is_some() {
        super::upper::writable_again(&targets)?;
    }
    fresh_proc()?;
    private_dev(sources.devs)?;
    attach(&sources.tmp, "bind the profile's private /tmp onto")?;
    remount(Path::new("/tmp"), MsFlags::empty())?;
    attach(&sources.run, "bind the profile's private /run onto")?;
    remount(Path::new("/run"), MsFlags::empty())?;
    if let (Some(u), Some(m)) = (upper, &writable) {
        super::upper::show(u, m)?;
    }
    hide_root(&private.root, &plan.store)?;
    for (p, b) in sources.binds.iter().zip(&plan.binds) {
        attach(p, "bind")?;
        remount(&b.target, MsFlags::empty())?;
        tracing::debug!(
            "{} {} -> {}",
            b.what,
            b.source.display(),
            b.target.display()
        );
    }
    for p in &sources.accounts {
        attach(p, "bind the profile's users over")?;
        remount(&p.target, MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

/// Every mount tree the instance attaches after something has covered its path.
struct Sources {
    store: Pending,
    binds: Vec<Pending>,
    /// Per overlay, the host's mounts beneath its target, put back on top of it.
    resubmount: Vec<Vec<Pending>>,
    devs: Vec<Pending>,
    tmp: Pending,
    run: Pending,
    accounts: Vec<Pending>,
}

impl Sources {
    /// Clones them all first: once an overlay covers a directory that holds the root
    /// (/var/lib/berth under a `var` overlay), their paths would resolve into the overlay's
    /// read-only view instead; and /dev, /tmp, /run are covered later.
    fn clone_all(plan: &Plan, private: &Private) -> Result<Sources, Error> {
        let store = clone(&plan.store, &plan.store)?;
        let mut binds = Vec::new();
        for b in &plan.binds {
            binds.push(clone(&b.source, &b.target)?);
        }
        let submounts = submounts_of(plan.overlays.iter().map(|o| o.target.as_path()))?;
        let mut resubmount: Vec<Vec<Pending>> = Vec::new();
        for (list, o) in submounts.iter().zip(&plan.overlays) {
            let mut v = Vec::new();
            // The host's mounts under a directory that is the packages' alone stay hidden
            // with the rest of the host's files there.
            for m in list.iter().filter(|_| o.over_host) {
                v.push(clone(m, m)?);
            }
            resubmount.push(v);
        }
        let mut accounts = Vec::new();
        if let Some(dir) = &private.accounts {
            for name in ["passwd", "group"] {
                accounts.push(clone(&dir.join(name), &Path::new("/etc").join(name))?);
            }
        }
        Ok(Sources {
            accounts,
            store,
            binds,
            resubmount,
            devs: clone_dev_nodes(),
            tmp: clone(&private.tmp, Path::new("/tmp"))?,
            run: clone(&private.run, Path::new("/run"))?,
        })
    }
}

/// The package layers as directory handles, per overlay: the idmapped trees attached in
/// the scratch tmpfs, or (unprivileged) the store's directories opened inside.
fn layer_fds(
    plan: &Plan,
    layers: Layers,
    scratch: Option<&Path>,
) -> Result<Vec<Vec<OwnedFd>>, Error> {
    if let (Some(dir), true) = (scratch, layers.idmapped) {
        return attach_layers(dir, layers.fds);
    }
    let mut all = Vec::new();
    for o in &plan.overlays {
        let mut v = Vec::new();
        for l in &o.layers {
            v.push(open_dir(&l.dir)?);
        }
        all.push(v);
    }
    Ok(all)
}

/// One overlay per planned target, parents first, each with the host's submounts put back.
fn mount_overlays(
    plan: &Plan,
    layer_fds: &[Vec<OwnedFd>],
    resubmount: Vec<Vec<Pending>>,
    scratch: Option<&Path>,
    api: OverlayApi,
    writable: Option<&Mounted>,
    host_idmapped: bool,
) -> Result<(), Error> {
    for (i, ((o, fds), subs)) in plan
        .overlays
        .iter()
        .zip(layer_fds)
        .zip(resubmount)
        .enumerate()
    {
        let mut all: Vec<OwnedFd> = Vec::new();
        if o.mount_points {
            if let Some(dir) = scratch {
                all.push(open_dir(&dir.join(POINTS).join(&o.top))?);
            }
        }
        for fd in fds {
            all.push(fd.try_clone().ctx("duplicate descriptor", &o.target)?);
        }
        // The host's directory as it is now: under an overlay mounted just before (bin/ on
        // a merged-/usr host goes over the new /usr's bin); idmapped, it is among `fds`. A
        // directory that is the packages' alone gets an empty layer instead (overlayfs
        // wants two lower layers).
        match (o.over_host, scratch) {
            (true, _) => {
                if !host_idmapped || nested(plan, &o.target) {
                    all.push(open_dir(&o.target)?);
                }
            }
            (false, Some(dir)) => all.push(open_dir(&dir.join(EMPTY))?),
            (false, None) => {
                unreachable!("a scratch layer is made for every plan with owned directories")
            }
        }
        mount_overlay(o, &all, api, &plan.store, writable.and_then(|w| w.pair(i)))?;
        tracing::debug!("overlay on {}: {} layer(s)", o.target.display(), all.len());
        for p in subs {
            attach(&p, "put back the host's mount")?;
        }
    }
    Ok(())
}

/// Where the mount points for binds go in the scratch tmpfs.
const POINTS: &str = "points";
/// Where the idmapped package layers are attached in the scratch tmpfs.
const LAYERS: &str = "layers";
/// An empty directory in the scratch tmpfs: the bottom layer of an overlay without the host.
const EMPTY: &str = "empty";

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
    let empty = dir.join(EMPTY);
    std::fs::create_dir_all(&empty).ctx("create directory", &empty)?;
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
