//! Config files (`[[config]]`) and writable directories (`[[writable]]`) of a profile's
//! packages: `<root>/etc/<profile>/<package>/<path>` and `<root>/var/<profile>/<package>/<path>`.
//! Each is seeded from the package's shipped copy the first time it is needed and never
//! overwritten afterwards, so the operator's edits and the service's data survive every
//! switch and rollback. Modes are explicit (not the umask); files are written atomically,
//! and a seeded directory appears whole (built beside, then renamed).

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::isolate::plan::Bind;
use crate::root::Root;
use crate::store::{Entry, LockedFile};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of directories berth creates under etc/ and var/.
const DIR_MODE: u32 = 0o755;
/// Mode of config files (0755 when the shipped copy is executable).
const FILE_MODE: u32 = 0o644;

/// The binds for `entries` of `profile`: config files and writable directories, from the
/// root onto their paths inside the namespace. Computes only; [`prepare`] creates them.
pub fn binds(root: &Root, profile: &str, entries: &[Entry]) -> Vec<Bind> {
    let mut out = Vec::new();
    for e in entries {
        for c in &e.manifest.config {
            out.push(Bind {
                source: root.etc().join(profile).join(e.name()).join(&c.path),
                target: Path::new("/").join(&c.path),
                dir: false,
                what: "config",
                package: e.spec(),
            });
        }
        for w in &e.manifest.writable {
            out.push(Bind {
                source: root.var().join(profile).join(e.name()).join(&w.path),
                target: Path::new("/").join(&w.path),
                dir: true,
                what: "writable",
                package: e.spec(),
            });
        }
    }
    out
}

/// Creates what [`binds`] names and does not exist yet, seeded from the packages. New
/// writable directories are given to `owner` (uid, gid) when set, so a service that runs
/// as another user can write them. Returns the binds.
pub fn prepare(
    root: &Root,
    _lock: &LockedFile,
    profile: &str,
    entries: &[Entry],
    owner: Option<(u32, u32)>,
) -> Result<Vec<Bind>> {
    let binds = binds(root, profile, entries);
    for b in &binds {
        let Some(e) = entries.iter().find(|e| e.spec() == b.package) else {
            continue;
        };
        let rel = b.target.strip_prefix("/").unwrap_or(&b.target);
        let shipped = e.path().join(rel);
        let base = if b.dir { root.var() } else { root.etc() };
        if b.dir {
            prepare_dir(&base, &b.source, &shipped, e, rel, owner)?;
        } else {
            prepare_file(&base, &b.source, &shipped, e, rel)?;
        }
    }
    Ok(binds)
}

fn wrong_kind(e: &Entry, what: &'static str, rel: &Path, found: &'static str) -> Error {
    let expected = if what == "config" {
        "a file"
    } else {
        "a directory"
    };
    crate::isolate::Error::WrongKind {
        package: e.spec(),
        what,
        path: rel.display().to_string(),
        found,
        expected,
    }
    .into()
}

fn prepare_file(base: &Path, dest: &Path, shipped: &Path, e: &Entry, rel: &Path) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(_) => {
            return Err(wrong_kind(
                e,
                "config",
                rel,
                "not a file in the root's etc/",
            ))
        }
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("stat", dest, err))
        }
        Err(_) => {}
    }
    make_parents(base, dest)?;
    // Follows links inside the package: safe extraction keeps them inside.
    match fs::metadata(shipped) {
        Ok(m) if m.is_file() => {
            let mode = if m.mode() & 0o111 != 0 {
                0o755
            } else {
                FILE_MODE
            };
            let mut src = fs::File::open(shipped).ctx("open", shipped)?;
            fsutil::atomic_write_with(dest, mode, |f| {
                std::io::copy(&mut src, f).ctx("copy", shipped).map(|_| ())
            })?;
            tracing::info!("config {} seeded from {}", dest.display(), e.spec());
        }
        Ok(_) => return Err(wrong_kind(e, "config", rel, "a directory")),
        Err(_) => {
            fsutil::atomic_write_mode(dest, b"", FILE_MODE)?;
            tracing::info!(
                "config {} created empty ({} ships none)",
                dest.display(),
                e.spec()
            );
        }
    }
    Ok(())
}

fn prepare_dir(
    base: &Path,
    dest: &Path,
    shipped: &Path,
    e: &Entry,
    rel: &Path,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            if let Some((uid, _)) = owner {
                if m.uid() != uid {
                    tracing::warn!(
                        "{} belongs to uid {}, but the service runs as uid {uid}; it may not be \
                         able to write there (chown it if it should)",
                        dest.display(),
                        m.uid()
                    );
                }
            }
            return Ok(());
        }
        Ok(_) => {
            return Err(wrong_kind(
                e,
                "writable",
                rel,
                "not a directory in the root's var/",
            ))
        }
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("stat", dest, err))
        }
        Err(_) => {}
    }
    make_parents(base, dest)?;
    let tmp = fsutil::temp_sibling(dest);
    let built = (|| {
        match fs::metadata(shipped) {
            Ok(m) if m.is_dir() => copy_tree(shipped, &tmp, owner)?,
            Ok(_) => return Err(wrong_kind(e, "writable", rel, "a file")),
            Err(_) => make_dir(&tmp, owner)?,
        }
        fs::rename(&tmp, dest).ctx("rename into place", dest)
    })();
    if built.is_err() {
        let _ = fsutil::remove_tree(&tmp);
    }
    built?;
    fsutil::fsync_dir(dest.parent().unwrap_or(base))?;
    tracing::info!("writable {} created for {}", dest.display(), e.spec());
    Ok(())
}

/// Creates the directories between `base`'s parent and `path`'s parent, mode 0755.
fn make_parents(base: &Path, path: &Path) -> Result<()> {
    let parent = path.parent().unwrap_or(base);
    let mut missing: Vec<PathBuf> = Vec::new();
    for anc in parent.ancestors() {
        if anc.exists() {
            break;
        }
        missing.push(anc.to_path_buf());
    }
    for dir in missing.iter().rev() {
        make_dir(dir, None)?;
        if let Some(p) = dir.parent() {
            fsutil::fsync_dir(p)?;
        }
    }
    Ok(())
}

fn make_dir(dir: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Error::io("create directory", dir, e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).ctx("chmod", dir)?;
    chown(dir, owner)
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).ctx("chown", path)?;
    }
    Ok(())
}

/// Copies a shipped directory: directories 0755, files 0644 (0755 when executable),
/// links as links; all given to `owner`. Made durable before the caller's rename.
fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    make_dir(to, owner)?;
    for ent in fs::read_dir(from).ctx("read directory", from)? {
        let ent = ent.ctx("read directory", from)?;
        let (src, dst) = (ent.path(), to.join(ent.file_name()));
        let ft = ent.file_type().ctx("stat", &src)?;
        if ft.is_dir() {
            copy_tree(&src, &dst, owner)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).ctx("read link", &src)?;
            std::os::unix::fs::symlink(&target, &dst).ctx("create symlink", &dst)?;
            chown(&dst, owner)?;
        } else if ft.is_file() {
            let exec = ent.metadata().ctx("stat", &src)?.mode() & 0o111 != 0;
            let mut input = fs::File::open(&src).ctx("open", &src)?;
            let mode = if exec { 0o755 } else { FILE_MODE };
            fsutil::atomic_write_with(&dst, mode, |f| {
                std::io::copy(&mut input, f).ctx("copy", &src).map(|_| ())
            })?;
            chown(&dst, owner)?;
        }
    }
    fsutil::fsync_dir(to)
}
