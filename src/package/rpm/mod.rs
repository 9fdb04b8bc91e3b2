//! RPM packages: the lead and the two headers are read with bounded memory and parsed by
//! the `rpm` crate (the payload is never loaded whole); the header gives the manifest and
//! the file list; the compressed cpio payload then streams, member by member, through the
//! same safe-extraction rules into the sink, held to the header's list and digests. The
//! payload's own sha256 (when the header records it) is checked over the raw bytes.
//! Scriptlets are listed, never run.

pub mod cpio;
pub mod header;
pub mod manifest;
pub mod payload;

use crate::error::{Error, Result, Unsafe};
use crate::package::compression::{decoder, RatioGuard};
use crate::package::extract::tar::TarError;
use crate::package::extract::Report;
use crate::package::manifest::Manifest;
use crate::package::pump::pump;
use crate::package::sink::{Begin, Sink};
use crate::package::stream::{check_sniffed, in_member, sink_to_tar, StreamCtx, Streamed};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Streams an .rpm into `sink`.
pub fn stream(
    ctx: &StreamCtx,
    raw: &mut (dyn Read + Send),
    sink: &mut dyn Sink,
) -> Result<Streamed> {
    if ctx.opts.strip_components > 0 {
        return Err(Error::BadFlag {
            flag: "--strip-components",
            why: "it applies to tarballs, not .rpm packages".into(),
        });
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let mut manifest = None;
    let result = read_rpm(ctx, raw, sink, &tripped, &mut manifest);
    Ok(Streamed {
        result,
        manifest,
        tripped: tripped.load(Ordering::Relaxed),
    })
}

/// Hashes the raw payload bytes as they are read: sha256 for the payload digest, and the
/// signature's MD5 (begun over the header) when the package records one.
struct Hashed<'a> {
    inner: &'a mut (dyn Read + Send),
    hasher: Sha256,
    md5: Option<md5::Md5>,
}

impl Read for Hashed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(m) = &mut self.md5 {
            m.update(&buf[..n]);
        }
        Ok(n)
    }
}

fn read_rpm(
    ctx: &StreamCtx,
    raw: &mut (dyn Read + Send),
    sink: &mut dyn Sink,
    tripped: &Arc<AtomicBool>,
    manifest_out: &mut Option<Manifest>,
) -> Result<(Report, Begin), TarError> {
    let headers = header::read(raw)?;
    let d = manifest::describe(&headers.meta)?;
    let (md5_want, md5) = match headers.md5 {
        Some((want, h)) => (Some(want), Some(h)),
        None => (None, None),
    };
    *manifest_out = Some(d.manifest.clone());
    if sink.begin(&d.manifest, None).map_err(sink_to_tar)? == Begin::Skip {
        return Ok((Report::default(), Begin::Skip));
    }
    let mut hashed = Hashed {
        inner: raw,
        hasher: Sha256::new(),
        md5,
    };
    let report = {
        let mut body = BufReader::with_capacity(256 << 10, &mut hashed);
        let head = body
            .fill_buf()
            .map_err(|e| in_member("payload", TarError::Stream(e.to_string())))?;
        check_sniffed("payload", d.compression, head)?;
        let report = {
            let dec = decoder(d.compression, &mut body, ctx.archive)
                .map_err(|e| in_member("payload", TarError::Stream(e.to_string())))?;
            let guarded = RatioGuard::new(dec, ctx.raw_count.clone(), ctx.opts.limits.max_ratio);
            let flag = guarded.tripped.clone();
            let r = std::thread::scope(|s| {
                payload::stream(
                    cpio::CpioReader::new(pump(s, guarded)),
                    &d.listing,
                    &ctx.opts.limits,
                    sink,
                )
            });
            tripped.store(flag.load(Ordering::Relaxed), Ordering::Relaxed);
            r.map_err(|e| in_member("payload", e))?
        };
        // The payload runs to the end of the file: nothing may follow the compressed stream.
        let mut rest = Vec::new();
        body.read_to_end(&mut rest)
            .map_err(|e| in_member("payload", TarError::Stream(e.to_string())))?;
        if !rest.is_empty() {
            return Err(TarError::Member {
                member: "payload".into(),
                why: Unsafe::TrailingData(rest.len() as u64),
            });
        }
        report
    };
    if let Some(want) = d.payload_sha256 {
        let got = hex::encode(hashed.hasher.finalize());
        if got != want {
            return Err(TarError::Member {
                member: "payload".into(),
                why: Unsafe::RpmMismatch(format!(
                    "the compressed payload's sha256 is {got}, the header says {want}"
                )),
            });
        }
    }
    if let (Some(want), Some(h)) = (md5_want, hashed.md5.take()) {
        let got: [u8; 16] = h.finalize().into();
        if got != want {
            return Err(TarError::Member {
                member: "payload".into(),
                why: Unsafe::RpmMismatch(format!(
                    "the md5 of header and payload is {}, the signature header says {}",
                    hex::encode(got),
                    hex::encode(want)
                )),
            });
        }
    }
    Ok((report, Begin::Continue))
}
