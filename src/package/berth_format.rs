//! The `.berth` format: a zstd tar whose first members are `.berth/manifest.toml` and
//! `.berth/files`, then the payload in file-list order. `pack` writes it reproducibly;
//! [`BerthSink`] checks every member of one against its list while installing.

use super::extract::{check_symlink_target, Sink, SinkError};
use super::manifest::Manifest;
use crate::error::{Error, IoContext, Result, Unsafe};
use crate::store::listing::{FileList, Record};
use crate::store::staging::EntryWriter;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// mtime of every member: fixed, so packing twice gives identical bytes.
const PACK_MTIME: u64 = 1;

/// What `pack` made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Packed {
    /// The package file written.
    pub path: PathBuf,
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Its sha256 (what `install --sha256` takes).
    pub sha256: String,
    /// Regular files in the payload.
    pub files: usize,
    /// Bytes of regular files.
    pub bytes: u64,
}

/// Packs `src` (holding `berth.toml`) into `<out_dir>/<name>-<version>.berth`, or `out`.
pub fn pack(src: &Path, out: Option<&Path>, level: i32) -> Result<Packed> {
    if !src.is_dir() {
        return Err(Error::InputNotFound {
            path: src.to_path_buf(),
        });
    }
    let manifest = Manifest::load(&src.join("berth.toml"))?;
    let mut paths = Vec::new();
    walk(src, src, &mut paths)?;
    // Hash on every core: the payload is read twice (hash, then archive) because the list
    // must come first in the archive.
    let records: Vec<(String, Record)> = paths
        .into_par_iter()
        .map(|(rel, kind)| {
            let full = src.join(&rel);
            let rec = match kind {
                Kind::Dir => Record::Dir,
                Kind::Symlink(target) => Record::Symlink { target },
                Kind::File(exec) => {
                    let mut f = std::fs::File::open(&full).ctx("open", &full)?;
                    let mut h = Sha256::new();
                    let size = std::io::copy(&mut f, &mut h).ctx("read", &full)?;
                    Record::File {
                        exec,
                        size,
                        sha256: h.finalize().into(),
                    }
                }
            };
            Ok((rel, rec))
        })
        .collect::<Result<_>>()?;
    let list = FileList {
        records: records.into_iter().collect(),
    };
    let name = &manifest.package.name;
    let version = &manifest.package.version;
    let out = match out {
        Some(o) if o.is_dir() => o.join(format!("{name}-{version}.berth")),
        Some(o) => o.to_path_buf(),
        None => PathBuf::from(format!("{name}-{version}.berth")),
    };
    crate::fsutil::atomic_write_with(&out, 0o644, |file| {
        let mut enc = zstd::stream::write::Encoder::new(std::io::BufWriter::new(file), level)
            .ctx("compress", &out)?;
        enc.include_checksum(true).ctx("compress", &out)?;
        {
            let mut b = tar::Builder::new(&mut enc);
            b.mode(tar::HeaderMode::Deterministic);
            let text = manifest.to_toml();
            append_bytes(&mut b, ".berth/manifest.toml", text.as_bytes(), &out)?;
            append_bytes(&mut b, ".berth/files", list.to_text().as_bytes(), &out)?;
            for (rel, rec) in &list.records {
                let mut h = header(match rec {
                    Record::Dir => tar::EntryType::Directory,
                    Record::File { .. } => tar::EntryType::Regular,
                    Record::Symlink { .. } => tar::EntryType::Symlink,
                });
                match rec {
                    Record::Dir => {
                        h.set_mode(0o755);
                        b.append_data(&mut h, rel, std::io::empty())
                            .ctx("write", &out)?;
                    }
                    Record::File { exec, size, .. } => {
                        h.set_mode(if *exec { 0o755 } else { 0o644 });
                        h.set_size(*size);
                        let full = src.join(rel);
                        let f = std::fs::File::open(&full).ctx("open", &full)?;
                        // If the file changed since it was hashed, the size check fails
                        // here rather than writing a package that lies.
                        b.append_data(&mut h, rel, f.take(*size))
                            .ctx("write", &out)?;
                    }
                    Record::Symlink { target } => {
                        h.set_mode(0o777);
                        b.append_link(&mut h, rel, target).ctx("write", &out)?;
                    }
                }
            }
            b.finish().ctx("write", &out)?;
        }
        let w = enc.finish().ctx("compress", &out)?;
        w.into_inner()
            .map_err(|e| Error::io("write", &out, e.into_error()))?;
        Ok(())
    })?;
    Ok(Packed {
        sha256: super::source::sha256_file(&out)?,
        path: out,
        name: name.clone(),
        version: version.clone(),
        files: list.file_count(),
        bytes: list.bytes(),
    })
}

