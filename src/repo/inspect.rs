//! What a package file is, for publishing: its kind by content (magic bytes, not its
//! name), its name and version, and the id the store will give it, so that the signed index
//! says exactly what an install will produce.

use super::index::Kind;
use super::Error;
use crate::error::{IoContext, Result};
use crate::package::extract::{self, Limits, Options, Sink, SinkError};
use crate::package::source::{decoder, Artifact, Compression};
use crate::store::listing::{FileList, Record};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// What publishing needs to know about one file.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Its kind.
    pub kind: Kind,
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Store id (None for formats this berth cannot unpack yet: .deb, .rpm).
    pub store_id: Option<String>,
    /// Description (from a .berth manifest, else what the publisher passed).
    pub description: String,
}

/// Overrides the publisher may give (tarballs and .deb/.rpm have no manifest).
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// Package name.
    pub name: Option<String>,
    /// Package version.
    pub version: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Leading components dropped on install (tarballs).
    pub strip_components: usize,
}

/// Tells the kind of `path` from its first bytes: zstd/gzip/xz/tar are tarballs unless the
/// first member is `.berth/manifest.toml`; `!<arch>\n` is a .deb; `ed ab ee db` an .rpm.
pub fn kind(path: &Path) -> Result<Kind> {
    let mut head = [0u8; 512];
    let mut f = open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).ctx("read", path)? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    if head.starts_with(b"!<arch>\n") {
        return Ok(Kind::Deb);
    }
    if head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        return Ok(Kind::Rpm);
    }
    match Compression::sniff(head) {
        Compression::Zstd if first_member(path)?.as_deref() == Some(".berth/manifest.toml") => {
            Ok(Kind::Berth)
        }
        Compression::None if head.len() < 263 || &head[257..262] != b"ustar" => {
            Err(Error::UnknownKind {
                path: path.to_path_buf(),
                why: "no archive or package signature in its first bytes".into(),
            }
            .into())
        }
        _ => Ok(Kind::Tarball),
    }
}

fn open(path: &Path) -> Result<std::fs::File> {
    match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(crate::Error::InputNotFound {
            path: path.to_path_buf(),
        }),
        r => r.ctx("open", path),
    }
}

fn first_member(path: &Path) -> Result<Option<String>> {
    let dec = zstd::stream::read::Decoder::new(open(path)?).ctx("read", path)?;
    let mut ar = tar::Archive::new(dec);
    let mut entries = ar.entries().ctx("read", path)?;
    Ok(match entries.next() {
        Some(Ok(e)) => e.path().ok().map(|p| p.to_string_lossy().into_owned()),
        _ => None,
    })
}

/// Inspects a file of kind `kind`.
pub fn inspect(path: &Path, kind: Kind, given: &Given) -> Result<Inspected> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = match kind {
        Kind::Berth => berth(path)?,
        Kind::Tarball => {
            let guess = crate::package::tarball::name_version_from_file(&file_name);
            let (name, version) = names(
                path,
                given,
                guess,
                "pass --name and --version, or name the file NAME-VERSION.tar.gz",
            )?;
            let list = listing(path, given.strip_components)?;
            Inspected {
                store_id: Some(list.id(&name, &version)),
                kind,
                name,
                version,
                description: String::new(),
            }
        }
        // The store cannot unpack these yet: name and version come from the file's name.
        Kind::Deb => {
            let guess = deb_name(&file_name);
            let (name, version) = names(
                path,
                given,
                guess,
                "pass --name and --version, or name the file NAME_VERSION_ARCH.deb",
            )?;
            Inspected {
                kind,
                name,
                version,
                store_id: None,
                description: String::new(),
            }
        }
        Kind::Rpm => {
            let guess = rpm_name(&file_name);
            let (name, version) = names(
                path,
                given,
                guess,
                "pass --name and --version, or name the file NAME-VERSION-RELEASE.ARCH.rpm",
            )?;
            Inspected {
                kind,
                name,
                version,
                store_id: None,
                description: String::new(),
            }
        }
    };
    if kind == Kind::Berth {
        for (what, want, have) in [
            ("--name", &given.name, &out.name),
            ("--version", &given.version, &out.version),
        ] {
            if let Some(w) = want.as_ref().filter(|w| *w != have) {
                return Err(crate::Error::Usage(format!(
                    "{what} {w} does not match {}'s manifest ({have})",
                    path.display()
                )));
            }
        }
    }
    if let Some(d) = &given.description {
        out.description = d.clone();
    }
    Ok(out)
}

fn names(
    path: &Path,
    given: &Given,
    guess: Option<(String, String)>,
    hint: &'static str,
) -> Result<(String, String)> {
    let name = given
        .name
        .clone()
        .or_else(|| guess.as_ref().map(|g| g.0.clone()));
    let version = given.version.clone().or_else(|| guess.map(|g| g.1));
    match (name, version) {
        (Some(n), Some(v)) => {
            crate::package::manifest::check_name("package name", &n)?;
            crate::package::manifest::check_version(&v)?;
            Ok((n, v))
        }
        _ => Err(Error::NeedNameVersion {
            path: path.to_path_buf(),
            hint,
        }
        .into()),
    }
}

