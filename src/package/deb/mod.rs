//! Debian packages (.deb): an `ar` archive of `debian-binary` (format 2.x), `control.tar`
//! and `data.tar`, in that order (members named `_…`, reserved for local use, may sit
//! between or after them and are skipped; anything else is refused). The control archive
//! gives the manifest (name and version exactly as written, conffiles as `[[config]]`,
//! control fields under `[origin]`); the data archive streams through the same safe-
//! extraction rules as every other format into the sink, its files checked against
//! `md5sums`. Maintainer scripts are listed, never run.

pub mod ar;
pub mod control;
pub mod control_tar;
pub mod data;

use self::ar::{refuse, ArReader, Member};
use self::control::{Conffile, Paragraph};
use self::control_tar::{named_compression, ControlFiles};
use crate::error::{Error, Result, Unsafe};
use crate::package::compression::{decoder, RatioGuard};
use crate::package::extract::tar::{read_tar, TarError};
use crate::package::extract::{Options, Report};
use crate::package::manifest::{Manifest, PathEntry};
use crate::package::native::{NativeOrigin, DEPENDS_FIELDS, NATIVE_BIN};
use crate::package::pump::pump;
use crate::package::relations;
use crate::package::sink::{Begin, Sink};
use crate::package::stream::{
    check_sniffed, finished, in_member, sink_to_tar, StreamCtx, Streamed,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Streams a .deb into `sink`.
pub fn stream(
    ctx: &StreamCtx,
    raw: &mut (dyn Read + Send),
    sink: &mut dyn Sink,
) -> Result<Streamed> {
    if ctx.opts.strip_components > 0 {
        return Err(Error::BadFlag {
            flag: "--strip-components",
            why: "it applies to tarballs, not .deb packages".into(),
        });
    }
    let mut tripped = Vec::new();
    let mut manifest = None;
    let result = read_deb(ctx, raw, sink, &mut tripped, &mut manifest);
    Ok(Streamed {
        result,
        manifest,
        tripped: tripped.iter().any(|t| t.load(Ordering::Relaxed)),
    })
}

fn read_deb(
    ctx: &StreamCtx,
    raw: &mut (dyn Read + Send),
    sink: &mut dyn Sink,
    tripped: &mut Vec<Arc<AtomicBool>>,
    manifest_out: &mut Option<Manifest>,
) -> Result<(Report, Begin), TarError> {
    let mut ar = ArReader::new(raw, ctx.size)?;
    let first = ar.next_member()?.ok_or_else(|| {
        refuse(
            "debian-binary",
            Unsafe::MissingMember("the ar archive is empty".into()),
        )
    })?;
    if first.name != "debian-binary" {
        return Err(refuse(
            &first.name,
            Unsafe::UnexpectedMember("the first member of a .deb must be debian-binary".into()),
        ));
    }
    check_format_version(&ar.read_small(&first, 64)?)?;
    let cm = next_required(&mut ar, control_tar::expected_control)?;
    let files = control_tar::read(ctx, &mut ar, &cm, tripped)?;
    let pkg = package_of(&cm.name, &files)?;
    *manifest_out = Some(pkg.manifest.clone());
    let dm = next_required(&mut ar, expected_data)?;
    if sink.begin(&pkg.manifest, None).map_err(sink_to_tar)? == Begin::Skip {
        return Ok((Report::default(), Begin::Skip));
    }
    let (report, unseen, files_seen) = read_data(ctx, &mut ar, &dm, sink, pkg.md5sums, tripped)?;
    if let Some(path) = unseen.first() {
        return Err(refuse(
            format!("{}:./md5sums", cm.name),
            Unsafe::Md5Unchecked(format!("`{path}` is not a regular file of data.tar")),
        ));
    }
    for c in pkg.conffiles.iter().filter(|c| !c.remove_on_upgrade) {
        if !files_seen.contains(&c.relative) {
            return Err(refuse(
                format!("{}:./conffiles", cm.name),
                Unsafe::BadConffile(c.path.clone(), "is not a regular file of data.tar"),
            ));
        }
    }
    while let Some(m) = ar.next_member()? {
        if !m.name.starts_with('_') {
            return Err(refuse(
                &m.name,
                Unsafe::UnexpectedMember(
                    "only members reserved for local use (`_…`) may follow data.tar".into(),
                ),
            ));
        }
        ar.skip(&m)?;
    }
    Ok((report, Begin::Continue))
}

/// `debian-binary`: `2.<minor>\n` (dpkg reads any 2.x and ignores what follows the line).
fn check_format_version(content: &[u8]) -> Result<(), TarError> {
    let text = String::from_utf8_lossy(content);
    let line = text.split('\n').next().unwrap_or_default();
    let minor = line.strip_prefix("2.");
    if !text.contains('\n')
        || minor.is_none_or(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(refuse(
            "debian-binary",
            Unsafe::BadControl(format!(
                "format version `{}` is not 2.x",
                line.escape_debug()
            )),
        ));
    }
    Ok(())
}

/// The next member that is not reserved for local use; missing is refused.
fn next_required(ar: &mut ArReader, expected: fn() -> String) -> Result<Member, TarError> {
    loop {
        let Some(m) = ar.next_member()? else {
            return Err(refuse(
                "(end of the .deb)",
                Unsafe::MissingMember(expected()),
            ));
        };
        if m.name.starts_with('_') {
            ar.skip(&m)?;
            continue;
        }
        return Ok(m);
    }
}

fn expected_data() -> String {
    "expected data.tar (plain, .gz, .xz, .zst, .bz2 or .lzma) after the control member".into()
}

/// Streams the data member into the sink through the md5sums check. Returns the report,
/// the md5sums paths that were not regular files of the archive, and its regular files.
fn read_data(
    ctx: &StreamCtx,
    ar: &mut ArReader,
    m: &Member,
    sink: &mut dyn Sink,
    md5sums: HashMap<String, [u8; 16]>,
    tripped: &mut Vec<Arc<AtomicBool>>,
) -> Result<(Report, Vec<String>, std::collections::HashSet<String>), TarError> {
    let c = named_compression(&m.name, "data.tar", true)
        .ok_or_else(|| refuse(&m.name, Unsafe::UnexpectedMember(expected_data())))?;
    let mut body = BufReader::with_capacity(256 << 10, ar.body(m.size));
    let head = body
        .fill_buf()
        .map_err(|e| refuse(&m.name, Unsafe::Decode(e.to_string().into())))?;
    check_sniffed(&m.name, c, head)?;
    let mut target = data::DataTarget::new(sink, md5sums);
    let opts = Options {
        strip_components: 0,
        limits: ctx.opts.limits.clone(),
        allow_meta: false,
        native: true,
    };
    let dec = decoder(c, &mut body, ctx.archive)
        .map_err(|e| refuse(&m.name, Unsafe::Decode(e.to_string().into())))?;
    let guarded = RatioGuard::new(dec, ctx.raw_count.clone(), ctx.opts.limits.max_ratio);
    tripped.push(guarded.tripped.clone());
    let r = std::thread::scope(|s| read_tar(pump(s, guarded), &opts, &mut target));
    let (report, _) = finished(r, &mut target).map_err(|e| in_member(&m.name, e))?;
    let unseen = target.unseen_md5sums();
    let files = std::mem::take(&mut target.files);
    let unread = body.buffer().len() as u64 + body.get_ref().limit();
    ar.end_member(m, unread)?;
    Ok((report, unseen, files))
}

/// What the control archive says about the package.
struct Package {
    manifest: Manifest,
    md5sums: HashMap<String, [u8; 16]>,
    conffiles: Vec<Conffile>,
}

fn text<'a>(member: &str, files: &'a ControlFiles, name: &str) -> Result<&'a str, TarError> {
    let bytes = files.texts.get(name).map(Vec::as_slice).unwrap_or_default();
    std::str::from_utf8(bytes).map_err(|_| {
        refuse(
            format!("{member}:./{name}"),
            Unsafe::BadControl("not UTF-8 text".into()),
        )
    })
}

