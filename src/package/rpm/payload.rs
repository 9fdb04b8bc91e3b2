//! An rpm's cpio payload on its way to the sink: every member goes through the one
//! [`Checker`] like a tar member does, must be in the header's file list with the same
//! type, size and link target, and (with sha256 file digests) hash to its listed digest.
//! Hard links are cpio's: names sharing an inode, the data on one of them (rpm puts it on
//! the last); each other name becomes a hard link to the one that carries the data.

use super::cpio::{CpioReader, Header};
use crate::error::{Error, Unsafe};
use crate::package::extract::names::split_path;
use crate::package::extract::rules::{Checked, Checker, Member};
use crate::package::extract::tar::TarError;
use crate::package::extract::{printable, Limits, Report};
use crate::package::sink::{Sink, SinkError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// The longest symlink target read into memory.
const MAX_LINK: u32 = 4096;

/// One file of the header's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `mode & S_IFMT`.
    pub kind: u32,
    /// Size in bytes (regular files).
    pub size: u64,
    /// `%ghost`: listed, never in the payload.
    pub ghost: bool,
    /// The sha256 of its content, when the package uses sha256 file digests.
    pub sha256: Option<[u8; 32]>,
    /// Symlink target.
    pub linkto: String,
}

/// The header's file list, by path relative to the root.
pub type Listing = HashMap<String, Listed>;

fn kind_name(kind: u32) -> &'static str {
    match kind {
        S_IFREG => "regular file",
        S_IFDIR => "directory",
        S_IFLNK => "symlink",
        _ => "special file",
    }
}

fn refuse(member: &str, why: Unsafe) -> TarError {
    TarError::Member {
        member: member.to_string(),
        why,
    }
}

/// A sink's answer about `current`, with a digest mismatch said in rpm's terms.
fn from_sink(e: SinkError, current: &str) -> TarError {
    let rpm_terms = |why| match why {
        Unsafe::ListMismatch(d) => Unsafe::RpmMismatch(format!("file digest: {d}")),
        other => other,
    };
    match e {
        SinkError::Refused(why) => refuse(current, rpm_terms(why)),
        SinkError::RefusedMember { member, why } => refuse(&member, rpm_terms(why)),
        SinkError::Fail(Error::BadArchive { detail, .. }) => {
            refuse(current, Unsafe::Decode(detail))
        }
        SinkError::Fail(e) => TarError::Sink(e),
    }
}

struct State<'a> {
    checker: Checker,
    report: Report,
    parents: Vec<String>,
    sink: &'a mut dyn Sink,
    listing: &'a Listing,
    seen: HashSet<String>,
    /// Hard-link sets whose data was delivered: inode -> path.
    done: HashMap<Inode, String>,
    /// Names of hard-link sets whose data has not come yet.
    pending: BTreeMap<Inode, Vec<Vec<u8>>>,
}

/// A cpio member's inode: (device major, minor) and inode number.
type Inode = ((u32, u32), u32);

/// Streams the payload's members into `sink` and finishes it.
pub fn stream<R: Read>(
    mut cpio: CpioReader<R>,
    listing: &Listing,
    limits: &Limits,
    sink: &mut dyn Sink,
) -> Result<Report, TarError> {
    let mut st = State {
        checker: Checker::new(limits.clone(), 0).native(),
        report: Report::default(),
        parents: Vec::new(),
        sink,
        listing,
        seen: HashSet::new(),
        done: HashMap::new(),
        pending: BTreeMap::new(),
    };
    while let Some(h) = cpio.next_header().map_err(|(m, why)| refuse(&m, why))? {
        st.member(&h, &mut cpio)?;
    }
    // Sets of empty hard-linked files: the first name is the file, the rest link to it.
    for names in std::mem::take(&mut st.pending).into_values() {
        let first = String::from_utf8_lossy(&names[0]).into_owned();
        let path = st.deliver(
            &names[0],
            Member::File {
                size: 0,
                mode: 0o644,
            },
            &mut std::io::empty(),
            &first,
        )?;
        for n in &names[1..] {
            st.link(n, &path)?;
        }
    }
    st.sink.finish().map_err(|e| from_sink(e, ""))?;
    let mut missing: Vec<&String> = listing
        .iter()
        .filter(|(p, l)| !l.ghost && !st.seen.contains(*p))
        .map(|(p, _)| p)
        .collect();
    missing.sort();
    if let Some(p) = missing.first() {
        return Err(refuse(
            p,
            Unsafe::RpmMismatch("listed in the header, but absent from the payload".into()),
        ));
    }
    Ok(st.report)
}

