//! Mounting one read-only overlay of package layers over a host directory, with either of
//! the kernel's two APIs (one `fsconfig` per layer on Linux 6.8+, else one mount(2) option
//! string), and finding the host's mounts beneath a directory that an overlay will cover.

use super::error::{Ctx, Error};
use super::layers::Overlay;
use super::namespace::kernel_version;
use super::syscalls;
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
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

/// Mounts one overlay. Always with `userxattr`: the instance runs in a user namespace.
/// With `upper` (its upper and work directories, on a tmpfs of the instance), the overlay
/// is writable: what is written there stays in that throwaway layer.
pub(super) fn mount_overlay(
    o: &Overlay,
    layers: &[OwnedFd],
    api: OverlayApi,
    store: &Path,
    upper: Option<(&OwnedFd, &OwnedFd)>,
) -> Result<(), Error> {
    let upper_paths = upper.map(|(u, w)| {
        (
            format!("/proc/self/fd/{}", u.as_raw_fd()),
            format!("/proc/self/fd/{}", w.as_raw_fd()),
        )
    });
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
            if let Some((u, w)) = &upper_paths {
                syscalls::fsconfig_string(&fs, "upperdir", u).map_err(fail)?;
                syscalls::fsconfig_string(&fs, "workdir", w).map_err(fail)?;
            }
            syscalls::fsconfig_flag(&fs, "userxattr").map_err(fail)?;
            syscalls::fsconfig_create(&fs).map_err(fail)?;
            let mut attrs = syscalls::MOUNT_ATTR_NOSUID | syscalls::MOUNT_ATTR_NODEV;
            if upper.is_none() {
                attrs |= syscalls::MOUNT_ATTR_RDONLY;
            }
            let m = syscalls::fsmount(&fs, attrs).map_err(fail)?;
            syscalls::move_mount(&m, &o.target).map_err(fail)
        }
        OverlayApi::OptionString => {
            let mut data = format!("lowerdir={},userxattr", paths.join(":"));
            if let Some((u, w)) = &upper_paths {
                data.push_str(&format!(",upperdir={u},workdir={w}"));
            }
            // mount(2) copies at most one page of options, and says only EINVAL beyond it.
            if data.len() >= page_size() {
                return Err(Error::TooManyLayers {
                    target: o.target.clone(),
                    layers: layers.len(),
                });
            }
            let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            if upper.is_none() {
                flags |= MsFlags::MS_RDONLY;
            }
            mount(
                Some("overlay"),
                &o.target,
                Some("overlay"),
                flags,
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
pub(super) fn submounts_of<'a>(
    targets: impl Iterator<Item = &'a Path>,
) -> Result<Vec<Vec<PathBuf>>, Error> {
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
