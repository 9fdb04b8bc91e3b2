//! `pack`: a source directory holding `berth.toml` becomes a `.berth` file, reproducibly
//! (sorted members, fixed mtime, uid/gid 0). Every path goes through the same rules as an
//! install ([`Checker`]), so `pack` never writes a package that `install` would refuse.

use super::extract::rules::{Checked, Checker, Limits, Member};
use super::listing::{FileList, FileMode, Record};
use super::manifest::Manifest;
use super::seekable::{BlockAfterHeader, FrameWriter};
use crate::error::{Error, IoContext, Result};
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

enum Kind {
    Dir,
    File(bool),
    Symlink(String),
}

/// Packs `src` (holding `berth.toml`) into `<out_dir>/<name>-<version>.berth`, or `out`.
/// A payload without files or links is refused, as `install` refuses it, unless
/// `allow_empty` (the flag of both).
pub fn pack(src: &Path, out: Option<&Path>, level: i32, allow_empty: bool) -> Result<Packed> {
    if !src.is_dir() {
        return Err(Error::InputNotFound {
            path: src.to_path_buf(),
        });
    }
    let manifest = Manifest::load(&src.join("berth.toml"))?;
    if let Some(o) = out {
        check_output(o)?;
    }
    let mut paths = Vec::new();
    walk(src, src, &mut paths)?;
    check_like_install(src, &paths)?;
    if !allow_empty && paths.iter().all(|(_, k)| matches!(k, Kind::Dir)) {
        return Err(Error::EmptyArchive {
            archive: src.to_path_buf(),
        });
    }
    let list = hash_all(src, paths)?;
    let name = &manifest.package.name;
    let version = &manifest.package.version;
    let out = match out {
        Some(o) if o.is_dir() => o.join(format!("{name}-{version}.berth")),
        Some(o) => o.to_path_buf(),
        None => PathBuf::from(format!("{name}-{version}.berth")),
    };
    crate::fsutil::write_user_file_with(&out, 0o644, |file| {
        write_archive(file, src, &manifest, &list, level, &out)
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

/// Refuses, before any work, an output whose directory is missing or is not a directory:
/// `-o dist/` (or `-o dist/x.berth`) names `dist` as a directory that must exist.
fn check_output(out: &Path) -> Result<()> {
    if out.is_dir() {
        return Ok(());
    }
    let names_dir = out.as_os_str().as_encoded_bytes().ends_with(b"/");
    let dir = match out.parent() {
        _ if names_dir => out.components().as_path(),
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Ok(()),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::OutputNotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::OutputDirMissing {
            dir: dir.to_path_buf(),
        }),
        // ENOTDIR: some ancestor is a file; name the one that is.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Err(Error::OutputNotADirectory {
            path: dir
                .ancestors()
                .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()))
                .unwrap_or(dir)
                .to_path_buf(),
        }),
        Err(e) => Err(Error::io("stat", dir, e)),
    }
}

/// Puts every path through the install rules (names, case collisions, depth, link
/// targets), naming the source file that would be refused.
fn check_like_install(src: &Path, paths: &[(String, Kind)]) -> Result<()> {
    let mut checker = Checker::new(Limits::default(), 0);
    let mut parents = Vec::new();
    for (rel, kind) in paths {
        let member = match kind {
            Kind::Dir => Member::Dir,
            Kind::File(exec) => Member::File {
                size: 0,
                mode: if *exec { 0o755 } else { 0o644 },
            },
            Kind::Symlink(t) => Member::Symlink {
                target: t.as_bytes(),
            },
        };
        parents.clear();
        match checker.check(rel.as_bytes(), member, &mut parents) {
            Ok(Checked::Nothing) if !matches!(kind, Kind::Dir) => {}
            Ok(_) => {}
            Err(why) => {
                return Err(Error::ManifestValue {
                    path: src.join(rel),
                    message: format!(
                        "{why}; berth install would refuse this package, so pack refuses it too"
                    ),
                })
            }
        }
    }
    Ok(())
}

/// Hashes every file on all cores: the payload is read twice (hash, then archive) because
/// the list must come first in the archive.
fn hash_all(src: &Path, paths: Vec<(String, Kind)>) -> Result<FileList> {
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
                        mode: FileMode::of_exec(exec),
                        size,
                        sha256: h.finalize().into(),
                    }
                }
            };
            Ok((rel, rec))
        })
        .collect::<Result<_>>()?;
    Ok(FileList {
        records: records.into_iter().collect(),
    })
}

/// A file at least this large gets a frame of its own, its header in a block of its own:
/// an install that already holds its content skips its data without decoding any of it.
pub(crate) const OWN_FRAME: u64 = 16 << 10;
/// Smaller members share frames of about this many bytes (a frame per small file would
/// cost compression; their decoding is cheap next to the writes an install skips).
pub(crate) const GROUP_FRAME: u64 = 128 << 10;

