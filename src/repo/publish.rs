//! The publisher's side: making a repository directory, adding packages to it (immutable
//! files named by their hash, then a new signed index), and checking one offline.

use super::index::{self, Index, Package, INDEX, SIGNATURE};
use super::inspect::{self, Given};
use super::keys::{self, PublicKey, SecretKey};
use super::trust;
use super::Error;
use crate::error::{IoContext, Result};
use crate::package::source::sha256_file;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Makes an empty repository for `channel` in `dir` (unsigned until the first publish).
pub fn init(dir: &Path, channel: &str) -> Result<()> {
    index::check_channel(channel).map_err(|why| Error::BadChannel {
        channel: channel.into(),
        why: why.to_string(),
    })?;
    if dir.join(INDEX).exists() {
        return Err(Error::RepoDirExists {
            path: dir.to_path_buf(),
        }
        .into());
    }
    crate::fsutil::create_user_dirs(&dir.join("packages"))?;
    let idx = Index::new(channel, SystemTime::now());
    crate::fsutil::write_user_file(&dir.join(INDEX), &idx.to_bytes(), 0o644)
}

/// One file to publish, with what the publisher says about it.
#[derive(Debug, Clone)]
pub struct Input {
    /// The package file.
    pub path: PathBuf,
    /// Name, version, description overrides.
    pub given: Given,
}

/// What happened to one file.
#[derive(Debug, Serialize)]
pub struct Row {
    /// name@version.
    pub package: String,
    /// Its kind.
    pub kind: &'static str,
    /// Path in the repository.
    pub path: String,
    /// sha256.
    pub sha256: String,
    /// Size.
    pub size: u64,
    /// Store id, when known.
    pub store_id: Option<String>,
    /// `added` or `unchanged`.
    pub status: &'static str,
}

/// What `publish` did.
#[derive(Debug, Serialize)]
pub struct Published {
    /// The new serial.
    pub serial: u64,
    /// The channel.
    pub channel: String,
    /// New expiry.
    pub expires: String,
    /// The signing key id.
    pub key_id: String,
    /// One row per input file.
    pub packages: Vec<Row>,
}

/// Copies `inputs` into `dir`, bumps the serial, sets the expiry `valid_for` from now, and
/// signs the new index with `key`.
pub fn publish(
    dir: &Path,
    inputs: &[Input],
    key: &SecretKey,
    valid_for: Duration,
    accept_existing: bool,
    ranges: bool,
) -> Result<Published> {
    let mut idx = load_own_index(dir, key, accept_existing)?;
    if !ranges {
        // An index any entry of which has `seek` is refused whole by a berth older than
        // range installs: `--no-ranges` takes it off every entry, for fleets mid-upgrade.
        for p in &mut idx.packages {
            p.seek = None;
        }
    }
    let mut rows = Vec::new();
    let mut added: Vec<(Package, PathBuf)> = Vec::new();
    for input in inputs {
        let (mut pkg, status) = plan(dir, &idx, &added, input)?;
        if !ranges {
            pkg.seek = None;
        }
        rows.push(Row {
            package: pkg.reference(),
            kind: pkg.kind.as_str(),
            path: pkg.path.clone(),
            sha256: pkg.sha256.clone(),
            size: pkg.size,
            store_id: pkg.store_id.clone(),
            status,
        });
        if status == "added" {
            added.push((pkg, input.path.clone()));
        }
    }
    // Files first, index last: a client never sees an index naming a file not yet there.
    for (pkg, src) in &added {
        copy_in(dir, pkg, src)?;
    }
    idx.packages.extend(added.into_iter().map(|(p, _)| p));
    idx.packages.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| crate::package::version::compare(&a.version, &b.version))
    });
    let now = SystemTime::now();
    idx.serial += 1;
    idx.generated = index::format_time(now);
    idx.expires = index::format_time(now + valid_for);
    idx.check().map_err(|why| crate::Error::Internal {
        what: "the new index",
        detail: why.to_string(),
    })?;
    let bytes = idx.to_bytes();
    let sig = keys::sign(key, &bytes[..], INDEX)?;
    crate::fsutil::write_user_file(&dir.join(INDEX), &bytes, 0o644)?;
    crate::fsutil::write_user_file(&dir.join(SIGNATURE), sig.as_bytes(), 0o644)?;
    Ok(Published {
        serial: idx.serial,
        channel: idx.channel,
        expires: idx.expires,
        key_id: key.id.clone(),
        packages: rows,
    })
}

