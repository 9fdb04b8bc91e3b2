//! The throwaway writable layer of a confined run (maintainer scripts): a tmpfs of the
//! instance holding one upper and one work directory per overlay, so that every overlay is
//! writable while nothing of the host is; the tmpfs is also shown at a path inside the
//! instance's private /run, where the command copies out what was written (into the
//! host directory behind that /run, under the berth root's `run/`).

use super::attach::{attach, open_dir, Pending};
use super::error::{Ctx, Error};
use super::syscalls;
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where a confined run's writable layer lives.
#[derive(Debug, Clone)]
pub struct Upper {
    /// An empty directory of the host (under `<root>/run/`) the tmpfs is mounted on,
    /// inside the instance's mount namespace only.
    pub layer: PathBuf,
    /// Where the layer is shown inside the instance (`/run/berth/layer`): `upper/<n>` is
    /// what was written over the n-th overlay, whose target `targets` names.
    pub visible_at: PathBuf,
}

/// The tmpfs, mounted and opened, with the upper/work directory pair of each overlay.
pub(super) struct Mounted {
    root: OwnedFd,
    pairs: Vec<(OwnedFd, OwnedFd)>,
}

impl Mounted {
    /// The (upper, work) pair of overlay `i`.
    pub(super) fn pair(&self, i: usize) -> Option<(&OwnedFd, &OwnedFd)> {
        self.pairs.get(i).map(|(u, w)| (u, w))
    }
}

/// Mounts the tmpfs on `upper.layer` and makes `upper/<i>`, `work/<i>` for each of
/// `targets`; writes `targets` (one absolute path a line) beside them for the command.
pub(super) fn mount_layer(upper: &Upper, targets: &[&Path]) -> Result<Mounted, Error> {
    let dir = &upper.layer;
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| Error::Mount {
        what: "mount a tmpfs for the writable layer on",
        path: dir.clone(),
        hint: "tmpfs must be available",
        source: e.into(),
    })?;
    let mut pairs = Vec::new();
    let mut list = String::new();
    for (i, t) in targets.iter().enumerate() {
        let (u, w) = (
            dir.join(format!("upper/{i}")),
            dir.join(format!("work/{i}")),
        );
        std::fs::create_dir_all(&u).ctx("create directory", &u)?;
        std::fs::create_dir_all(&w).ctx("create directory", &w)?;
        pairs.push((open_dir(&u)?, open_dir(&w)?));
        list.push_str(&format!("{}\n", t.display()));
    }
    let targets_file = dir.join("targets");
    std::fs::write(&targets_file, list).ctx("write", &targets_file)?;
    Ok(Mounted {
        root: open_dir(dir)?,
        pairs,
    })
}

/// Shows the layer at `upper.visible_at` (inside the private /run, already attached).
pub(super) fn show(upper: &Upper, m: &Mounted) -> Result<(), Error> {
    let at = &upper.visible_at;
    std::fs::create_dir_all(at).ctx("create directory", at)?;
    let src = PathBuf::from(format!("/proc/self/fd/{}", m.root.as_raw_fd()));
    let tree = syscalls::clone_tree(&src).map_err(|e| Error::Mount {
        what: "clone the writable layer at",
        path: upper.layer.clone(),
        hint: "open_tree needs Linux 5.2",
        source: e,
    })?;
    attach(
        &Pending {
            tree,
            target: at.clone(),
        },
        "show the writable layer on",
    )
}

/// Makes the overlays writable again after everything was made read-only (their writes
/// go to the tmpfs, never to the host).
pub(super) fn writable_again(targets: &[&Path]) -> Result<(), Error> {
    for t in targets {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount(None::<&str>, *t, None::<&str>, flags, None::<&str>).map_err(|e| Error::Mount {
            what: "make the overlay writable (its upper layer is a tmpfs) at",
            path: t.to_path_buf(),
            hint: "the kernel refused to remount an overlay of this namespace",
            source: e.into(),
        })?;
    }
    Ok(())
}

/// The host directories of one confined run: `<root>/run/scripts/<pid>/` with `layer/`
/// (the tmpfs's mount point), `run/` and `tmp/` (its private /run and /tmp).
#[derive(Debug)]
pub struct Scratch {
    /// `<root>/run/scripts/<pid>`.
    pub base: PathBuf,
    /// Where the tmpfs of the writable layer is mounted (inside the instance only).
    pub layer: PathBuf,
    /// The run's private /run.
    pub run: PathBuf,
    /// The run's private /tmp.
    pub tmp: PathBuf,
    parent: crate::fsutil::Dir,
    name: String,
}

use super::hold::SCRIPTS;

impl Scratch {
    /// Makes fresh directories for this process's confined run; `owner` (root inside)
    /// owns the private /run and /tmp.
    pub fn create(
        root: &crate::root::Root,
        _lock: &crate::lock::LockedFile,
        owner: (u32, u32),
    ) -> crate::Result<Scratch> {
        use crate::root::DIR_MODE;
        let parent = root
            .dir()
            .ensure_dir(&format!("{}/{SCRIPTS}", super::RUN), DIR_MODE)?;
        let name = std::process::id().to_string();
        if parent.stat(&name)?.is_some() {
            crate::fsutil::remove_tree(&parent, &name)?;
        }
        parent.create_dir(&name, 0o700)?;
        for (d, mode) in [("layer", DIR_MODE), ("run", DIR_MODE), ("tmp", 0o1777)] {
            let rel = format!("{name}/{d}");
            parent.create_dir(&rel, mode)?;
            parent
                .chmod(&rel, mode)
                .map_err(|e| crate::Error::io("chmod", parent.join(&rel), e))?;
            if d != "layer" {
                parent.chown(&rel, owner.0, owner.1)?;
            }
        }
        // The owner (root inside) must reach its /run and /tmp through the base.
        parent
            .chmod(&name, 0o711)
            .map_err(|e| crate::Error::io("chmod", parent.join(&name), e))?;
        let base = root.path().join(super::RUN).join(SCRIPTS).join(&name);
        Ok(Scratch {
            layer: base.join("layer"),
            run: base.join("run"),
            tmp: base.join("tmp"),
            base,
            parent,
            name,
        })
    }

    /// Removes the directories (what was kept has been read).
    pub fn remove(self) {
        let _ = crate::fsutil::remove_tree(&self.parent, &self.name);
    }
}
