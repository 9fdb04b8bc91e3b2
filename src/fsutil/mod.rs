//! The ground floor of every file operation: an open-directory type that never follows a
//! symlink beneath it ([`Dir`]), the one durable-write helper, whole-tree removal and walks,
//! and the one scheme for temporary names. Nothing else in berth opens a path under the root.

mod atomic;
pub mod dir;
mod ops;
pub mod temp;
pub mod tree;

pub use dir::{set_file_mtime, start_writeback, Dir, DirEntry, Kind, Stat, MAX_METADATA};
pub use temp::{is_temp, temp_name};
pub use tree::{remove_tree, walk};

use crate::error::{Error, Result};
use std::path::Path;

/// The process umask (read once; it decides whether created modes need a chmod).
pub fn umask() -> u32 {
    static MASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MASK.get_or_init(|| {
        let m = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
        rustix::process::umask(m);
        m.bits()
    })
}

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
