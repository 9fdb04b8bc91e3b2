//! The seam every format's reader shares: what a reader gets ([`StreamCtx`]) and hands
//! back ([`Streamed`]), and how its errors are named. The readers (tar in `read`, deb, rpm)
//! import this; the dispatcher (`read`) imports the readers, never the reverse.

use super::compression::Compression;
use super::decode::{classify, reclassify};
use super::extract::tar::{TarError, TarTarget};
use super::extract::{Limits, Report};
use super::manifest::Manifest;
use super::seekable::SeekTable;
use super::sink::{Begin, SinkError};
use crate::error::{Error, Result, Unsafe};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// What the caller knows or wants beyond the file itself.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Package name (needed for tarballs; checked against the package's own otherwise).
    pub name: Option<String>,
    /// Package version (likewise).
    pub version: Option<String>,
    /// Leading components to drop (tarballs).
    pub strip_components: usize,
    /// Expected sha256 of the artifact.
    pub sha256: Option<String>,
    /// Size, count, depth and ratio limits.
    pub limits: Limits,
    /// Accept a package with no files at all.
    pub allow_empty: bool,
    /// The artifact is a local rebuild of a signed package from its verified parts (a
    /// range install): its own sha256 is not checked (`sha256` stays unset); the entry's
    /// id must be this one before anything is committed.
    pub rebuilt_of: Option<RebuiltOf>,
}

/// The signed package a rebuilt artifact stands for.
#[derive(Debug, Clone)]
pub struct RebuiltOf {
    /// The store id the signed index gives (checked before commit).
    pub store_id: String,
    /// The signed file's sha256 (what the entry's origin records).
    pub sha256: String,
}

/// What a format's reader hands back: the outcome of streaming the members, the manifest it
/// learned, and whether the ratio guard stopped the stream.
pub struct Streamed {
    /// Members read (or why not).
    pub result: Result<(Report, Begin), TarError>,
    /// The package's manifest, once known.
    pub manifest: Option<Manifest>,
    /// The decompression-ratio guard stopped the stream.
    pub tripped: bool,
}

/// What every format's reader gets.
pub struct StreamCtx<'a> {
    /// The artifact, for messages.
    pub archive: &'a Path,
    /// The caller's options.
    pub opts: &'a ReadOptions,
    /// Compressed bytes read so far (for the ratio guard).
    pub raw_count: Arc<AtomicU64>,
    /// The artifact's size (a container's member cannot claim more).
    pub size: u64,
    /// The zstd seek table of a seekable `.berth` (see [`super::seekable`]).
    pub frames: Option<SeekTable>,
}

/// `finish` runs on the outermost sink (for `.berth`, the reader that checks every listed
/// member arrived), only when the stream was read whole.
pub fn finished(
    r: Result<(Report, Begin), TarError>,
    t: &mut dyn TarTarget,
) -> Result<(Report, Begin), TarError> {
    match r {
        Ok((report, Begin::Continue)) => t
            .finish()
            .map_err(sink_to_tar)
            .map(|()| (report, Begin::Continue)),
        other => other,
    }
}

/// A sink's error as a stream error.
pub fn sink_to_tar(e: SinkError) -> TarError {
    match e {
        SinkError::Refused(why) => TarError::Member {
            member: String::new(),
            why,
        },
        SinkError::RefusedMember { member, why } => TarError::Member { member, why },
        SinkError::Fail(e) => TarError::Sink(e),
    }
}

/// Names the member of a container (`data.tar.xz`, `payload` …) in an error from the
/// stream inside it: `data.tar.xz:./usr/bin/x`, or the member itself for a broken stream.
pub fn in_member(container: &str, e: TarError) -> TarError {
    let named = |member: String, why| TarError::Member {
        member: if member.is_empty() {
            container.to_string()
        } else {
            format!("{container}:{member}")
        },
        why,
    };
    match e {
        TarError::Member { member, why } | TarError::Sink(Error::Unsafe { member, why, .. }) => {
            named(member, why)
        }
        TarError::Stream(detail) => named(String::new(), Unsafe::Decode(classify(detail))),
        TarError::Sink(Error::BadArchive { detail, .. }) => {
            named(String::new(), Unsafe::Decode(reclassify(detail)))
        }
        TarError::Sink(e) => TarError::Sink(e),
    }
}

/// Refuses a member whose content is not compressed the way its name says.
pub fn check_sniffed(member: &str, named: Compression, head: &[u8]) -> Result<(), TarError> {
    let found = Compression::sniff(head);
    if found != named {
        return Err(TarError::Member {
            member: member.to_string(),
            why: Unsafe::CompressionMismatch {
                named: named.tar_name(),
                found: found.tar_name(),
            },
        });
    }
    Ok(())
}
