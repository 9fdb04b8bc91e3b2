//! The one way to read a package, whatever its format: open it ([`Source`]), learn its
//! manifest (from the package itself, or from the caller's hints for a plain tarball),
//! stream its checked members into a [`Sink`], verify the stream to its end, and report.
//! Every error leaves here naming the archive, once.

use super::compression::{decoder, Compression, RatioGuard, ZSTD_WINDOW_LOG_MAX};
use super::decode::{classify, reclassify};
use super::extract::tar::{read_tar, Plain, TarError, TarTarget};
use super::extract::{Options, Report};
use super::manifest::Manifest;
use super::name::{check_name, check_version};
use super::seekable::{FramedDecoder, SkipRequest};
use super::sink::{Begin, Sink};
use super::source::{Format, Source};
pub use super::stream::ReadOptions;
use super::stream::{finished, sink_to_tar, StreamCtx, Streamed};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// What reading a package found.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// The package's manifest.
    pub manifest: Manifest,
    /// Its format.
    pub format: Format,
    /// The artifact's sha256.
    pub sha256: String,
    /// What extraction observed.
    pub report: Report,
    /// The sink said it already had this content; nothing was delivered.
    pub skipped: bool,
}

/// Checks the options that do not depend on the file's content.
pub fn check_options(opts: &ReadOptions) -> Result<Option<String>> {
    if let Some(n) = &opts.name {
        check_name("package name", n)?;
    }
    if let Some(v) = &opts.version {
        check_version(v)?;
    }
    opts.sha256.as_deref().map(normalise_sha).transpose()
}

/// Reads the package at `path` into `sink`.
pub fn read(path: &Path, opts: &ReadOptions, sink: &mut dyn Sink) -> Result<ReadOutcome> {
    let expected = check_options(opts)?;
    let source = Source::open(path)?;
    read_source(source, opts, expected.as_deref(), sink)
}

/// Reads an opened package (see [`read`]).
pub fn read_source(
    source: Source,
    opts: &ReadOptions,
    expected_sha: Option<&str>,
    sink: &mut dyn Sink,
) -> Result<ReadOutcome> {
    let archive = source.path().to_path_buf();
    if source.looks_empty() && !opts.allow_empty {
        return Err(Error::EmptyArchive { archive });
    }
    let format = source.format();
    let frames = match format {
        Format::Berth(Compression::Zstd) => source.seek_table(),
        _ => None,
    };
    let ctx = StreamCtx {
        frames,
        archive: &archive,
        opts,
        raw_count: source.reader.read.clone(),
        size: source.size(),
    };
    let mut reader = source.reader;
    let streamed = match format {
        Format::Berth(c) => stream_tar(&ctx, &mut reader, c, None, sink)?,
        Format::Tar(c) => {
            let m = tarball_manifest(&archive, opts)?;
            stream_tar(&ctx, &mut reader, c, Some(m), sink)?
        }
        Format::Deb => super::deb::stream(&ctx, &mut reader, sink)?,
        Format::Rpm => super::rpm::stream(&ctx, &mut reader, sink)?,
    };
    // The artifact's hash decides first: a corrupt download is reported as such even when
    // the corruption also broke the archive.
    let sha256 = reader
        .finish()
        .map_err(|e| Error::io("read", &archive, e))?;
    verdict(&ctx, format, sha256, expected_sha, streamed)
}

/// Streams a tar (of a `.berth` when `tar_manifest` is `None`) into `sink`.
pub fn stream_tar(
    ctx: &StreamCtx,
    raw: &mut (dyn std::io::Read + Send),
    compression: Compression,
    tar_manifest: Option<Manifest>,
    sink: &mut dyn Sink,
) -> Result<Streamed> {
    let meta = tar_manifest.is_none();
    if meta && ctx.opts.strip_components > 0 {
        return Err(Error::BadFlag {
            flag: "--strip-components",
            why: "it applies to tarballs, not .berth packages".into(),
        });
    }
    let skip = SkipRequest::default();
    let framed = match &ctx.frames {
        Some(t) if meta && compression == Compression::Zstd => Some(t.clone()),
        _ => None,
    };
    let seekable = framed.is_some();
    let topts = Options {
        strip_components: ctx.opts.strip_components,
        limits: ctx.opts.limits.clone(),
        allow_meta: meta,
        native: false,
    };
    let limit = ctx.opts.limits.max_ratio;
    std::thread::scope(|s| {
        // zstd decodes at about 1 GB/s, faster than members can be checked and handed on:
        // it stays on this thread (the seekable decoder must, since it skips frames on
        // request). The slower decoders get a thread of their own.
        let (input, tripped): (Box<dyn std::io::Read + '_>, _) = match framed {
            Some(t) => {
                let d =
                    FramedDecoder::new(raw, t, skip.clone(), ZSTD_WINDOW_LOG_MAX).map_err(|e| {
                        Error::BadArchive {
                            archive: ctx.archive.to_path_buf(),
                            detail: e.to_string().into(),
                        }
                    })?;
                let g = RatioGuard::new(d, ctx.raw_count.clone(), limit);
                let t = g.tripped.clone();
                (Box::new(g), t)
            }
            None => {
                let d = decoder(compression, raw, ctx.archive)?;
                let g = RatioGuard::new(d, ctx.raw_count.clone(), limit);
                let t = g.tripped.clone();
                if compression.is_slow() {
                    (Box::new(super::pump::pump(s, g)), t)
                } else {
                    (Box::new(g), t)
                }
            }
        };
        let (result, manifest) = match tar_manifest {
            Some(m) => {
                let mut plain = Plain(sink);
                let r = match plain.begin(&m, None) {
                    Ok(_) => read_tar(input, &topts, &mut plain),
                    Err(e) => Err(sink_to_tar(e)),
                };
                (finished(r, &mut plain), Some(m))
            }
            None => {
                let mut br = super::berth::BerthReader::new(sink, ctx.archive);
                if seekable {
                    br = br.seekable(skip);
                }
                let r = read_tar(input, &topts, &mut br as &mut dyn TarTarget);
                (finished(r, &mut br), br.manifest.take())
            }
        };
        Ok(Streamed {
            result,
            manifest,
            tripped: tripped.load(Ordering::Relaxed),
        })
    })
}

