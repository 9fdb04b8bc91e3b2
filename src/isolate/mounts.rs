//! Carrying out a [`Plan`] inside the new mount namespace: read-only overlays (no upper
//! layer, `nosuid,nodev`) of the packages over the host's directories, the host's
//! submounts put back on top, the store bound read-only onto itself, and the config and
//! writable binds. Every path of the root is opened before the first overlay covers it.

use super::error::{Ctx, Error};
use super::namespace::{kernel_version, Mode};
use super::plan::{Overlay, Plan};
use super::syscalls;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode as Perm;
use nix::sys::statvfs::{statvfs, FsFlags};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

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

/// Mounts everything `plan` says. Runs inside the new namespace, before privileges drop.
pub fn setup(plan: &Plan, mode: Mode, api: OverlayApi) -> Result<(), Error> {
    let userns = matches!(mode, Mode::UserNamespace { .. });
    // Package layers and bind sources are opened now: once an overlay covers a directory
    // that holds the root (/var/lib/berth under a `var` overlay), their paths would resolve
    // into the overlay's read-only view instead.
    let mut layer_fds: Vec<Vec<OwnedFd>> = Vec::new();
    for o in &plan.overlays {
        let mut fds = Vec::new();
        for l in &o.layers {
            fds.push(open_dir(&l.dir)?);
        }
        layer_fds.push(fds);
    }
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
    let points = if plan.mount_points.is_empty() {
        None
    } else {
        Some(mount_point_layer(plan)?)
    };
    for ((o, fds), subs) in plan.overlays.iter().zip(&layer_fds).zip(resubmount) {
        let mut all: Vec<OwnedFd> = Vec::new();
        if o.mount_points {
            if let Some(dir) = &points {
                all.push(open_dir(&dir.join(&o.top))?);
            }
        }
        for fd in fds {
            all.push(fd.try_clone().ctx("duplicate descriptor", &o.target)?);
        }
        // The host's directory as it is now: under an overlay mounted just before (bin/ on
        // a merged-/usr host goes over the new /usr's bin).
        all.push(open_dir(&o.target)?);
        mount_overlay(o, &all, userns, api, &plan.store)?;
        tracing::debug!("overlay on {}: {} layer(s)", o.target.display(), all.len());
        for p in subs {
            attach(&p, "put back the host's mount")?;
        }
    }
    attach(&store, "bind the store read-only onto")?;
    remount(&plan.store, MsFlags::MS_RDONLY)?;
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

/// A tmpfs private to the namespace holding empty files and directories where binds need
/// a target that neither a package nor the host has. Read-only once filled.
fn mount_point_layer(plan: &Plan) -> Result<PathBuf, Error> {
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
    for (rel, is_dir) in &plan.mount_points {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        }
        if *is_dir {
            std::fs::create_dir_all(&p).ctx("create directory", &p)?;
        } else {
            std::fs::File::create(&p).ctx("create", &p)?;
        }
    }
    remount(dir, MsFlags::MS_RDONLY)?;
    Ok(dir.clone())
}

fn mount_overlay(
    o: &Overlay,
    layers: &[OwnedFd],
    userns: bool,
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
            if userns {
                syscalls::fsconfig_flag(&fs, "userxattr").map_err(fail)?;
            }
            syscalls::fsconfig_create(&fs).map_err(fail)?;
            let attrs = syscalls::MOUNT_ATTR_RDONLY
                | syscalls::MOUNT_ATTR_NOSUID
                | syscalls::MOUNT_ATTR_NODEV;
            let m = syscalls::fsmount(&fs, attrs).map_err(fail)?;
            syscalls::move_mount(&m, &o.target).map_err(fail)
        }
        OverlayApi::OptionString => {
            let mut data = format!("lowerdir={}", paths.join(":"));
            if userns {
                data.push_str(",userxattr");
            }
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
