//! A .deb's data archive on its way to the sink: every regular file listed in `md5sums` is
//! hashed as it streams and compared with its listed digest (a hard link must have its
//! target's), and what the package really holds is remembered so the caller can check the
//! conffiles and md5sums lists against it once the stream has ended.

use crate::error::Unsafe;
use crate::package::extract::tar::TarTarget;
use crate::package::listing::{FileList, FileMode};
use crate::package::manifest::Manifest;
use crate::package::sink::{Begin, Sink, SinkError};
use md5::{Digest, Md5};
use std::collections::{HashMap, HashSet};
use std::io::Read;

/// Checks data members against `md5sums` on their way to `inner`.
pub struct DataTarget<'s> {
    inner: &'s mut dyn Sink,
    md5sums: HashMap<String, [u8; 16]>,
    /// Digests of the listed files seen so far (for hard links to them).
    seen_md5: HashMap<String, [u8; 16]>,
    /// Regular files (and hard links) of the archive.
    pub files: HashSet<String>,
}

/// Hashes what passes through it.
struct Md5Reader<'a> {
    inner: &'a mut dyn Read,
    hasher: Md5,
}

impl Read for Md5Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn mismatch(expected: &[u8; 16], actual: &[u8; 16]) -> SinkError {
    SinkError::Refused(Unsafe::Md5Mismatch {
        expected: hex::encode(expected),
        actual: hex::encode(actual),
    })
}

impl<'s> DataTarget<'s> {
    /// A target feeding `inner`, checking against `md5sums` (path relative to the root).
    pub fn new(inner: &'s mut dyn Sink, md5sums: HashMap<String, [u8; 16]>) -> Self {
        DataTarget {
            inner,
            md5sums,
            seen_md5: HashMap::new(),
            files: HashSet::new(),
        }
    }

    /// Listed paths the archive did not hold as regular files, sorted.
    pub fn unseen_md5sums(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .md5sums
            .keys()
            .filter(|p| !self.files.contains(*p))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

impl Sink for DataTarget<'_> {
    fn begin(&mut self, m: &Manifest, l: Option<&FileList>) -> Result<Begin, SinkError> {
        self.inner.begin(m, l)
    }
    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        if self.md5sums.contains_key(path) {
            return Err(SinkError::Refused(Unsafe::Md5Unchecked(
                "data.tar has a directory there".into(),
            )));
        }
        self.inner.dir(path)
    }
    fn file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        self.files.insert(path.to_string());
        let Some(want) = self.md5sums.get(path).copied() else {
            return self.inner.file(path, mode, size, data, expected);
        };
        let mut r = Md5Reader {
            inner: data,
            hasher: Md5::new(),
        };
        self.inner.file(path, mode, size, &mut r, expected)?;
        let got: [u8; 16] = r.hasher.finalize().into();
        if got != want {
            return Err(mismatch(&want, &got));
        }
        self.seen_md5.insert(path.to_string(), got);
        Ok(())
    }
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        if self.md5sums.contains_key(path) {
            return Err(SinkError::Refused(Unsafe::Md5Unchecked(
                "data.tar has a symlink there".into(),
            )));
        }
        self.inner.symlink(path, target)
    }
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        if let Some(want) = self.md5sums.get(path).copied() {
            let Some(got) = self.seen_md5.get(target).copied() else {
                return Err(SinkError::Refused(Unsafe::Md5Unchecked(
                    "it is a hard link to a file md5sums does not list".into(),
                )));
            };
            if got != want {
                return Err(mismatch(&want, &got));
            }
            self.seen_md5.insert(path.to_string(), got);
        }
        self.files.insert(path.to_string());
        self.inner.hardlink(path, target)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }
}

impl TarTarget for DataTarget<'_> {}