/// Turns what was streamed into the outcome or the one error that matters most.
fn verdict(
    ctx: &StreamCtx,
    format: Format,
    sha256: String,
    expected_sha: Option<&str>,
    streamed: Streamed,
) -> Result<ReadOutcome> {
    let archive = ctx.archive.to_path_buf();
    if let Some(want) = expected_sha {
        if want != sha256 {
            return Err(Error::ChecksumMismatch {
                archive,
                expected: want.to_string(),
                actual: sha256,
            });
        }
    }
    if streamed.tripped {
        return Err(Error::CompressionRatio {
            archive,
            limit: ctx.opts.limits.max_ratio,
        });
    }
    let (report, begin) = streamed.result.map_err(|e| tar_error(e, &archive))?;
    let manifest = streamed.manifest.ok_or_else(|| Error::BadArchive {
        archive: archive.clone(),
        detail: "no .berth/manifest.toml at the start of the package".into(),
    })?;
    let skipped = begin == Begin::Skip;
    if !skipped {
        check_flags_match(ctx.opts, &manifest)?;
        if report.files == 0 && report.symlinks == 0 && !ctx.opts.allow_empty {
            return Err(Error::EmptyArchive { archive });
        }
    }
    Ok(ReadOutcome {
        manifest,
        format,
        sha256,
        report,
        skipped,
    })
}

/// A plain tarball's manifest: name and version from the options, else from the file name.
fn tarball_manifest(archive: &Path, opts: &ReadOptions) -> Result<Manifest> {
    let file_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let guessed = super::tarball::name_version_from_file(&file_name);
    let name = opts
        .name
        .clone()
        .or_else(|| guessed.as_ref().map(|g| g.0.clone()));
    let version = opts.version.clone().or_else(|| guessed.map(|g| g.1));
    match (name, version) {
        (Some(n), Some(v)) => {
            // A bad guessed name or version is a usage error (exit 2), not a bad manifest.
            check_name("package name", &n)?;
            check_version(&v)?;
            Manifest::new(&n, &v)
        }
        _ => Err(Error::NeedNameVersion {
            archive: archive.to_path_buf(),
            hint: "pass --name NAME --version VERSION, or name the file NAME-VERSION.tar.gz",
        }),
    }
}

fn check_flags_match(opts: &ReadOptions, m: &Manifest) -> Result<()> {
    for (flag, what, given, actual) in [
        ("--name", "name", &opts.name, &m.package.name),
        ("--version", "version", &opts.version, &m.package.version),
    ] {
        if let Some(g) = given {
            if g != actual {
                return Err(Error::FlagMismatch {
                    flag,
                    what,
                    given: g.clone(),
                    actual: actual.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Names the archive in an extraction error, once.
pub fn tar_error(e: TarError, archive: &Path) -> Error {
    let archive: PathBuf = archive.to_path_buf();
    match e {
        TarError::Member { member, why } => Error::Unsafe {
            archive,
            member,
            why,
        },
        TarError::Stream(detail) => Error::BadArchive {
            archive,
            detail: classify(detail),
        },
        TarError::Sink(Error::Unsafe { member, why, .. }) => Error::Unsafe {
            archive,
            member,
            why,
        },
        TarError::Sink(Error::BadArchive { detail, .. }) => Error::BadArchive {
            archive,
            detail: reclassify(detail),
        },
        TarError::Sink(e) => e,
    }
}

/// `--sha256` as 64 lowercase hex digits.
pub fn normalise_sha(s: &str) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadFlag {
            flag: "--sha256",
            why: format!(
                "`{}` is not 64 hexadecimal digits",
                super::extract::printable(&s)
            ),
        });
    }
    Ok(s)
}

/// The compression of a tarball format, for callers that stream one themselves.
pub fn compression_of(format: Format) -> Option<Compression> {
    match format {
        Format::Berth(c) | Format::Tar(c) => Some(c),
        Format::Deb | Format::Rpm => None,
    }
}