fn package_of(member: &str, files: &ControlFiles) -> Result<Package, TarError> {
    let bad =
        |file: &str, why: String| refuse(format!("{member}:./{file}"), Unsafe::BadControl(why));
    let p: Paragraph = control::parse_control(text(member, files, "control")?)
        .map_err(|e| bad("control", e.to_string()))?;
    for f in DEPENDS_FIELDS.iter().chain(&["Provides"]) {
        if let Some(v) = p.get(f) {
            let parsed = if *f == "Provides" {
                relations::parse_provides(v).map(|_| ())
            } else {
                relations::parse(v).map(|_| ())
            };
            parsed.map_err(|e| bad("control", format!("{f}: {e}")))?;
        }
    }
    let name = p.get("Package").unwrap_or_default();
    let version = p.get("Version").unwrap_or_default();
    let mut manifest = Manifest::new(name, version).map_err(|e| bad("control", e.to_string()))?;
    manifest.package.description = p
        .get("Description")
        .and_then(|d| d.lines().next())
        .unwrap_or_default()
        .to_string();
    manifest.exports.bin = NATIVE_BIN.iter().map(|s| s.to_string()).collect();
    let conffiles_text = text(member, files, "conffiles")?;
    control::check_size(conffiles_text).map_err(|e| bad("conffiles", e.to_string()))?;
    let conffiles = control::parse_conffiles(conffiles_text).map_err(|(path, why)| {
        refuse(
            format!("{member}:./conffiles"),
            Unsafe::BadConffile(path, why),
        )
    })?;
    manifest.config = conffiles
        .iter()
        .filter(|c| !c.remove_on_upgrade)
        .map(|c| PathEntry::plain(c.relative.clone()))
        .collect();
    let md5sums = control::parse_md5sums(text(member, files, "md5sums")?)
        .map_err(|e| bad("md5sums", e.to_string()))?;
    let origin = NativeOrigin {
        format: "deb".into(),
        architecture: p.get("Architecture").unwrap_or_default().to_string(),
        fields: p.fields.clone(),
        scripts: files.scripts(),
        conffiles: conffiles.iter().map(|c| c.path.clone()).collect(),
        requires: vec![],
        // A script that is not UTF-8 is not kept: `info` then says it was never run.
        script_text: control_tar::KEPT_SCRIPTS
            .iter()
            .filter_map(|n| {
                let t = std::str::from_utf8(files.texts.get(*n)?).ok()?;
                Some((n.to_string(), t.to_string()))
            })
            .collect(),
    };
    manifest.origin = Some(origin.to_table());
    Ok(Package {
        manifest,
        md5sums,
        conffiles,
    })
}
