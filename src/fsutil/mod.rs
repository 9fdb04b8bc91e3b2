//! The ground floor of every file operation: an open-directory type that never follows a
//! symlink beneath it ([`Dir`]), the one durable-write helper, whole-tree removal and walks,
//! and the one scheme for temporary names. Nothing else in berth opens a path under the root.

mod atomic;
pub mod dir;
mod input;
mod ops;
pub mod temp;
pub mod tree;

pub use dir::{Dir, DirEntry, Kind, Stat, MAX_METADATA};
pub use input::{kind_name, open_input, read_input, read_input_text};
pub use ops::{set_file_mtime, start_writeback, umask, STORE_MTIME};
pub use temp::{is_temp, temp_name, temp_stem};
pub use tree::{remove_tree, walk};

use crate::error::{Error, Result};
use std::path::Path;

/// Mode of every directory berth creates outside the store (entries are 0555).
pub const DIR_MODE: u32 = 0o755;
/// Mode of every metadata file berth writes outside the store.
pub const FILE_MODE: u32 = 0o644;
/// The longest file name (one path component) Linux allows, in bytes.
pub const NAME_MAX: usize = 255;

/// Writes a file the user named (outside the root: `pack`'s output, a key file)
/// atomically and durably, through the same helper as everything in the root.
pub fn write_user_file_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::BadOutputPath {
            path: path.to_path_buf(),
        })?;
    let dir = Dir::open_path(parent).map_err(|e| Error::io("open directory", parent, e))?;
    dir.write_atomic_with(name, mode, fill)
}

/// Writes `bytes` to a file the user named, atomically and durably, with exactly `mode`.
pub fn write_user_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    write_user_file_with(path, mode, |f| {
        f.write_all(bytes).map_err(|e| Error::io("write", path, e))
    })
}

/// Creates a directory the user named, and its missing parents, with mode 0755 (whatever
/// the umask); an existing one is fine.
pub fn create_user_dirs(path: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = path;
    loop {
        match std::fs::symlink_metadata(p) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(p);
                match p.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => p = parent,
                    _ => break,
                }
            }
            Err(e) => return Err(Error::io("stat", p, e)),
        }
    }
    for m in missing.into_iter().rev() {
        let parent = match m.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = Dir::open_path(parent).map_err(|e| Error::io("open directory", parent, e))?;
        let name = m
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::BadOutputPath {
                path: m.to_path_buf(),
            })?;
        dir.create_dir(name, DIR_MODE)?;
    }
    Ok(())
}
