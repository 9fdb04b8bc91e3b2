//! Reading a tar stream member by member: the tar crate parses headers, the PAX records are
//! held to their strict form here, and every member goes through the one [`Checker`]
//! before it reaches the sink. After the last member the rest of the stream must be zero
//! padding (and the decoder must reach its end), so a trailing payload or a corrupted
//! compressed stream is refused instead of ignored.

use super::guard::ExtensionGuard;
use super::rules::{is_reserved, split_path, Checked, Checker, Member};
use super::{Options, Report};
use crate::error::Unsafe;
use crate::package::listing::FileMode;
use crate::package::sink::{Begin, Sink, SinkError};
use std::io::Read;

/// Zero padding accepted after the end-of-archive block (`tar -b 2048` pads to 1 MiB).
pub const MAX_TRAILING_PADDING: u64 = 1 << 20;

/// The largest `.berth/` metadata member (manifest, file list) read into memory.
pub const MAX_META: u64 = 64 << 20;

/// Why a tar stream could not be read: a member refused, or the stream itself broken.
#[derive(Debug)]
pub enum TarError {
    /// `member` is refused.
    Member {
        /// The member's name as stored (printable).
        member: String,
        /// Why.
        why: Unsafe,
    },
    /// The stream is not a readable tar (decoder or header errors …).
    Stream(String),
    /// The sink failed for another reason (already a complete error).
    Sink(crate::Error),
}

/// A sink that may also take the leading `.berth/` members of the `.berth` format.
pub trait TarTarget: Sink {
    /// A leading `.berth/NAME` member (only offered when `Options::allow_meta`).
    fn meta(&mut self, name: &str, data: Vec<u8>) -> Result<(), SinkError> {
        let _ = (name, data);
        Err(SinkError::Refused(Unsafe::Reserved))
    }
    /// Called once, before the first payload member (or at the end when there is none).
    fn payload_start(&mut self) -> Result<Begin, SinkError> {
        Ok(Begin::Continue)
    }
}

/// A plain sink as a tar target: no metadata members.
pub struct Plain<'a>(pub &'a mut dyn Sink);

impl Sink for Plain<'_> {
    fn begin(
        &mut self,
        m: &crate::package::manifest::Manifest,
        l: Option<&crate::package::listing::FileList>,
    ) -> Result<Begin, SinkError> {
        self.0.begin(m, l)
    }
    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.0.dir(path)
    }
    fn file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        self.0.file(path, mode, size, data, expected)
    }
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.0.symlink(path, target)
    }
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.0.hardlink(path, target)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.0.finish()
    }
}
impl TarTarget for Plain<'_> {}

/// Reads a tar stream into `target`. Returns the report and whether the target asked to
/// skip (then the rest of the stream was not read). On success without skip, the rest of
/// the stream was verified to be zero padding up to its end.
pub fn read_tar<R: Read>(
    reader: R,
    opts: &Options,
    target: &mut dyn TarTarget,
) -> Result<(Report, Begin), TarError> {
    let mut archive = tar::Archive::new(ExtensionGuard::new(reader));
    let mut state = State {
        checker: if opts.native {
            Checker::new(opts.limits.clone(), opts.strip_components).native()
        } else {
            Checker::new(opts.limits.clone(), opts.strip_components)
        },
        report: Report::default(),
        started: false,
        allow_meta: opts.allow_meta,
        parents: Vec::new(),
    };
    {
        let entries = archive
            .entries()
            .map_err(|e| TarError::Stream(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| TarError::Stream(e.to_string()))?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let named = |why| TarError::Member {
                member: super::rules::printable(&raw_name),
                why,
            };
            match state.member(&mut entry, target) {
                Ok(Begin::Continue) => {}
                Ok(Begin::Skip) => return Ok((state.report, Begin::Skip)),
                Err(SinkError::Refused(why)) => return Err(named(why)),
                Err(SinkError::RefusedMember { member, why }) => {
                    return Err(TarError::Member {
                        member: super::rules::printable(&member),
                        why,
                    })
                }
                Err(SinkError::Fail(crate::Error::BadArchive { detail, .. })) => {
                    return Err(TarError::Stream(format!("{raw_name}: {detail}")))
                }
                Err(SinkError::Fail(e)) => return Err(TarError::Sink(e)),
            }
        }
    }
    if !state.started {
        state.started = true;
        if target.payload_start().map_err(sink_error)? == Begin::Skip {
            return Ok((state.report, Begin::Skip));
        }
    }
    let mut rest = archive.into_inner().into_inner();
    verify_padding(&mut rest)?;
    Ok((state.report, Begin::Continue))
}

