//! Data snapshots: before a switch of a profile whose profile file says `[backup]
//! before_switch = true`, `<root>/var/<profile>/` (everything but `.snapshots/`) is copied
//! to `<root>/var/<profile>/.snapshots/<from-generation>/`, so `rollback --with-data` can
//! put the data back that went with that generation (databases are not rolled back by
//! switching code). Copies, not hard links: a service rewriting a file in place would
//! change a hard-linked snapshot too. Each file is cloned (FICLONE: shared blocks, copy on
//! write) where the filesystem can, else copied; modes (without setuid/setgid), owners
//! (as root) and mtimes are kept, symlinks stay links and are never followed. A snapshot
//! is built under a temporary name and renamed into place; the newest `keep` are kept,
//! older ones are removed right after each new one (so gc has nothing to do here).

use super::deploy_error::Error as DeployError;
use crate::error::{Error, Result};
use crate::fsutil::{is_temp, temp_name, Dir, Kind};
use crate::lock::LockedFile;
use crate::root::{Root, VAR};
use std::path::PathBuf;
use std::time::SystemTime;

/// The directory of snapshots inside `<root>/var/<profile>/`.
pub const SNAPSHOTS: &str = ".snapshots";

/// How files were put into a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// FICLONE: the snapshot shares blocks with the data until either is written.
    Reflink,
    /// Byte copies (the filesystem cannot clone, or there were no files).
    Copy,
}

/// A snapshot that was taken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Taken {
    /// The generation it belongs to.
    pub generation: u64,
    /// Where it is.
    pub path: PathBuf,
    /// How its files were made.
    pub method: Method,
    /// Files in it.
    pub files: u64,
    /// Older snapshots removed to keep the newest `keep`.
    pub pruned: Vec<u64>,
}

/// `var/<profile>` beneath the root, if it exists.
fn data_dir(root: &Root, profile: &str) -> Result<Option<Dir>> {
    crate::package::name::check_name("profile name", profile)?;
    root.dir().open_dir_opt(&format!("{VAR}/{profile}"))
}

/// The generations that have a snapshot, newest snapshot first.
pub fn list(root: &Root, profile: &str) -> Result<Vec<u64>> {
    let Some(data) = data_dir(root, profile)? else {
        return Ok(vec![]);
    };
    let Some(snaps) = data.open_dir_opt(SNAPSHOTS)? else {
        return Ok(vec![]);
    };
    let mut out: Vec<(SystemTime, u64)> = Vec::new();
    for e in snaps.entries()? {
        let Some(n) = e
            .name_str()
            .filter(|_| e.kind == Kind::Dir)
            .and_then(crate::profile::generation::parse_number)
        else {
            continue;
        };
        let mtime = snaps
            .stat(&n.to_string())?
            .map(|st| {
                SystemTime::UNIX_EPOCH
                    + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec as u32)
            })
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push((mtime, n));
    }
    out.sort_by(|a, b| b.cmp(a));
    Ok(out.into_iter().map(|(_, n)| n).collect())
}

/// Snapshots `var/<profile>/` as belonging to `generation` (replacing an older snapshot of
/// the same generation), then keeps only the newest `keep`. `None` when the profile has
/// no data directory.
pub fn take(
    root: &Root,
    _lock: &LockedFile,
    profile: &str,
    generation: u64,
    keep: u32,
) -> Result<Option<Taken>> {
    let Some(data) = data_dir(root, profile)? else {
        tracing::info!("{profile} has no {VAR}/{profile}/ yet: no data snapshot");
        return Ok(None);
    };
    let snaps = data.ensure_dir(SNAPSHOTS, 0o700)?;
    let name = generation.to_string();
    let tmp = temp_name(&name);
    let mut copier = Copier::new();
    let built = (|| {
        snaps.create_dir(&tmp, 0o700)?;
        let dst = snaps.open_dir(&tmp)?;
        copier.copy_children(&data, &dst, true)?;
        let st = data.stat_self()?;
        dst.chmod(".", st.st_mode & 0o1777)
            .map_err(|e| Error::io("chmod", dst.path(), e))?;
        copier.own(&dst, ".", &st)?;
        dst.syncfs()?;
        put_in_place(&snaps, &tmp, &name)
    })();
    if built.is_err() {
        let _ = crate::fsutil::remove_tree(&snaps, &tmp);
    }
    built?;
    snaps.fsync()?;
    let method = copier.method();
    tracing::info!(
        "data snapshot {} ({} files, {})",
        snaps.join(&name).display(),
        copier.files,
        if method == Method::Reflink {
            "reflinks"
        } else {
            "copied"
        }
    );
    let mut pruned = Vec::new();
    for old in list(root, profile)?.into_iter().skip(keep.max(1) as usize) {
        if old != generation {
            remove_snapshot(&snaps, old)?;
            pruned.push(old);
        }
    }
    if !pruned.is_empty() {
        tracing::info!("data snapshots removed (keep {keep}): {pruned:?}");
    }
    Ok(Some(Taken {
        generation,
        path: snaps.join(&name),
        method,
        files: copier.files,
        pruned,
    }))
}