/// The index entry one input file becomes, and whether it is new ("added") or already
/// published with the same bytes ("unchanged"); other bytes under a published name@version
/// are refused.
fn plan(
    dir: &Path,
    idx: &Index,
    added: &[(Package, PathBuf)],
    input: &Input,
) -> Result<(Package, &'static str)> {
    let kind = inspect::kind(&input.path)?;
    let info = inspect::inspect(&input.path, kind, &input.given)?;
    let sha256 = sha256_file(&input.path)?;
    let size = std::fs::metadata(&input.path)
        .ctx("stat", &input.path)?
        .len();
    let existing = idx
        .packages
        .iter()
        .chain(added.iter().map(|(p, _)| p))
        .find(|p| p.name == info.name && p.version == info.version);
    let status = match existing {
        Some(p) if p.sha256 == sha256 => "unchanged",
        Some(p) => {
            return Err(Error::PublishConflict {
                repo: dir.to_path_buf(),
                name: info.name,
                version: info.version,
                existing: p.sha256.clone(),
            }
            .into())
        }
        None => "added",
    };
    let file = plain_file_name(&input.path);
    let seek = match (kind, &info.store_id) {
        (index::Kind::Berth, Some(_)) => super::delta::describe(&input.path, size)?,
        _ => None,
    };
    let pkg = Package {
        seek,
        path: format!("packages/{}/{sha256}-{file}", &sha256[..2]),
        name: info.name,
        version: info.version,
        kind,
        size,
        sha256,
        store_id: info.store_id,
        strip_components: input.given.strip_components,
        description: info.description,
    };
    Ok((pkg, status))
}

/// The repository's current index, refused when someone else signed it (unless told).
fn load_own_index(dir: &Path, key: &SecretKey, accept_existing: bool) -> Result<Index> {
    let path = dir.join(INDEX);
    // A repository directory's files are inputs: regular files only, never waited on.
    let bytes = match crate::fsutil::read_input(&path, trust::INDEX_CAP) {
        Err(crate::Error::InputNotFound { .. }) => {
            return Err(Error::NotARepo {
                path: dir.to_path_buf(),
            }
            .into())
        }
        r => r?,
    };
    let idx = index::parse(&bytes, &path.display().to_string())?;
    if accept_existing {
        return Ok(idx);
    }
    let sig_path = dir.join(SIGNATURE);
    let foreign = |why: String| Error::ForeignIndex {
        path: path.clone(),
        why,
    };
    match crate::fsutil::read_input_text(&sig_path, trust::SIGNATURE_CAP) {
        Err(crate::Error::InputNotFound { .. }) => {
            if idx.serial == 0 && idx.packages.is_empty() {
                Ok(idx)
            } else {
                Err(foreign("the index has no signature".into()).into())
            }
        }
        Err(e) => Err(e),
        Ok(sig) => {
            let own = [key.public()?];
            keys::verify(&bytes, &sig, &own, &path.display().to_string(), "-")
                .map_err(|e| foreign(format!("it is not signed by key {} ({e})", key.id)))?;
            Ok(idx)
        }
    }
}

/// The file's name with anything but letters, digits and `._+~-` replaced by `_`.
fn plain_file_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+~-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("p{s}")
    } else {
        s
    }
}

