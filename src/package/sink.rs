//! Where checked members go: the [`Sink`] a package reader streams into. The store
//! implements it (staging, pooling, commit); a reader knows nothing of the store beyond it.

use super::listing::{FileList, FileMode};
use super::manifest::Manifest;
use crate::error::{Error, Unsafe};
use std::io::Read;

/// What the sink wants once it knows which package is coming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Send the members.
    Continue,
    /// Stop: the sink already has this exact content (a reinstall).
    Skip,
}

/// What a sink can answer.
#[derive(Debug)]
pub enum SinkError {
    /// The member being delivered is refused.
    Refused(Unsafe),
    /// A member delivered earlier is refused (checks may run off the reading thread).
    RefusedMember {
        /// The member's path.
        member: String,
        /// Why.
        why: Unsafe,
    },
    /// Anything else (I/O in the staging tree …), already a complete error.
    Fail(Error),
}

impl From<Error> for SinkError {
    fn from(e: Error) -> Self {
        SinkError::Fail(e)
    }
}

/// Receives the members that passed every check, in archive order. Paths are normalised,
/// relative, `/`-separated, and never pass through a symlink of the archive.
pub trait Sink {
    /// The package is known (its manifest and, for formats that carry one, its complete
    /// file list), before any member.
    fn begin(&mut self, manifest: &Manifest, list: Option<&FileList>) -> Result<Begin, SinkError>;
    /// A directory (parents of every member are announced before it).
    fn dir(&mut self, path: &str) -> Result<(), SinkError>;
    /// A regular file of `size` bytes read from `data`. With `expected`, the content must
    /// hash to it (the sink hashes while writing; a mismatch is `ListMismatch`).
    fn file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError>;
    /// A regular file whose listed content (`sha256`, `mode`, `size`) the sink may already
    /// hold, offered by a seekable package before the member's data is decoded. `true`:
    /// the sink placed the file from what it holds (content it verified when it stored
    /// it), and the data is skipped; `false`: [`Sink::file`] follows as usual.
    fn try_link_pooled(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<bool, SinkError> {
        let _ = (path, mode, size, sha256);
        Ok(false)
    }
    /// A regular file of a seekable package whose data is decoded anyway (it shares a
    /// frame with other members) and whose listed content is `sha256`: like
    /// [`Sink::try_link_pooled`] then [`Sink::file`], except that the sink may decide
    /// later, on another thread, whether it takes the content it holds or the data.
    fn file_or_pooled(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        sha256: [u8; 32],
    ) -> Result<(), SinkError> {
        pooled_else_file(self, path, mode, size, data, sha256)
    }
    /// A symlink whose target stays inside the package.
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError>;
    /// A hard link to a regular file delivered earlier.
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError>;
    /// Every member was delivered: finish background work and report its errors.
    fn finish(&mut self) -> Result<(), SinkError>;
}

/// [`Sink::try_link_pooled`], and [`Sink::file`] when the sink does not hold the content:
/// what [`Sink::file_or_pooled`] does unless a sink decides later.
pub fn pooled_else_file<S: Sink + ?Sized>(
    sink: &mut S,
    path: &str,
    mode: FileMode,
    size: u64,
    data: &mut dyn Read,
    sha256: [u8; 32],
) -> Result<(), SinkError> {
    if size > 0 && sink.try_link_pooled(path, mode, size, &sha256)? {
        return Ok(());
    }
    sink.file(path, mode, size, data, Some(sha256))
}