/// Writes the seekable `.berth` (see [`super::seekable`]): frame 0 holds `.berth/`, then
/// frames cut at member boundaries, then the end-of-archive blocks, then the seek table.
fn write_archive(
    file: &mut std::fs::File,
    src: &Path,
    manifest: &Manifest,
    list: &FileList,
    level: i32,
    out: &Path,
) -> Result<()> {
    let frames = FrameWriter::new(std::io::BufWriter::new(file), level).ctx("compress", out)?;
    let mut b = tar::Builder::new(frames.clone());
    b.mode(tar::HeaderMode::Deterministic);
    let text = manifest.to_toml()?;
    append_bytes(&mut b, ".berth/manifest.toml", text.as_bytes(), out)?;
    append_bytes(&mut b, ".berth/files", list.to_text().as_bytes(), out)?;
    frames.end_frame().ctx("compress", out)?;
    write_payload(&frames, &mut b, list, out, |rel, _| {
        let full = src.join(rel);
        let f = std::fs::File::open(&full).ctx("open", &full)?;
        Ok(Box::new(f))
    })?;
    frames.end_frame().ctx("compress", out)?;
    let frames_b = b.into_inner().ctx("write", out)?;
    drop(frames_b);
    let w = frames.finish().ctx("compress", out)?;
    w.into_inner()
        .map_err(|e| Error::io("write", out, e.into_error()))?;
    Ok(())
}

/// Writes the payload members of `list` in order, cutting frames as [`write_archive`] does
/// (deterministic from the list: a range install plans on it), with each file's data from
/// `data` (which must give at least its listed size). `out` names the file in errors.
pub(crate) fn write_payload<'d, W: Write>(
    frames: &FrameWriter<W>,
    b: &mut tar::Builder<FrameWriter<W>>,
    list: &FileList,
    out: &Path,
    mut data: impl FnMut(&str, u64) -> Result<Box<dyn Read + 'd>>,
) -> Result<()> {
    for (rel, rec) in &list.records {
        let mut h = member_header(rec);
        let own = matches!(rec, Record::File { size, .. } if *size >= OWN_FRAME);
        if own || frames.frame_len() >= GROUP_FRAME {
            frames.end_frame().ctx("compress", out)?;
        }
        match rec {
            Record::Dir => {
                b.append_data(&mut h, rel, std::io::empty())
                    .ctx("write", out)?;
            }
            Record::File { size, .. } => {
                // If a file changed since it was hashed, the size check fails here rather
                // than writing a package that lies.
                let data = BlockAfterHeader {
                    inner: data(rel, *size)?.take(*size),
                    frames: own.then(|| frames.clone()),
                };
                b.append_data(&mut h, rel, data).ctx("write", out)?;
                if own {
                    frames.end_frame().ctx("compress", out)?;
                }
            }
            Record::Symlink { target } => {
                b.append_link(&mut h, rel, target).ctx("write", out)?;
            }
        }
    }
    Ok(())
}

/// The tar header of a payload member as `pack` writes it (type, mode, size, fixed owner
/// and mtime; the path is set when it is appended).
pub(crate) fn member_header(rec: &Record) -> tar::Header {
    let mut h = header(match rec {
        Record::Dir => tar::EntryType::Directory,
        Record::File { .. } => tar::EntryType::Regular,
        Record::Symlink { .. } => tar::EntryType::Symlink,
    });
    match rec {
        Record::Dir => h.set_mode(0o755),
        Record::File { mode, size, .. } => {
            h.set_mode(if mode.exec() { 0o755 } else { 0o644 });
            h.set_size(*size);
        }
        Record::Symlink { .. } => h.set_mode(0o777),
    }
    h
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
    if data.len() as u64 > super::extract::tar::MAX_META {
        return Err(Error::ManifestValue {
            path: out.to_path_buf(),
            message: format!(
                "{path} would be {} bytes, more than install accepts ({})",
                data.len(),
                super::extract::tar::MAX_META
            ),
        });
    }
    let mut h = header(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).ctx("write", out)
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Kind)>) -> Result<()> {
    let mut ents: Vec<_> = std::fs::read_dir(dir)
        .ctx("read directory", dir)?
        .collect::<std::io::Result<_>>()
        .ctx("read directory", dir)?;
    ents.sort_by_key(|e| e.file_name());
    for ent in ents {
        let full = ent.path();
        let refuse = |message: &str| Error::ManifestValue {
            path: full.clone(),
            message: message.to_string(),
        };
        let rel = full
            .strip_prefix(base)
            .ok()
            .and_then(|r| r.to_str())
            .ok_or_else(|| refuse("file name is not valid UTF-8; rename it"))?
            .to_string();
        if rel == "berth.toml" {
            continue;
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
            out.push((rel, Kind::Symlink(target)));
        } else {
            return Err(refuse("only files, directories and symlinks can be packed"));
        }
    }
    Ok(())
}
