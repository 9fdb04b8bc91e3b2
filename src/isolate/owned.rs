//! Which directories of a profile's packages are theirs alone inside `run --isolate`. A
//! directory that a package ships and that no *other* package of the host owns shows only
//! the profile's packages (the host's `/etc/nginx/sites-enabled/default` must not leak
//! into a profile whose nginx-common ships that directory empty); directories shared by
//! many packages (`/etc`, `/usr/lib`) keep merging with the host, whose libraries serve
//! the packages' `Depends`. Ownership is read, never written, from the host's dpkg database
//! (`<admin>/info/*.list`); on a host without one, from a built-in list of the FHS's
//! shared directories.

use super::error::{Ctx, Error};
use super::fhs::fhs_shared;
use super::layers::{Bind, Layer, Overlay};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// dpkg's administrative directory on a Debian host.
pub const DEFAULT_ADMIN: &str = "/var/lib/dpkg";

/// The dpkg admin directory consulted: `$BERTH_DPKG_ADMIN` (tests point it at a fake
/// database), else [`DEFAULT_ADMIN`].
pub fn admin_dir() -> PathBuf {
    std::env::var_os(crate::env::BERTH_DPKG_ADMIN)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ADMIN))
}

/// Who owns the host's directories, as far as the host tells.
#[derive(Debug)]
pub struct Owners {
    /// dpkg's owners of each directory looked up; None on a host without dpkg.
    dpkg: Option<BTreeMap<PathBuf, BTreeSet<String>>>,
    admin: PathBuf,
}

impl Owners {
    /// Reads `<admin>/info/*.list` once, keeping only the owners of `wanted` (absolute).
    pub fn read(admin: &Path, wanted: &BTreeSet<PathBuf>) -> Result<Owners, Error> {
        let info = admin.join("info");
        let rd = match std::fs::read_dir(&info) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Owners {
                    dpkg: None,
                    admin: admin.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("read directory", info, e)),
        };
        let lookup: HashSet<&[u8]> = wanted.iter().map(|p| p.as_os_str().as_bytes()).collect();
        let mut owners: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
        for ent in rd {
            let ent = ent.ctx("read directory", &info)?;
            let file = ent.file_name();
            let Some(stem) = file.to_str().and_then(|n| n.strip_suffix(".list")) else {
                continue;
            };
            // `libc6:amd64.list` names package libc6.
            let package = stem.split(':').next().unwrap_or(stem);
            let text = match std::fs::read(ent.path()) {
                Ok(t) => t,
                Err(e) => {
                    // The host's database is not ours to judge: count what can be read.
                    tracing::warn!(
                        "{}: cannot read ({e}); its paths are not counted",
                        ent.path().display()
                    );
                    continue;
                }
            };
            for line in text.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"/").unwrap_or(line);
                if lookup.contains(line) {
                    owners
                        .entry(PathBuf::from(OsStr::from_bytes(line)))
                        .or_default()
                        .insert(package.to_string());
                }
            }
        }
        Ok(Owners {
            dpkg: Some(owners),
            admin: admin.to_path_buf(),
        })
    }

    /// Why the directory known by `names` (absolute: as packaged and as on the host) is the
    /// profile's packages' (`ours`: their names); None when it is shared with the host.
    pub fn why_ours(&self, names: &[PathBuf], ours: &BTreeSet<String>) -> Option<String> {
        if names
            .iter()
            .any(|n| fhs_shared(n.strip_prefix("/").unwrap_or(n)))
        {
            return None;
        }
        let Some(db) = &self.dpkg else {
            return Some(format!(
                "the host has no dpkg database ({}/info), and it is not one of the FHS's \
                 shared directories",
                self.admin.display()
            ));
        };
        let owners: BTreeSet<&String> = names.iter().filter_map(|n| db.get(n)).flatten().collect();
        let others: Vec<&str> = owners
            .iter()
            .filter(|o| !ours.contains(o.as_str()))
            .map(|o| o.as_str())
            .collect();
        if !others.is_empty() {
            tracing::debug!(
                "{} stays shared with the host: dpkg says {} also own it",
                names[0].display(),
                others.join(", ")
            );
            return None;
        }
        let names: Vec<&str> = owners.iter().map(|o| o.as_str()).collect();
        Some(match names.len() {
            0 => "no host package owns it".to_string(),
            1 => format!(
                "on the host only {} owns it, a package of the profile's",
                names[0]
            ),
            _ => format!(
                "on the host only {} own it, packages of the profile's",
                names.join(", ")
            ),
        })
    }
}

