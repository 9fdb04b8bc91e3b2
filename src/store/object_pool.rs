//! The content-addressed object pool `store/.objects/ab/cdef…`: one file per distinct
//! (content, exec bit), shared by hard links between every entry that has those bytes.
//! Empty files are never pooled (each entry gets its own).

use crate::error::{IoContext, Result};
use std::path::{Path, PathBuf};

/// The pool of one root.
#[derive(Debug, Clone)]
pub struct ObjectPool {
    dir: PathBuf,
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
        Ok(ObjectPool { dir })
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