/// Copies a package file to its hashed name (kept when already there with these bytes).
fn copy_in(dir: &Path, pkg: &Package, src: &Path) -> Result<()> {
    let dest = dir.join(&pkg.path);
    if dest.exists() && sha256_file(&dest)? == pkg.sha256 {
        return Ok(());
    }
    if let Some(parent) = dest.parent() {
        crate::fsutil::create_user_dirs(parent)?;
    }
    crate::fsutil::write_user_file_with(&dest, 0o644, |f| {
        let mut from = crate::fsutil::open_input(src)?;
        std::io::copy(&mut from, f).ctx("copy", src)?;
        Ok(())
    })?;
    // The source could have changed since it was hashed: the copy must be what is signed.
    if sha256_file(&dest)? != pkg.sha256 {
        let _ = std::fs::remove_file(&dest);
        return Err(Error::ChangedDuringPublish { path: src.into() }.into());
    }
    Ok(())
}

/// What `repo verify` found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The directory.
    pub path: PathBuf,
    /// Channel, when the index could be read.
    pub channel: Option<String>,
    /// Serial, when the index could be read.
    pub serial: Option<u64>,
    /// Expiry, when the index could be read.
    pub expires: Option<String>,
    /// The key that signed the index, when it verified against a given key.
    pub signed_by: Option<String>,
    /// Packages listed.
    pub packages: usize,
    /// Everything wrong, one line each.
    pub problems: Vec<String>,
}

/// Checks a repository directory offline: index, signature (against `keys`, when given),
/// expiry, and every package's presence, size, hash and kind.
pub fn verify(dir: &Path, keys: &[PublicKey]) -> Result<Report> {
    let path = dir.join(INDEX);
    let mut r = Report {
        path: dir.to_path_buf(),
        channel: None,
        serial: None,
        expires: None,
        signed_by: None,
        packages: 0,
        problems: vec![],
    };
    let bytes = match crate::fsutil::read_input(&path, trust::INDEX_CAP) {
        Err(crate::Error::InputNotFound { .. }) => {
            return Err(Error::NotARepo {
                path: dir.to_path_buf(),
            }
            .into())
        }
        b => b?,
    };
    let url = path.display().to_string();
    match crate::fsutil::read_input_text(&dir.join(SIGNATURE), trust::SIGNATURE_CAP) {
        Err(_) => r
            .problems
            .push(format!("{SIGNATURE}: missing or unreadable")),
        Ok(sig) if !keys.is_empty() => match keys::verify(&bytes, &sig, keys, &url, "-") {
            Ok(k) => r.signed_by = Some(k.id.clone()),
            Err(e) => r.problems.push(first_line(&e.to_string())),
        },
        Ok(_) => {}
    }
    let idx = match index::parse(&bytes, &url) {
        Ok(i) => i,
        Err(e) => {
            r.problems.push(first_line(&e.to_string()));
            return Ok(r);
        }
    };
    if idx.expires_at() < SystemTime::now() {
        r.problems
            .push(format!("the index expired at {}", idx.expires));
    }
    for p in &idx.packages {
        if let Err(why) = check_package(dir, p) {
            r.problems
                .push(format!("{} ({}): {why}", p.reference(), p.path));
        }
    }
    r.channel = Some(idx.channel);
    r.serial = Some(idx.serial);
    r.expires = Some(idx.expires);
    r.packages = idx.packages.len();
    Ok(r)
}

fn check_package(dir: &Path, p: &Package) -> std::result::Result<(), String> {
    let file = dir.join(&p.path);
    let meta = std::fs::metadata(&file).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() != p.size {
        return Err(format!("{} bytes, the index says {}", meta.len(), p.size));
    }
    let sha = sha256_file(&file).map_err(|e| e.to_string())?;
    if sha != p.sha256 {
        return Err(format!("sha256 is {sha}, the index says {}", p.sha256));
    }
    let kind = inspect::kind(&file).map_err(|e| first_line(&e.to_string()))?;
    if kind != p.kind {
        return Err(format!(
            "it is a {} file, the index says {}",
            kind.as_str(),
            p.kind.as_str()
        ));
    }
    if let Some(seek) = &p.seek {
        let actual =
            super::delta::describe(&file, p.size).map_err(|e| first_line(&e.to_string()))?;
        if actual.as_ref() != Some(seek) {
            return Err("its `seek` (frame 0 and seek table) does not match the file".into());
        }
    }
    Ok(())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}