fn sink_error(e: SinkError) -> TarError {
    match e {
        SinkError::Refused(why) => TarError::Member {
            member: String::new(),
            why,
        },
        SinkError::RefusedMember { member, why } => TarError::Member { member, why },
        SinkError::Fail(e) => TarError::Sink(e),
    }
}

/// Reads the stream to its end: only zero bytes (at most [`MAX_TRAILING_PADDING`]) may
/// follow the end-of-archive block. Reaching the end is what makes a decoder check its
/// CRC, content checksum or index.
fn verify_padding(rest: &mut dyn Read) -> Result<(), TarError> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = rest
            .read(&mut buf)
            .map_err(|e| TarError::Stream(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(TarError::Stream(format!(
                "data after the end of the tar archive (at byte {} past its end marker); the file was altered or is not what it claims",
                total + buf[..n].iter().position(|&b| b != 0).unwrap_or(0) as u64
            )));
        }
        total += n as u64;
        if total > MAX_TRAILING_PADDING {
            return Err(TarError::Stream(format!(
                "more than {MAX_TRAILING_PADDING} bytes of padding after the end of the tar archive"
            )));
        }
    }
}

struct State {
    checker: Checker,
    report: Report,
    started: bool,
    allow_meta: bool,
    parents: Vec<String>,
}

impl State {
    fn member<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        target: &mut dyn TarTarget,
    ) -> Result<Begin, SinkError> {
        let etype = entry.header().entry_type();
        if etype.is_pax_global_extensions() {
            // Global PAX headers (git archive writes one) carry nothing berth uses.
            return Ok(Begin::Continue);
        }
        check_pax(entry)?;
        let raw = entry.path_bytes().into_owned();
        if !self.started && self.allow_meta {
            if let Some(name) = meta_name(&raw, etype)? {
                let data = read_meta(entry)?;
                target.meta(name, data)?;
                return Ok(Begin::Continue);
            }
        }
        if !self.started {
            self.started = true;
            if target.payload_start()? == Begin::Skip {
                return Ok(Begin::Skip);
            }
        }
        let member = describe(entry, etype)?;
        self.parents.clear();
        let checked = self
            .checker
            .check(&raw, member, &mut self.parents)
            .map_err(SinkError::Refused)?;
        for p in self.parents.drain(..) {
            target.dir(&p)?;
        }
        match checked {
            Checked::Nothing => {}
            Checked::Dir(p) => {
                self.report.members += 1;
                target.dir(&p)?;
            }
            Checked::File {
                path,
                mode,
                size,
                special_bits,
            } => {
                if special_bits {
                    self.report.special_bits_dropped.push(path.clone());
                }
                self.report.members += 1;
                self.report.files += 1;
                self.report.bytes += size;
                target.file(&path, mode, size, entry, None)?;
            }
            Checked::Symlink { path, target: t } => {
                self.report.members += 1;
                self.report.symlinks += 1;
                target.symlink(&path, &t)?;
            }
            Checked::Hardlink { path, target: t } => {
                self.report.members += 1;
                self.report.files += 1;
                target.hardlink(&path, &t)?;
            }
        }
        Ok(Begin::Continue)
    }
}

