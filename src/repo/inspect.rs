//! What a package file is, for publishing: its kind by content (magic bytes, not its
//! name), its name and version, and the id the store will give it, so that the signed index
//! says exactly what an install will produce.

use super::index::Kind;
use crate::error::{Error, Result};
use crate::package::lister::list_package;
use crate::package::read::ReadOptions;
use crate::package::source::{Format, Source};
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

/// Tells the kind of `path` from its content, as an install would.
pub fn kind(path: &Path) -> Result<Kind> {
    Ok(match Source::open(path)?.format() {
        Format::Berth(_) => Kind::Berth,
        Format::Tar(_) => Kind::Tarball,
        Format::Deb => Kind::Deb,
        Format::Rpm => Kind::Rpm,
    })
}

/// Inspects a file of kind `kind`: read through the package reader into a hashing sink,
/// so the id in the index is the id the store will give it.
pub fn inspect(path: &Path, kind: Kind, given: &Given) -> Result<Inspected> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (name, version) = match kind {
        Kind::Berth => (given.name.clone(), given.version.clone()),
        _ => {
            let guess = match kind {
                Kind::Deb => deb_name(&file_name),
                Kind::Rpm => rpm_name(&file_name),
                _ => crate::package::tarball::name_version_from_file(&file_name),
            };
            (
                given
                    .name
                    .clone()
                    .or_else(|| guess.as_ref().map(|g| g.0.clone())),
                given.version.clone().or_else(|| guess.map(|g| g.1)),
            )
        }
    };
    let opts = ReadOptions {
        name: name.clone(),
        version: version.clone(),
        strip_components: given.strip_components,
        ..ReadOptions::default()
    };
    let mut out = match list_package(path, &opts) {
        Ok((read, list)) => Inspected {
            store_id: Some(list.id(&read.manifest)?),
            kind,
            name: read.manifest.package.name.clone(),
            version: read.manifest.package.version.clone(),
            description: read.manifest.package.description.clone(),
        },
        // A native package this berth cannot unpack: name and version from its file name.
        Err(Error::BadArchive { .. }) if matches!(kind, Kind::Deb | Kind::Rpm) => {
            let (name, version) = names(
                path,
                given,
                name.zip(version),
                "pass --name and --version, or name the file NAME_VERSION_ARCH.deb or NAME-VERSION-RELEASE.ARCH.rpm",
            )?;
            Inspected {
                kind,
                name,
                version,
                store_id: None,
                description: String::new(),
            }
        }
        // The same question, asked in this command's words.
        Err(Error::NeedNameVersion { archive, .. }) => {
            return Err(Error::NeedNameVersion {
                archive,
                hint: "pass --name and --version, or name the file NAME-VERSION.tar.gz",
            })
        }
        Err(e) => return Err(e),
    };
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
            crate::package::name::check_name("package name", &n)?;
            crate::package::name::check_version(&v)?;
            Ok((n, v))
        }
        _ => Err(Error::NeedNameVersion {
            archive: path.to_path_buf(),
            hint,
        }),
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
