//! The content-addressed object pool `store/.objects/ab/cdef…`: one file per distinct
//! (content, mode), shared by hard links between every entry that has those bytes.
//! Empty files are never pooled (each entry gets its own).

use crate::error::{Error, Result};
use crate::fsutil::{Dir, Kind};
use crate::package::listing::FileMode;
use crate::root::DIR_MODE;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The pool of one root.
#[derive(Debug, Clone)]
pub struct ObjectPool {
    /// An open handle on the pool, so links resolve `ab/cdef…` instead of a long path.
    dir: Arc<Dir>,
    /// Each shard `ab/`, opened once on first use: an install looks up every one of its
    /// files in the pool, and opening the shard each time doubled the syscalls of a file.
    shards: Arc<[OnceLock<Dir>; 256]>,
}

/// Why a pooled object cannot be used.
#[derive(Debug)]
pub enum LinkError {
    /// The pool has no such object.
    Missing,
    /// The object is there but is not what its name promises (tampering or damage).
    Bad(String),
    /// Any other failure.
    Io(io::Error),
}

impl ObjectPool {
    /// Opens the pool of the store directory `store`, creating its 256 shards if needed.
    pub fn open(store: &Dir) -> Result<ObjectPool> {
        let dir = store.ensure_dir(super::OBJECTS, DIR_MODE)?;
        if dir.stat("ff")?.is_none() {
            for i in 0..=255u8 {
                dir.create_dir(&format!("{i:02x}"), DIR_MODE)?;
            }
        }
        Ok(ObjectPool::of(dir))
    }

    fn of(dir: Dir) -> ObjectPool {
        ObjectPool {
            dir: Arc::new(dir),
            shards: Arc::new(std::array::from_fn(|_| OnceLock::new())),
        }
    }