/// `Some(name)` for a leading `.berth/NAME` regular file, `None` for payload. A `.berth/`
/// directory member is metadata too (returned as `Some("")`).
fn meta_name(raw: &[u8], etype: tar::EntryType) -> Result<Option<&str>, SinkError> {
    let comps = split_path(raw).map_err(SinkError::Refused)?;
    match comps.first() {
        Some(&".berth") if comps.len() == 1 && etype.is_dir() => Ok(Some("")),
        Some(&".berth") if comps.len() == 2 && etype.is_file() => Ok(Some(comps[1])),
        Some(c) if is_reserved(c) => Err(SinkError::Refused(Unsafe::Reserved)),
        _ => Ok(None),
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Vec<u8>, SinkError> {
    if entry.header().entry_type().is_dir() {
        return Ok(Vec::new());
    }
    let size = entry.size();
    if size > MAX_META {
        return Err(SinkError::Refused(Unsafe::BadHeader(format!(
            "metadata member of {size} bytes is larger than the limit of {MAX_META}"
        ))));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut data)
        .map_err(|e| bad_stream(e.to_string()))?;
    if data.len() as u64 != size {
        return Err(SinkError::Refused(Unsafe::Truncated));
    }
    Ok(data)
}

fn bad_stream(detail: String) -> SinkError {
    SinkError::Fail(crate::Error::BadArchive {
        archive: Default::default(),
        detail: detail.into(),
    })
}

/// What the rules need to know of a tar member.
fn describe<'e, R: Read>(
    entry: &'e tar::Entry<'_, R>,
    etype: tar::EntryType,
) -> Result<Member<'e>, SinkError> {
    use tar::EntryType as T;
    Ok(if etype.is_dir() {
        Member::Dir
    } else if etype.is_file() || etype == T::Continuous {
        let mode = entry
            .header()
            .mode()
            .map_err(|e| SinkError::Refused(Unsafe::BadHeader(format!("mode: {e}"))))?;
        Member::File {
            size: entry.size(),
            mode,
        }
    } else if etype.is_symlink() {
        Member::Symlink {
            target: link_name(entry)?,
        }
    } else if etype.is_hard_link() {
        Member::Hardlink {
            target: link_name(entry)?,
        }
    } else {
        Member::Special(match etype {
            T::Char => "character device",
            T::Block => "block device",
            T::Fifo => "fifo",
            T::GNUSparse => "sparse file",
            other => return Err(SinkError::Refused(Unsafe::UnknownType(other.as_byte()))),
        })
    })
}

fn link_name<'e, R: Read>(entry: &'e tar::Entry<'_, R>) -> Result<&'e [u8], SinkError> {
    match entry.link_name_bytes() {
        Some(std::borrow::Cow::Borrowed(b)) => Ok(b),
        // The tar crate borrows the link name from the header or the PAX/GNU extension it
        // keeps, so it is never owned; refuse rather than guess if that ever changes.
        Some(std::borrow::Cow::Owned(_)) => Err(SinkError::Refused(Unsafe::BadHeader(
            "link name could not be read in place".into(),
        ))),
        None => Err(SinkError::Refused(Unsafe::EmptyName)),
    }
}

/// PAX records are held to their strict form: every record must parse (length, key,
/// newline), `size` records must agree with each other and with the header (two readers
/// would otherwise disagree on where the next member starts: the TARmageddon class of bug),
/// and GNU sparse records (formats 0.0, 0.1, 1.0) are refused like GNU sparse members: the
/// tar crate would install the raw sparse map as file content.
fn check_pax<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<(), SinkError> {
    let bad = |s: String| SinkError::Refused(Unsafe::BadHeader(s));
    let ustar = entry
        .header()
        .entry_size()
        .map_err(|e| bad(format!("size: {e}")))?;
    let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| bad(format!("PAX header: {e}")))?
    else {
        return Ok(());
    };
    let mut sizes: Vec<Vec<u8>> = Vec::new();
    for ext in exts {
        let ext = ext.map_err(|_| bad("malformed PAX record".into()))?;
        let key = ext.key_bytes();
        if key.starts_with(b"GNU.sparse.") {
            return Err(SinkError::Refused(Unsafe::SpecialFile("sparse file")));
        }
        if key == b"size" {
            sizes.push(ext.value_bytes().to_vec());
        }
    }
    if sizes.iter().any(|v| v != &sizes[0]) {
        return Err(bad("conflicting PAX size records".into()));
    }
    for v in sizes {
        let pax: u64 = std::str::from_utf8(&v)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                bad(format!(
                    "PAX size `{}` is not a number",
                    String::from_utf8_lossy(&v)
                ))
            })?;
        // A ustar field of 0 with a PAX size beyond its 8 GiB reach is legitimate.
        let overflowed = ustar == 0 && pax > 0o77777777777;
        if pax != ustar && !overflowed {
            return Err(SinkError::Refused(Unsafe::PaxSizeMismatch { pax, ustar }));
        }
    }
    Ok(())
}
