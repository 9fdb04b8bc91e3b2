//! Looking at and preparing trees on disk: writing source files, walking, snapshots that
//! prove nothing changed, inode and disk-usage counts, and restoring write bits.

use sha2::Digest;
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes a file, creating its parents, with mode 0755 (`exec`) or 0644.
pub fn write_file(path: &Path, content: &[u8], exec: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes `files` under `dir`: path -> content; a path ending in `*` is executable (the
/// star is dropped).
pub fn write_tree(dir: &Path, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    for (path, content) in files {
        let (path, exec) = match path.strip_suffix('*') {
            Some(p) => (p, true),
            None => (*path, false),
        };
        write_file(&dir.join(path), content, exec);
    }
}

/// Sorted names in `dir` (empty when it does not exist).
pub fn children(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

/// Adds u+w to every directory and file under `path` (so tests may tamper or delete, and
/// read-only store trees can be removed by a user who is not root).
pub fn make_writable(path: &Path) {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return;
    };
    if m.file_type().is_symlink() {
        return;
    }
    let mode = m.permissions().mode();
    // u+rwx on directories: a test may also have taken the read or search bit away.
    let want = if m.is_dir() {
        mode | 0o700
    } else {
        mode | 0o200
    };
    if want != mode {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(want));
    }
    if m.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                make_writable(&e.path());
            }
        }
    }
}

/// Adds u+w to one directory (store entries are 0555), so a test may rename, add or remove
/// what is directly in it.
pub fn unseal(dir: &Path) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o200)).unwrap();
}

/// Bytes of disk used under `path`, counting every inode once (like `du -s -B1`):
/// the sum of st_blocks * 512 over unique (dev, ino).
pub fn disk_usage(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if seen.insert((m.dev(), m.ino())) {
            total += m.blocks() * 512;
        }
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    total
}

/// Every path under `dir` (relative, `/`-separated) with its metadata, not following links.
pub fn walk(dir: &Path) -> BTreeMap<String, std::fs::Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(r.clone());
            }
            out.insert(r.to_string_lossy().into_owned(), m);
        }
    }
    out
}

/// What a tree looks like, to prove a command changed nothing: every path (relative)
/// with its type, mode, size, inode, link count and content hash or link target. The
/// root's `.lock` (rewritten by every mutation, even one that is refused) and the paths
/// under `skip` are left out.
pub type Snapshot = BTreeMap<String, String>;

/// The [`Snapshot`] of `dir`, leaving out `skip` (a path under `dir`) if given.
pub fn snapshot(dir: &Path, skip: Option<&Path>) -> Snapshot {
    let mut snap = Snapshot::new();
    for (rel, m) in walk(dir) {
        let full = dir.join(&rel);
        if rel == ".lock" || skip.is_some_and(|s| full.starts_with(s)) {
            continue;
        }
        let mode = m.permissions().mode() & 0o7777;
        let desc = if m.file_type().is_symlink() {
            format!("link -> {}", std::fs::read_link(&full).unwrap().display())
        } else if m.is_dir() {
            format!("dir {mode:o}")
        } else {
            let content = std::fs::read(&full).unwrap_or_default();
            format!(
                "file {mode:o} {} ino={} nlink={} {}",
                m.len(),
                m.ino(),
                m.nlink(),
                sha256_hex(&content)
            )
        };
        snap.insert(rel, desc);
    }
    snap
}

/// Distinct inodes of a tree (including the tree's own directory) with their blocks in bytes.
pub fn inodes(tree: &Path) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    let m = std::fs::symlink_metadata(tree).unwrap();
    out.insert(m.ino(), m.blocks() * 512);
    for m in walk(tree).values() {
        out.insert(m.ino(), m.blocks() * 512);
    }
    out
}

/// Every pool object as (dev, ino).
pub fn pool_inodes(root: &Path) -> HashSet<(u64, u64)> {
    walk(&root.join("store/.objects"))
        .values()
        .filter(|m| m.is_file())
        .map(|m| (m.dev(), m.ino()))
        .collect()
}

/// sha256 of bytes, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}