fn header(t: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(t);
    h.set_mtime(PACK_MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    h
}

fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    out: &Path,
) -> Result<()> {
    let mut h = header(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).ctx("write", out)
}

enum Kind {
    Dir,
    File(bool),
    Symlink(String),
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Kind)>) -> Result<()> {
    let mut ents: Vec<_> = std::fs::read_dir(dir)
        .ctx("read directory", dir)?
        .collect::<std::io::Result<_>>()
        .ctx("read directory", dir)?;
    ents.sort_by_key(|e| e.file_name());
    for ent in ents {
        let full = ent.path();
        let rel = full
            .strip_prefix(base)
            .expect("walked paths are under the base")
            .to_str()
            .ok_or_else(|| Error::ManifestValue {
                path: full.clone(),
                message: "file name is not valid UTF-8; rename it".into(),
            })?
            .to_string();
        if rel == "berth.toml" {
            continue;
        }
        let refuse = |message: &str| Error::ManifestValue {
            path: full.clone(),
            message: message.to_string(),
        };
        if rel == ".berth" {
            return Err(refuse(
                "`.berth/` is reserved for berth's metadata; rename it",
            ));
        }
        if rel.contains('\\') || rel.chars().any(|c| c.is_control()) {
            return Err(refuse(
                "backslashes and control characters are not allowed in names",
            ));
        }
        let meta = std::fs::symlink_metadata(&full).ctx("stat", &full)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            out.push((rel, Kind::Dir));
            walk(base, &full, out)?;
        } else if ft.is_file() {
            out.push((rel, Kind::File(meta.permissions().mode() & 0o111 != 0)));
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&full).ctx("read link", &full)?;
            let target = target
                .to_str()
                .ok_or_else(|| refuse("symlink target is not valid UTF-8"))?
                .to_string();
            check_symlink_target(&rel, &target).map_err(|e| match e {
                SinkError::Refused(why) => {
                    refuse(&format!("{why}; packages must be self-contained"))
                }
                SinkError::Fail(e) => e,
            })?;
            out.push((rel, Kind::Symlink(target)));
        } else {
            return Err(refuse("only files, directories and symlinks can be packed"));
        }
    }
    Ok(())
}

/// Installs a `.berth` archive: takes its metadata members, then holds every payload member
/// to the listed type, mode, size and sha256.
pub struct BerthSink<'w> {
    writer: &'w mut EntryWriter,
    manifest_path: PathBuf,
    /// The manifest, once read.
    pub manifest: Option<Manifest>,
    have_list: bool,
}

impl<'w> BerthSink<'w> {
    /// A sink feeding `writer`; `archive` names the package in messages.
    pub fn new(writer: &'w mut EntryWriter, archive: &Path) -> Self {
        BerthSink {
            writer,
            manifest_path: archive.join(".berth/manifest.toml"),
            manifest: None,
            have_list: false,
        }
    }

    fn ready(&self) -> Result<(), SinkError> {
        if self.manifest.is_none() || !self.have_list {
            return Err(SinkError::Refused(Unsafe::ListMismatch(
                "payload before .berth/manifest.toml and .berth/files".into(),
            )));
        }
        Ok(())
    }
}

impl Sink for BerthSink<'_> {
    fn meta(&mut self, name: &str, data: Vec<u8>) -> Result<(), SinkError> {
        let text = String::from_utf8(data).map_err(|_| SinkError::Refused(Unsafe::NonUtf8))?;
        match name {
            "manifest.toml" if self.manifest.is_none() => {
                self.manifest = Some(Manifest::parse(&text, &self.manifest_path)?);
                Ok(())
            }
            "files" if !self.have_list => {
                let list = FileList::parse(&text).map_err(|e| {
                    SinkError::Refused(Unsafe::BadHeader(format!(".berth/files {e}")))
                })?;
                self.writer.expect(list);
                self.have_list = true;
                Ok(())
            }
            "manifest.toml" | "files" => Err(SinkError::Refused(Unsafe::Duplicate)),
            _ => Err(SinkError::Refused(Unsafe::Reserved)),
        }
    }
    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.ready()?;
        self.writer.dir(path)
    }
    fn file(
        &mut self,
        path: &str,
        exec: bool,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), SinkError> {
        self.ready()?;
        self.writer.file(path, exec, size, data)
    }
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.ready()?;
        self.writer.symlink(path, target)
    }
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.ready()?;
        self.writer.hardlink(path, target)
    }
}