/// `name_version_arch.deb` (Debian's file naming; the epoch is never in file names).
fn deb_name(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".deb")?;
    let mut parts = stem.split('_');
    let (name, version) = (parts.next()?, parts.next()?);
    (!name.is_empty() && !version.is_empty()).then(|| (name.to_string(), version.to_string()))
}

/// `name-version-release.arch.rpm`: the version is `version-release`.
fn rpm_name(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".rpm")?;
    let (nvr, _arch) = stem.rsplit_once('.')?;
    let (nv, release) = nvr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then(|| (name.to_string(), format!("{version}-{release}")))
}

/// A `.berth` file: its manifest and file list are its first two members.
fn berth(path: &Path) -> Result<Inspected> {
    let bad = |detail: String| crate::Error::BadArchive {
        archive: path.to_path_buf(),
        detail,
    };
    let dec = zstd::stream::read::Decoder::new(open(path)?).ctx("read", path)?;
    let mut ar = tar::Archive::new(dec);
    let mut entries = ar.entries().ctx("read", path)?;
    let mut member = |want: &str| -> Result<String> {
        let mut e = match entries.next() {
            Some(e) => e.ctx("read", path)?,
            None => return Err(bad(format!("no {want}"))),
        };
        let name = e.path().ctx("read", path)?.to_string_lossy().into_owned();
        if name != want {
            return Err(bad(format!("expected {want}, found {name}")));
        }
        let mut text = String::new();
        (&mut e)
            .take(16 << 20)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("{want}: {e}")))?;
        Ok(text)
    };
    let manifest_text = member(".berth/manifest.toml")?;
    let list_text = member(".berth/files")?;
    let manifest = crate::package::manifest::Manifest::parse(
        &manifest_text,
        &path.join(".berth/manifest.toml"),
    )?;
    let list = FileList::parse(&list_text).map_err(|e| bad(format!(".berth/files {e}")))?;
    let (name, version) = (manifest.package.name, manifest.package.version);
    Ok(Inspected {
        kind: Kind::Berth,
        store_id: Some(list.id(&name, &version)),
        name,
        version,
        description: manifest.package.description,
    })
}

/// The file list a tarball installs as: extracted through the store's own safety checks into
/// a sink that only hashes.
fn listing(path: &Path, strip_components: usize) -> Result<FileList> {
    let artifact = Artifact::open(path)?;
    let Artifact {
        compression,
        mut reader,
        ..
    } = artifact;
    let opts = Options {
        archive: path.to_path_buf(),
        strip_components,
        limits: Limits::default(),
        allow_meta: false,
    };
    let mut sink = Lister::default();
    {
        let dec = decoder(compression, &mut reader, path)?;
        extract::extract(dec, &opts, &mut sink)?;
    }
    for (link, target) in std::mem::take(&mut sink.hardlinks) {
        let rec =
            sink.list
                .records
                .get(&target)
                .cloned()
                .ok_or_else(|| crate::Error::BadArchive {
                    archive: path.to_path_buf(),
                    detail: format!("{link}: hard link to `{target}`, which is not a file"),
                })?;
        sink.list.records.insert(link, rec);
    }
    Ok(sink.list)
}

#[derive(Default)]
struct Lister {
    list: FileList,
    hardlinks: Vec<(String, String)>,
}

impl Sink for Lister {
    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.list.records.insert(path.to_string(), Record::Dir);
        Ok(())
    }
    fn file(
        &mut self,
        path: &str,
        exec: bool,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), SinkError> {
        let mut h = Sha256::new();
        let n = std::io::copy(data, &mut h).map_err(|e| {
            SinkError::Fail(crate::Error::BadArchive {
                archive: Default::default(),
                detail: format!("{path}: {e}"),
            })
        })?;
        if n != size {
            return Err(SinkError::Fail(crate::Error::BadArchive {
                archive: Default::default(),
                detail: format!("{path}: truncated member"),
            }));
        }
        let rec = Record::File {
            exec,
            size,
            sha256: h.finalize().into(),
        };
        self.list.records.insert(path.to_string(), rec);
        Ok(())
    }
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        let rec = Record::Symlink {
            target: target.to_string(),
        };
        self.list.records.insert(path.to_string(), rec);
        Ok(())
    }
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.hardlinks.push((path.to_string(), target.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_deb_and_rpm_files() {
        assert_eq!(
            deb_name("drupal7_7.60-1_all.deb"),
            Some(("drupal7".into(), "7.60-1".into()))
        );
        assert_eq!(
            rpm_name("nginx-1.24.0-1.el9.x86_64.rpm"),
            Some(("nginx".into(), "1.24.0-1.el9".into()))
        );
        assert_eq!(rpm_name("nothing.rpm"), None);
    }
}