/// The overlays of the directories that are the packages' alone: the topmost such directory
/// of each subtree that also exists on the host (elsewhere there is nothing to hide), not
/// at or under a bind. `tops` and `targets`: each top-level name's layers and host target.
pub(super) fn overlays(
    tops: &BTreeMap<String, Vec<Layer>>,
    targets: &BTreeMap<String, PathBuf>,
    binds: &[Bind],
    admin: &Path,
    ours: &BTreeSet<String>,
) -> Result<Vec<Overlay>, Error> {
    let mut candidates: Vec<(&str, &Path, PathBuf)> = Vec::new();
    for (top, layers) in tops {
        let Some(target) = targets.get(top) else {
            continue;
        };
        let mut dirs = BTreeSet::new();
        for l in layers {
            dirs_below(&l.dir, Path::new(""), &mut dirs)?;
        }
        candidates.extend(
            dirs.into_iter()
                .map(|d| (top.as_str(), target.as_path(), d)),
        );
    }
    let names_of = |top: &str, target: &Path, under: &Path| -> Vec<PathBuf> {
        let mut v = vec![Path::new("/").join(top).join(under), target.join(under)];
        v.dedup();
        v
    };
    let wanted: BTreeSet<PathBuf> = candidates
        .iter()
        .flat_map(|(top, target, under)| names_of(top, target, under))
        .collect();
    let owners = Owners::read(admin, &wanted)?;
    let bound: Vec<&Path> = binds
        .iter()
        .map(|b| b.target.strip_prefix("/").unwrap_or(&b.target))
        .collect();
    let mut out: Vec<Overlay> = Vec::new();
    for (top, target, under) in candidates {
        let rel = Path::new(top).join(&under);
        if out.iter().any(|o| rel.starts_with(&o.top)) || bound.iter().any(|b| rel.starts_with(b)) {
            continue;
        }
        let host_dir = target.join(&under);
        if !std::fs::symlink_metadata(&host_dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Some(why) = owners.why_ours(&names_of(top, target, &under), ours) else {
            continue;
        };
        let layers: Vec<Layer> = tops[top]
            .iter()
            .filter(|l| std::fs::symlink_metadata(l.dir.join(&under)).is_ok_and(|m| m.is_dir()))
            .map(|l| Layer {
                dir: l.dir.join(&under),
                package: l.package.clone(),
            })
            .collect();
        let who: Vec<&str> = layers.iter().map(|l| l.package.as_str()).collect();
        tracing::info!(
            "{} is the package's ({why}): it shows {} only, the host's files there are hidden",
            host_dir.display(),
            who.join(", ")
        );
        out.push(Overlay {
            top: rel.to_string_lossy().into_owned(),
            target: host_dir,
            layers,
            mount_points: false,
            over_host: false,
        });
    }
    Ok(out)
}

/// Every directory below `base/rel` (not through symlinks), relative to `base`. Names that
/// are not UTF-8 are left out (they stay merged with the host).
fn dirs_below(base: &Path, rel: &Path, out: &mut BTreeSet<PathBuf>) -> Result<(), Error> {
    let dir = base.join(rel);
    for ent in std::fs::read_dir(&dir).ctx("read directory", &dir)? {
        let ent = ent.ctx("read directory", &dir)?;
        if !ent.file_type().ctx("stat", ent.path())?.is_dir() || ent.file_name().to_str().is_none()
        {
            continue;
        }
        let p = rel.join(ent.file_name());
        dirs_below(base, &p, out)?;
        out.insert(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_lists_say_who_owns_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let info = d.path().join("info");
        std::fs::create_dir(&info).unwrap();
        std::fs::write(
            info.join("nginx-common.list"),
            "/.\n/etc\n/etc/nginx\n/srv/x\n",
        )
        .unwrap();
        std::fs::write(info.join("other:amd64.list"), "/.\n/srv/x\n/srv/x/shared\n").unwrap();
        let wanted: BTreeSet<PathBuf> = ["/etc/nginx", "/srv/x", "/srv/x/shared", "/srv/x/own"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let o = Owners::read(d.path(), &wanted).unwrap();
        let ours: BTreeSet<String> = ["nginx-common".to_string()].into();
        let why = |p: &str| o.why_ours(&[PathBuf::from(p)], &ours);
        assert!(why("/etc/nginx").unwrap().contains("nginx-common"));
        assert_eq!(why("/srv/x"), None, "other owns it too");
        assert_eq!(why("/srv/x/shared"), None);
        assert_eq!(why("/srv/x/own").unwrap(), "no host package owns it");
        let none = Owners::read(&d.path().join("missing"), &wanted).unwrap();
        assert!(none
            .why_ours(&[PathBuf::from("/etc/nginx")], &ours)
            .is_some());
        assert!(none
            .why_ours(&[PathBuf::from("/etc/default")], &ours)
            .is_none());
    }
}
