//! A .deb's control archive (`control.tar[.gz|.xz|.zst]`): read whole into memory (it is
//! small, and bounded here), put through the same tar reader and safe-extraction rules as
//! any payload, and collected: the text of `control`, `conffiles` and `md5sums`, and the
//! names of the maintainer scripts (which berth never runs). Only plain files at its top
//! level are accepted; nothing of it is written to disk.

use super::ar::{refuse, ArReader, Member};
use crate::error::Unsafe;
use crate::package::compression::{decoder, Compression, RatioGuard};
use crate::package::extract::tar::{read_tar, TarError, TarTarget};
use crate::package::extract::{Limits, Options};
use crate::package::manifest::Manifest;
use crate::package::sink::{Begin, Sink, SinkError};
use crate::package::stream::{check_sniffed, in_member, StreamCtx};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The largest compressed control member accepted.
pub const MAX_CONTROL_MEMBER: u64 = 16 << 20;
/// The most a control archive may unpack to.
const MAX_CONTROL_UNPACKED: u64 = 64 << 20;

/// Control files that are scripts dpkg would run (or, for `triggers`, act on).
pub const SCRIPTS: [&str; 6] = [
    "preinst", "postinst", "prerm", "postrm", "config", "triggers",
];

/// Files kept in memory; the others are only named. `preinst` and `postinst` are kept so
/// that a profile using the package can run them confined (fresh-install arguments).
const KEPT: [&str; 5] = ["control", "conffiles", "md5sums", "preinst", "postinst"];

/// The scripts whose text an entry keeps (run confined when a profile uses it).
pub const KEPT_SCRIPTS: [&str; 2] = ["preinst", "postinst"];

/// What the control archive holds.
#[derive(Debug, Default)]
pub struct ControlFiles {
    /// Content of `control`, `conffiles`, `md5sums`, `preinst`, `postinst` (those present).
    pub texts: BTreeMap<String, Vec<u8>>,
    /// Every file's name, in archive order.
    pub names: Vec<String>,
}

impl ControlFiles {
    /// The scripts present, in dpkg's order.
    pub fn scripts(&self) -> Vec<String> {
        SCRIPTS
            .iter()
            .filter(|s| self.names.iter().any(|n| n == *s))
            .map(|s| s.to_string())
            .collect()
    }
}

/// The compression a member's name announces (`control.tar.xz` …) after `base`.
pub fn named_compression(name: &str, base: &str, allow_legacy: bool) -> Option<Compression> {
    Some(match name.strip_prefix(base)? {
        "" => Compression::None,
        ".gz" => Compression::Gzip,
        ".xz" => Compression::Xz,
        ".zst" => Compression::Zstd,
        ".bz2" if allow_legacy => Compression::Bzip2,
        ".lzma" if allow_legacy => Compression::Lzma,
        _ => return None,
    })
}

/// Reads the control member `m` and collects its files.
pub fn read(
    ctx: &StreamCtx,
    ar: &mut ArReader,
    m: &Member,
    tripped: &mut Vec<Arc<AtomicBool>>,
) -> Result<ControlFiles, TarError> {
    let c = named_compression(&m.name, "control.tar", false)
        .ok_or_else(|| refuse(&m.name, Unsafe::UnexpectedMember(expected_control())))?;
    let raw = ar.read_small(m, MAX_CONTROL_MEMBER)?;
    check_sniffed(&m.name, c, &raw)?;
    let mut cursor: &[u8] = &raw;
    let mut files = ControlFiles::default();
    {
        let dec = decoder(c, &mut cursor, ctx.archive)
            .map_err(|e| refuse(&m.name, Unsafe::Decode(e.to_string().into())))?;
        let guarded = RatioGuard::new(dec, ctx.raw_count.clone(), ctx.opts.limits.max_ratio);
        tripped.push(guarded.tripped.clone());
        let opts = Options {
            strip_components: 0,
            limits: Limits {
                max_unpacked: MAX_CONTROL_UNPACKED,
                max_entries: 1000,
                ..ctx.opts.limits.clone()
            },
            allow_meta: false,
            native: false,
        };
        read_tar(guarded, &opts, &mut Collector(&mut files)).map_err(|e| in_member(&m.name, e))?;
    }
    if !cursor.is_empty() {
        return Err(refuse(&m.name, Unsafe::TrailingData(cursor.len() as u64)));
    }
    if !files.texts.contains_key("control") {
        return Err(refuse(
            format!("{}:./control", m.name),
            Unsafe::MissingMember("control.tar holds no control file".into()),
        ));
    }
    Ok(files)
}

/// What the control member may be called.
pub fn expected_control() -> String {
    "expected control.tar, control.tar.gz, control.tar.xz or control.tar.zst after debian-binary"
        .into()
}

/// Collects control files into memory.
struct Collector<'a>(&'a mut ControlFiles);

fn only_files(what: &str) -> SinkError {
    SinkError::Refused(Unsafe::UnexpectedMember(format!(
        "{what} in control.tar, which holds only plain files at its top level"
    )))
}

impl Sink for Collector<'_> {
    fn begin(
        &mut self,
        _: &Manifest,
        _: Option<&crate::package::listing::FileList>,
    ) -> Result<Begin, SinkError> {
        Ok(Begin::Continue)
    }
    fn dir(&mut self, _path: &str) -> Result<(), SinkError> {
        Err(only_files("a directory"))
    }
    fn file(
        &mut self,
        path: &str,
        _mode: crate::package::listing::FileMode,
        size: u64,
        data: &mut dyn Read,
        _expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        let mut buf = Vec::new();
        data.take(size)
            .read_to_end(&mut buf)
            .map_err(|e| SinkError::Refused(Unsafe::Decode(e.to_string().into())))?;
        if buf.len() as u64 != size {
            return Err(SinkError::Refused(Unsafe::Truncated));
        }
        if KEPT.contains(&path) {
            self.0.texts.insert(path.to_string(), buf);
        }
        self.0.names.push(path.to_string());
        Ok(())
    }
    fn symlink(&mut self, _path: &str, _target: &str) -> Result<(), SinkError> {
        Err(only_files("a symlink"))
    }
    fn hardlink(&mut self, _path: &str, _target: &str) -> Result<(), SinkError> {
        Err(only_files("a hard link"))
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

impl TarTarget for Collector<'_> {}
