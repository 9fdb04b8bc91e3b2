//! The one way berth makes a change durable: write a temporary file, fsync it, rename it over
//! the target, fsync the directory. Also the symlink-replace helper and tree removal.

use crate::error::{IoContext, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary sibling that no other process or thread will pick.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()))
}

/// Fsyncs a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = fs::File::open(dir).ctx("open directory", dir)?;
    f.sync_all().ctx("fsync directory", dir)
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_mode(path, bytes, 0o644)
}

/// As [`atomic_write`], with the file mode of the result.
pub fn atomic_write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    atomic_write_with(path, mode, |f| f.write_all(bytes).ctx("write", path))
}

/// Streams a file into place atomically and durably: `fill` writes a temporary sibling,
/// which is fsynced and renamed over `path` (then the directory is fsynced). On any error
/// the temporary file is removed and `path` is untouched.
pub fn atomic_write_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut fs::File) -> Result<()>,
) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        // Created with its final mode, so a secret is never readable by others meanwhile.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .ctx("create", &tmp)?;
        fill(&mut f)?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .ctx("chmod", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        fs::rename(&tmp, path).ctx("rename into place", path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(parent_of(path))
}

/// Points the symlink `link` at `target` atomically (temp link + rename), then fsyncs the
/// directory. Readers see either the old target or the new one, never nothing.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let tmp = temp_sibling(link);
    std::os::unix::fs::symlink(target, &tmp).ctx("create symlink", &tmp)?;
    if let Err(e) = fs::rename(&tmp, link).ctx("rename symlink into place", link) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(parent_of(link))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes the whole filesystem that holds `path` (one call instead of an fsync per file).
pub fn syncfs(path: &Path) -> Result<()> {
    let f = fs::File::open(path).ctx("open", path)?;
    use std::os::fd::AsRawFd;
    nix::unistd::syncfs(f.as_raw_fd()).ctx("syncfs", path)
}

/// Removes a tree whose directories may be read-only (store entries are 0555): write bits
/// are restored on directories first. A missing tree is not an error.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(crate::Error::io("stat", path, e)),
        Ok(m) if !m.is_dir() => return fs::remove_file(path).ctx("remove", path),
        Ok(_) => {}
    }
    make_dirs_writable(path)?;
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r.ctx("remove tree", path),
    }
}

fn make_dirs_writable(dir: &Path) -> Result<()> {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(crate::Error::io("read directory", dir, e)),
    };
    for ent in rd {
        let ent = ent.ctx("read directory", dir)?;
        if ent.file_type().ctx("stat", ent.path())?.is_dir() {
            make_dirs_writable(&ent.path())?;
        }
    }
    Ok(())
}

/// The children of a directory (none when it does not exist).
pub fn children(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(crate::Error::io("read directory", dir, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        out.push(ent.ctx("read directory", dir)?.path());
    }
    out.sort();
    Ok(out)
}

/// Creates a directory and its parents; an existing one is fine.
pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).ctx("create directory", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_symlink_switches_target() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("link");
        replace_symlink(Path::new("a"), &l).unwrap();
        replace_symlink(Path::new("b"), &l).unwrap();
        assert_eq!(fs::read_link(&l).unwrap(), Path::new("b"));
    }

    #[test]
    fn remove_tree_handles_read_only_dirs() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t");
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/b/f"), b"x").unwrap();
        fs::set_permissions(t.join("a/b"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(t.join("a"), fs::Permissions::from_mode(0o555)).unwrap();
        remove_tree(&t).unwrap();
        assert!(!t.exists());
    }
}