impl State<'_> {
    fn member<R: Read>(&mut self, h: &Header, cpio: &mut CpioReader<R>) -> Result<(), TarError> {
        let shown = printable(&String::from_utf8_lossy(&h.name));
        let key = (h.dev, h.ino);
        match h.mode & S_IFMT {
            S_IFREG if h.nlink > 1 && h.size == 0 => {
                if let Some(target) = self.done.get(&key).cloned() {
                    return self.link(&h.name, &target);
                }
                split_path(&h.name).map_err(|why| refuse(&shown, why))?;
                self.pending.entry(key).or_default().push(h.name.clone());
                Ok(())
            }
            S_IFREG => {
                let member = Member::File {
                    size: u64::from(h.size),
                    mode: h.mode & 0o7777,
                };
                let path = self.deliver(&h.name, member, &mut cpio.data(), &shown)?;
                if h.nlink > 1 {
                    self.done.insert(key, path.clone());
                    for n in self.pending.remove(&key).unwrap_or_default() {
                        self.link(&n, &path)?;
                    }
                }
                Ok(())
            }
            S_IFDIR => self
                .deliver(&h.name, Member::Dir, &mut std::io::empty(), &shown)
                .map(|_| ()),
            S_IFLNK => {
                if h.size == 0 || h.size > MAX_LINK {
                    return Err(refuse(
                        &shown,
                        Unsafe::CpioHeader(format!("symlink target of {} bytes", h.size)),
                    ));
                }
                let mut target = Vec::new();
                cpio.data()
                    .read_to_end(&mut target)
                    .map_err(|e| refuse(&shown, Unsafe::Decode(e.to_string().into())))?;
                let member = Member::Symlink { target: &target };
                self.deliver(&h.name, member, &mut std::io::empty(), &shown)
                    .map(|_| ())
            }
            other => {
                let what = match other {
                    0o020000 => "character device",
                    0o060000 => "block device",
                    0o010000 => "fifo",
                    0o140000 => "socket",
                    _ => {
                        return Err(refuse(
                            &shown,
                            Unsafe::CpioHeader(format!("unknown file type {other:o}")),
                        ))
                    }
                };
                Err(refuse(&shown, Unsafe::SpecialFile(what)))
            }
        }
    }

    /// A further name of a hard-linked file delivered at `target`.
    fn link(&mut self, raw: &[u8], target: &str) -> Result<(), TarError> {
        let shown = printable(&String::from_utf8_lossy(raw));
        let member = Member::Hardlink {
            target: target.as_bytes(),
        };
        self.deliver(raw, member, &mut std::io::empty(), &shown)
            .map(|_| ())
    }

    /// Puts one member through the rules and the header's list, then into the sink.
    /// Returns its normalised path (empty for the package root).
    fn deliver(
        &mut self,
        raw: &[u8],
        member: Member,
        data: &mut dyn Read,
        shown: &str,
    ) -> Result<String, TarError> {
        self.parents.clear();
        let checked = self
            .checker
            .check(raw, member, &mut self.parents)
            .map_err(|why| refuse(shown, why))?;
        for p in self.parents.drain(..) {
            self.sink.dir(&p).map_err(|e| from_sink(e, shown))?;
        }
        let res = match checked {
            Checked::Nothing => return Ok(String::new()),
            Checked::Dir(p) => {
                self.listed(&p, S_IFDIR, None, None, shown)?;
                self.sink.dir(&p).map(|()| p)
            }
            Checked::File {
                path,
                mode,
                size,
                special_bits,
            } => {
                let sha = self.listed(&path, S_IFREG, Some(size), None, shown)?;
                if special_bits {
                    self.report.special_bits_dropped.push(path.clone());
                }
                self.report.files += 1;
                self.report.bytes += size;
                self.sink.file(&path, mode, size, data, sha).map(|()| path)
            }
            Checked::Symlink { path, target } => {
                self.listed(&path, S_IFLNK, None, Some(&target), shown)?;
                self.report.symlinks += 1;
                self.sink.symlink(&path, &target).map(|()| path)
            }
            Checked::Hardlink { path, target } => {
                self.listed(&path, S_IFREG, None, None, shown)?;
                self.report.files += 1;
                self.sink.hardlink(&path, &target).map(|()| path)
            }
        };
        self.report.members += 1;
        res.map_err(|e| from_sink(e, shown))
    }

    /// Checks a member against the header's list; returns its sha256 when listed.
    fn listed(
        &mut self,
        path: &str,
        kind: u32,
        size: Option<u64>,
        target: Option<&str>,
        shown: &str,
    ) -> Result<Option<[u8; 32]>, TarError> {
        let mismatch = |why: String| refuse(shown, Unsafe::RpmMismatch(why));
        let l = self
            .listing
            .get(path)
            .ok_or_else(|| mismatch("not in the header's file list".into()))?;
        if l.kind != kind {
            return Err(mismatch(format!(
                "the header lists a {}, the payload has a {}",
                kind_name(l.kind),
                kind_name(kind)
            )));
        }
        if size.is_some_and(|s| s != l.size) {
            return Err(mismatch(format!(
                "{} bytes, the header lists {}",
                size.unwrap_or_default(),
                l.size
            )));
        }
        if target.is_some_and(|t| t != l.linkto) {
            return Err(mismatch(format!(
                "the header's link target is `{}`",
                l.linkto
            )));
        }
        self.seen.insert(path.to_string());
        Ok(l.sha256)
    }
}