    /// The shard holding the object `rel` (`ab/cdef…`) and the object's name in it.
    fn shard<'a>(&self, rel: &'a str) -> io::Result<(&Dir, &'a str)> {
        let bad = || io::Error::from_raw_os_error(libc::EINVAL);
        let (shard, name) = rel.split_once('/').ok_or_else(bad)?;
        let i = u8::from_str_radix(shard, 16).map_err(|_| bad())?;
        if shard.len() != 2 || shard != format!("{i:02x}") {
            return Err(bad());
        }
        let slot = &self.shards[i as usize];
        if let Some(d) = slot.get() {
            return Ok((d, name));
        }
        let d = self.dir.open_dir(shard).map_err(|e| match e {
            Error::Io { source, .. } => source,
            e => io::Error::other(e.to_string()),
        })?;
        // Another thread may have opened it meanwhile; either handle will do.
        let _ = slot.set(d);
        Ok((slot.get().ok_or_else(bad)?, name))
    }

    /// Opens an existing pool for reading (`None` when there is none).
    pub fn open_existing(store: &Dir) -> Result<Option<ObjectPool>> {
        Ok(store.open_dir_opt(super::OBJECTS)?.map(ObjectPool::of))
    }

    /// The pool's directory handle.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The object's path relative to the pool: `ab/cdef…` (0444), `ab/cdef…x` (0555), and
    /// for a native package's other modes `ab/cdef…-440`: an object's mode is every
    /// entry's that links it, so a file of another mode is another object.
    pub fn rel(sha256: &[u8; 32], mode: FileMode) -> String {
        let hex = hex::encode(sha256);
        let suffix = match mode {
            FileMode::PLAIN => String::new(),
            FileMode::EXEC => "x".into(),
            m => format!("-{:03o}", m.bits()),
        };
        format!("{}/{}{suffix}", &hex[..2], &hex[2..])
    }

    /// The object's full path, for messages.
    pub fn path(&self, sha256: &[u8; 32], mode: FileMode) -> PathBuf {
        self.dir.join(Self::rel(sha256, mode))
    }

    /// Links the object into `into` at `rel`, after checking that it is a regular file of
    /// `size` bytes with the store's mode: a link planted in the pool must never become a
    /// file of a new entry.
    pub fn link_out(
        &self,
        sha256: &[u8; 32],
        mode: FileMode,
        size: u64,
        into: &Dir,
        rel: &str,
    ) -> Result<(), LinkError> {
        let obj = Self::rel(sha256, mode);
        let (shard, name) = self.shard(&obj).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LinkError::Missing,
            _ => LinkError::Bad(e.to_string()),
        })?;
        let st = match shard.stat(name) {
            Ok(Some(st)) => st,
            Ok(None) => return Err(LinkError::Missing),
            Err(e) => return Err(LinkError::Bad(e.to_string())),
        };
        let want_mode = mode.bits();
        if crate::fsutil::dir::kind_of(&st) != Kind::File {
            return Err(LinkError::Bad("it is not a regular file".into()));
        }
        if st.st_size as u64 != size || st.st_mode & 0o7777 != want_mode {
            return Err(LinkError::Bad(format!(
                "it has {} bytes and mode {:o}, expected {size} bytes and mode {want_mode:o}",
                st.st_size,
                st.st_mode & 0o7777
            )));
        }
        match into.link_from_dir(shard, name, rel) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LinkError::Missing),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// Makes the file at `rel` beneath `from` the object (AlreadyExists when it is one).
    pub fn link_in(
        &self,
        from: &Dir,
        rel: &str,
        sha256: &[u8; 32],
        mode: FileMode,
    ) -> io::Result<()> {
        let obj = Self::rel(sha256, mode);
        let (shard, name) = self.shard(&obj)?;
        shard.link_from_dir(from, rel, name)
    }

    /// Removes the object when nothing but the pool links it any more; returns whether it did.
    pub fn remove_if_orphan(&self, rel: &str) -> Result<bool> {
        match self.dir.stat(rel)? {
            Some(st) if st.st_nlink <= 1 => {
                self.dir.remove_file(rel)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Every object of the pool: (`ab/cdef…`, its metadata), shard by shard.
    pub fn objects(&self) -> Result<Vec<(String, crate::fsutil::Stat)>> {
        use rayon::prelude::*;
        let shards: Vec<String> = self
            .dir
            .entries()?
            .into_iter()
            .filter(|e| e.kind == Kind::Dir)
            .filter_map(|e| e.name_str().map(str::to_string))
            .collect();
        let per: Vec<Vec<(String, crate::fsutil::Stat)>> = shards
            .par_iter()
            .map(|s| {
                let d = self.dir.open_dir(s)?;
                let mut v = Vec::new();
                for ent in d.entries()? {
                    let name = ent.name.to_string_lossy().into_owned();
                    if let Some(st) = d.stat(&name)? {
                        v.push((format!("{s}/{name}"), st));
                    }
                }
                Ok::<_, Error>(v)
            })
            .collect::<Result<_>>()?;
        Ok(per.into_iter().flatten().collect())
    }

    /// Parses an object's name (see [`ObjectPool::rel`]) back into (sha256, mode), for
    /// `check` and `gc`; `None` for a name `rel` would not write.
    pub fn parse_name(rel: &str) -> Option<([u8; 32], FileMode)> {
        let (shard, name) = rel.split_once('/')?;
        if shard.len() != 2 {
            return None;
        }
        let (hex_rest, mode) = if let Some(h) = name.strip_suffix('x') {
            (h, FileMode::EXEC)
        } else if let Some((h, m)) = name.split_once('-') {
            let bits = u32::from_str_radix(m, 8).ok()?;
            let mode = FileMode::from_bits(bits).filter(|m| !m.is_usual())?;
            (h, mode)
        } else {
            (name, FileMode::PLAIN)
        };
        let mut sha = [0u8; 32];
        hex::decode_to_slice(format!("{shard}{hex_rest}"), &mut sha).ok()?;
        (Self::rel(&sha, mode) == rel).then_some((sha, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_one_per_content_and_mode() {
        let sha = [0xab; 32];
        let modes = [
            FileMode::PLAIN,
            FileMode::EXEC,
            FileMode::native(0o600),
            FileMode::native(0o750),
        ];
        for m in modes {
            let rel = ObjectPool::rel(&sha, m);
            assert_eq!(ObjectPool::parse_name(&rel), Some((sha, m)), "{rel}");
        }
        assert!(ObjectPool::rel(&sha, FileMode::native(0o640)).ends_with("-440"));
        let hex = hex::encode(&sha[1..]);
        // Only the spelling `rel` writes: no write bits, no second name for 0444/0555.
        for bad in ["-644", "-444", "-555", "-0440", "-4x0", "x-440"] {
            assert_eq!(
                ObjectPool::parse_name(&format!("ab/{hex}{bad}")),
                None,
                "{bad}"
            );
        }
    }
}