/// Errors unless `generation` of `profile` has a snapshot.
pub fn require(root: &Root, profile: &str, generation: u64) -> Result<()> {
    let existing = list(root, profile)?;
    if existing.contains(&generation) {
        return Ok(());
    }
    let mut existing = existing;
    existing.sort_unstable();
    Err(DeployError::NoSnapshot {
        profile: profile.to_string(),
        generation,
        dir: root.path().join(VAR).join(profile).join(SNAPSHOTS),
        existing,
    }
    .into())
}

/// Puts the snapshot of `generation` back as `var/<profile>/`'s content (everything but
/// `.snapshots/`); the snapshot itself stays. The caller saves the current data first.
pub fn restore(root: &Root, _lock: &LockedFile, profile: &str, generation: u64) -> Result<Method> {
    require(root, profile, generation)?;
    let Some(data) = data_dir(root, profile)? else {
        return Err(Error::io(
            "open",
            root.path().join(VAR).join(profile),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    };
    let snap = data.open_dir(&format!("{SNAPSHOTS}/{generation}"))?;
    // The copy is made beside the data first, so a failure leaves the data as it was.
    let fresh = temp_name("restore");
    let mut copier = Copier::new();
    let made = (|| {
        data.create_dir(&fresh, 0o700)?;
        let dst = data.open_dir(&fresh)?;
        copier.copy_children(&snap, &dst, false)?;
        dst.syncfs()
    })();
    if made.is_err() {
        let _ = crate::fsutil::remove_tree(&data, &fresh);
    }
    made?;
    let old = temp_name("replaced");
    data.create_dir(&old, 0o700)?;
    let old_dir = data.open_dir(&old)?;
    for e in data.entries()? {
        let Some(n) = e.name_str() else { continue };
        if n == SNAPSHOTS || is_temp(n) {
            continue;
        }
        data.rename(n, &old_dir, n)?;
    }
    let fresh_dir = data.open_dir(&fresh)?;
    for e in fresh_dir.entries()? {
        let Some(n) = e.name_str() else { continue };
        fresh_dir.rename(n, &data, n)?;
    }
    data.fsync()?;
    crate::fsutil::remove_tree(&data, &fresh)?;
    crate::fsutil::remove_tree(&data, &old)?;
    tracing::info!(
        "data of {profile} restored from {} ({} files)",
        snap.path().display(),
        copier.files
    );
    Ok(copier.method())
}

/// Moves the finished snapshot `tmp` to `name`: a rename, or an exchange with an older
/// snapshot of that name (then removed), so at every instant one complete snapshot is there.
fn put_in_place(snaps: &Dir, tmp: &str, name: &str) -> Result<()> {
    match snaps.rename_noreplace(tmp, snaps, name) {
        Ok(()) => Ok(()),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            rustix::fs::renameat_with(
                snaps.fd(),
                tmp,
                snaps.fd(),
                name,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(|e| Error::io("exchange", snaps.join(name), e.into()))?;
            crate::fsutil::remove_tree(snaps, tmp)
        }
        Err(e) => Err(e),
    }
}

fn remove_snapshot(snaps: &Dir, n: u64) -> Result<()> {
    let name = n.to_string();
    let doomed = temp_name(&name);
    snaps.rename(&name, snaps, &doomed)?;
    crate::fsutil::remove_tree(snaps, &doomed)
}

/// Copies trees file by file: a clone where the filesystem allows, else the bytes.
struct Copier {
    clone_works: Option<bool>,
    files: u64,
    as_root: bool,
}

impl Copier {
    fn new() -> Copier {
        Copier {
            clone_works: None,
            files: 0,
            as_root: rustix::process::geteuid().is_root(),
        }
    }

    fn method(&self) -> Method {
        if self.clone_works == Some(true) {
            Method::Reflink
        } else {
            Method::Copy
        }
    }

    /// Gives `rel` the owner of `st` (only root can).
    fn own(&self, dir: &Dir, rel: &str, st: &crate::fsutil::Stat) -> Result<()> {
        if self.as_root {
            dir.chown(rel, st.st_uid, st.st_gid)?;
        }
        Ok(())
    }

    /// Copies what is in `src` into `dst` (which exists); at the top of a data directory
    /// (`top`), `.snapshots/` and temporary names are left out.
    fn copy_children(&mut self, src: &Dir, dst: &Dir, top: bool) -> Result<()> {
        for e in src.entries()? {
            let Some(n) = e.name_str() else {
                tracing::warn!(
                    "{}: name is not UTF-8; not in the snapshot",
                    src.join(&e.name).display()
                );
                continue;
            };
            if top && (n == SNAPSHOTS || is_temp(n)) {
                continue;
            }
            let Some(st) = src.stat(n)? else { continue };
            match e.kind {
                Kind::Dir => {
                    dst.create_dir(n, 0o700)?;
                    let sub = dst.open_dir(n)?;
                    self.copy_children(&src.open_dir(n)?, &sub, false)?;
                    sub.chmod(".", st.st_mode & 0o1777)
                        .map_err(|err| Error::io("chmod", sub.path(), err))?;
                    self.own(dst, n, &st)?;
                    set_times(dst, n, &st)?;
                }
                Kind::File => {
                    self.copy_file(src, dst, n, &st)?;
                    self.files += 1;
                }
                Kind::Symlink => {
                    if let Some(target) = src.read_link(n)? {
                        dst.symlink(target, n)?;
                        self.own(dst, n, &st)?;
                        set_times(dst, n, &st)?;
                    }
                }
                Kind::Other => tracing::warn!(
                    "{}: not a file, directory or symlink; not copied",
                    src.join(n).display()
                ),
            }
        }
        Ok(())
    }

    fn copy_file(&mut self, src: &Dir, dst: &Dir, n: &str, st: &crate::fsutil::Stat) -> Result<()> {
        let Some(mut input) = src.open_file(n)? else {
            return Ok(());
        };
        let mut out = dst
            .create_file(n, 0o600)
            .map_err(|e| Error::io("create", dst.join(n), e))?;
        let mut cloned = false;
        if self.clone_works != Some(false) {
            match rustix::fs::ioctl_ficlone(&out, &input) {
                Ok(()) => {
                    cloned = true;
                    self.clone_works = Some(true);
                }
                Err(e) => {
                    tracing::debug!("FICLONE {}: {e}; copying", src.join(n).display());
                    self.clone_works = Some(false);
                }
            }
        }
        if !cloned {
            std::io::copy(&mut input, &mut out).map_err(|e| Error::io("copy", src.join(n), e))?;
        }
        rustix::fs::fchmod(&out, rustix::fs::Mode::from_raw_mode(st.st_mode & 0o1777))
            .map_err(|e| Error::io("chmod", dst.join(n), e.into()))?;
        if self.as_root {
            rustix::fs::fchown(
                &out,
                Some(rustix::fs::Uid::from_raw(st.st_uid)),
                Some(rustix::fs::Gid::from_raw(st.st_gid)),
            )
            .map_err(|e| Error::io("chown", dst.join(n), e.into()))?;
        }
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: st.st_atime as _,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: st.st_mtime as _,
                tv_nsec: st.st_mtime_nsec as _,
            },
        };
        rustix::fs::futimens(&out, &times)
            .map_err(|e| Error::io("set times", dst.join(n), e.into()))
    }
}

/// Gives `n` (not followed) the access and modification times of `st`.
fn set_times(dir: &Dir, n: &str, st: &crate::fsutil::Stat) -> Result<()> {
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    };
    rustix::fs::utimensat(dir.fd(), n, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("set times", dir.join(n), e.into()))
}
