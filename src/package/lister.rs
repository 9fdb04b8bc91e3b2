//! A sink that only hashes: what a package installs as (its file list, hence its store id)
//! without a store, through the very same reader and rules as an install. `repo publish`
//! writes the id into the signed index with it.

use super::listing::{FileList, FileMode, Record};
use super::manifest::Manifest;
use super::read::{read, ReadOptions, ReadOutcome};
use super::sink::{Begin, Sink, SinkError};
use crate::error::{Error, Result, Unsafe};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Collects the file list of the members it receives.
#[derive(Debug, Default)]
pub struct Lister {
    /// The list so far.
    pub list: FileList,
    hardlinks: Vec<(String, String)>,
}

impl Sink for Lister {
    fn begin(&mut self, _m: &Manifest, _l: Option<&FileList>) -> Result<Begin, SinkError> {
        Ok(Begin::Continue)
    }
    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.list.records.insert(path.to_string(), Record::Dir);
        Ok(())
    }
    fn file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        let mut h = Sha256::new();
        let n = std::io::copy(&mut data.take(size), &mut h).map_err(|e| {
            SinkError::Fail(Error::BadArchive {
                archive: Default::default(),
                detail: format!("{path}: {e}").into(),
            })
        })?;
        if n != size {
            return Err(SinkError::Refused(Unsafe::Truncated));
        }
        let sha256: [u8; 32] = h.finalize().into();
        if let Some(want) = expected.filter(|w| *w != sha256) {
            return Err(SinkError::Refused(Unsafe::ListMismatch(format!(
                "sha256 is {}, listed {}",
                hex::encode(sha256),
                hex::encode(want)
            ))));
        }
        let rec = Record::File { mode, size, sha256 };
        self.list.records.insert(path.to_string(), rec);
        Ok(())
    }
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        let rec = Record::Symlink {
            target: target.to_string(),
        };
        self.list.records.insert(path.to_string(), rec);
        Ok(())
    }
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.hardlinks.push((path.to_string(), target.to_string()));
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        for (link, target) in std::mem::take(&mut self.hardlinks) {
            let rec = self.list.records.get(&target).cloned().ok_or_else(|| {
                SinkError::RefusedMember {
                    member: link.clone(),
                    why: Unsafe::HardlinkBadTarget(target.clone(), "not a regular file"),
                }
            })?;
            self.list.records.insert(link, rec);
        }
        Ok(())
    }
}

/// Reads the package at `path` the way an install would, and returns what it found with
/// the file list it installs as.
pub fn list_package(path: &Path, opts: &ReadOptions) -> Result<(ReadOutcome, FileList)> {
    let mut lister = Lister::default();
    let out = read(path, opts, &mut lister)?;
    Ok((out, lister.list))
}
