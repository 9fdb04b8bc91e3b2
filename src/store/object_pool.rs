//! The content-addressed object pool `store/.objects/ab/cdef…`: one file per distinct
//! (content, exec bit), shared by hard links between every entry that has those bytes.
//! Empty files are never pooled (each entry gets its own).

use super::dirfd::Dir;
use crate::error::{IoContext, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The pool of one root.
#[derive(Debug, Clone)]
pub struct ObjectPool {
    dir: PathBuf,
    /// An open handle on the pool, so links resolve `ab/cdef…` instead of a long path.
    fd: Arc<Dir>,
}

impl ObjectPool {
    /// Opens the pool, creating its 256 shard directories if needed.
    pub fn open(dir: PathBuf) -> Result<ObjectPool> {
        if !dir.join("ff").is_dir() {
            for i in 0..=255u8 {
                let d = dir.join(format!("{i:02x}"));
                std::fs::create_dir_all(&d).ctx("create directory", &d)?;
            }
        }
        let fd = Arc::new(Dir::open(&dir).ctx("open", &dir)?);
        Ok(ObjectPool { dir, fd })
    }

    /// The object's path relative to the pool (`ab/cdef…[x]`).
    pub fn rel(&self, sha256: &[u8; 32], exec: bool) -> String {
        let hex = hex::encode(sha256);
        let suffix = if exec { "x" } else { "" };
        format!("{}/{}{suffix}", &hex[..2], &hex[2..])
    }

    /// Links the object into `into` at `rel` (NotFound when the pool lacks it).
    pub fn link_out(
        &self,
        sha256: &[u8; 32],
        exec: bool,
        into: &Dir,
        rel: &str,
    ) -> std::io::Result<()> {
        into.link_from_dir(&self.fd, &self.rel(sha256, exec), rel)
    }

    /// Makes the file at `rel` beneath `from` the object (AlreadyExists when it is one).
    pub fn link_in(
        &self,
        from: &Dir,
        rel: &str,
        sha256: &[u8; 32],
        exec: bool,
    ) -> std::io::Result<()> {
        self.fd.link_from_dir(from, rel, &self.rel(sha256, exec))
    }

    /// The pool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the object with this content and exec bit lives.
    pub fn path(&self, sha256: &[u8; 32], exec: bool) -> PathBuf {
        let hex = hex::encode(sha256);
        let suffix = if exec { "x" } else { "" };
        self.dir
            .join(&hex[..2])
            .join(format!("{}{suffix}", &hex[2..]))
    }

    /// Parses an object's file name back into (sha256, exec), for `check` and `gc`.
    pub fn parse_name(shard: &str, name: &str) -> Option<([u8; 32], bool)> {
        let (hex_rest, exec) = match name.strip_suffix('x') {
            Some(h) => (h, true),
            None => (name, false),
        };
        let mut sha = [0u8; 32];
        hex::decode_to_slice(format!("{shard}{hex_rest}"), &mut sha).ok()?;
        Some((sha, exec))
    }
}
