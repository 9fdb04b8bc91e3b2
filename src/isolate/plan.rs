//! What an isolated run mounts, computed before anything is touched: for each top-level
//! directory the profile's packages provide (`usr`, `etc`, `opt` …), a read-only overlay of
//! those packages' trees (in the profile's precedence) over the host's directory, the mount
//! points that config and writable binds need, and the binds themselves. Below those, one
//! overlay without the host per directory that is the packages' alone ([`super::owned`]).

pub use super::entries::{load_entries, order};
use super::error::{Ctx, Error};
pub use super::layers::{Bind, Layer, Overlay};
use crate::store::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level directories that are never overlaid: they hold kernel interfaces or scratch
/// space that must stay the host's (and writable).
const NEVER_OVERLAID: [&str; 5] = ["dev", "proc", "sys", "run", "tmp"];

/// Everything an isolated run mounts.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Overlays, parents before children.
    pub overlays: Vec<Overlay>,
    /// Binds, parents before children.
    pub binds: Vec<Bind>,
    /// Mount points to create in the mount-point layer: (path relative to `/`, is a dir).
    pub mount_points: Vec<(PathBuf, bool)>,
    /// The store, bound read-only onto itself.
    pub store: PathBuf,
    /// Where the mount-point layer (a tmpfs private to the namespace) is mounted.
    pub mount_point_dir: PathBuf,
}

/// Plans the mounts for `entries` (in precedence order) and `binds`. `host` is the host's
/// root directory (`/`); the host's dpkg database is `$BERTH_DPKG_ADMIN` or /var/lib/dpkg.
pub fn plan(
    entries: &[Entry],
    binds: Vec<Bind>,
    store: &Path,
    mount_point_dir: &Path,
    host: &Path,
) -> Result<Plan, Error> {
    let dirs = Dirs {
        store,
        mount_point_dir,
        host,
        dpkg_admin: &super::owned::admin_dir(),
    };
    plan_in(entries, binds, &dirs)
}

/// Where a plan looks: the store, the mount-point layer, the host's root and its dpkg
/// admin directory (whose `info/*.list` say which directories other packages own).
#[derive(Debug, Clone, Copy)]
pub struct Dirs<'a> {
    /// The store, bound read-only onto itself.
    pub store: &'a Path,
    /// Where the mount-point layer goes.
    pub mount_point_dir: &'a Path,
    /// The host's root directory (`/`).
    pub host: &'a Path,
    /// dpkg's admin directory (`/var/lib/dpkg`).
    pub dpkg_admin: &'a Path,
}

/// [`plan`] with every directory it looks at given.
pub fn plan_in(entries: &[Entry], binds: Vec<Bind>, dirs: &Dirs) -> Result<Plan, Error> {
    let host = dirs.host;
    for b in &binds {
        let rel = b.target.strip_prefix("/").unwrap_or(&b.target);
        if NEVER_OVERLAID.contains(&first(rel).as_str()) {
            return Err(Error::Reserved {
                what: format!("{} {} of {}", b.what, rel.display(), b.package),
                path: b.target.clone(),
            });
        }
    }
    let mut tops = layers_by_top(entries, &binds)?;
    check_binds(&binds)?;
    let mut targets = BTreeMap::new();
    for (top, layers) in &tops {
        targets.insert(top.clone(), host_target(top, layers, host)?);
    }
    let ours: BTreeSet<String> = entries.iter().map(|e| e.name().to_string()).collect();
    let mut owned = super::owned::overlays(&tops, &targets, &binds, dirs.dpkg_admin, &ours)?;
    let mount_points = missing_targets(&binds, &tops, host, &owned)?;
    let needs_points: Vec<String> = mount_points.iter().map(|(p, _)| first(p)).collect();
    for name in needs_points.iter() {
        tops.entry(name.clone()).or_default();
    }
    let mut overlays = Vec::new();
    for (top, layers) in tops {
        let target = match targets.remove(&top) {
            Some(t) => t,
            None => host_target(&top, &layers, host)?,
        };
        overlays.push(Overlay {
            mount_points: needs_points.contains(&top),
            top,
            target,
            layers,
            over_host: true,
        });
    }
    for o in &mut owned {
        o.mount_points = mount_points.iter().any(|(p, _)| p.starts_with(&o.top));
    }
    overlays.extend(owned);
    // Parents before children: /etc, then /etc/nginx over it.
    overlays.sort_by(|a, b| a.target.cmp(&b.target));
    store_outside_layers(&overlays, dirs.store)?;
    let mut binds = binds;
    binds.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(Plan {
        overlays,
        binds,
        mount_points,
        store: dirs.store.to_path_buf(),
        mount_point_dir: dirs.mount_point_dir.to_path_buf(),
    })
}

/// Adds an overlay with no package layer for each of `tops` the host has and the plan
/// lacks (a confined run writes over `/var` even when no package ships anything there).
pub fn add_tops(plan: &mut Plan, tops: &[&str], host: &Path) -> Result<(), Error> {
    for top in tops {
        if plan.overlays.iter().any(|o| o.top == *top) || !host.join(top).is_dir() {
            continue;
        }
        let target = host_target(top, &[], host)?;
        if plan.overlays.iter().any(|o| o.target == target) {
            continue;
        }
        plan.overlays.push(Overlay {
            top: top.to_string(),
            target,
            layers: vec![],
            mount_points: false,
            over_host: true,
        });
    }
    plan.overlays.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(())
}

/// Package layers per top-level name, in precedence order. Trees that hold only a
/// package's config and writable paths get no layer: those are bound from the root.
fn layers_by_top(entries: &[Entry], binds: &[Bind]) -> Result<BTreeMap<String, Vec<Layer>>, Error> {
    let mut tops: BTreeMap<String, Vec<Layer>> = BTreeMap::new();
    for e in entries {
        let covered: Vec<PathBuf> = binds
            .iter()
            .filter(|b| b.package == e.spec())
            .map(|b| {
                b.target
                    .strip_prefix("/")
                    .unwrap_or(&b.target)
                    .to_path_buf()
            })
            .collect();
        for (name, is_dir) in top_names(e.path())? {
            if !is_dir {
                tracing::warn!(
                    "{}: `{name}` at the top of the package is not a directory, so it is not \
                     shown inside the namespace (only directories are overlaid)",
                    e.spec()
                );
                continue;
            }
            let layer = tops.entry(name.clone()).or_default();
            // A tree holding only config and writable paths needs no layer: those are bound
            // from the root. (This also keeps /var free of layers when the root is there.)
            if has_unbound_content(e.path(), Path::new(&name), &covered)? {
                layer.push(Layer {
                    dir: e.path().join(&name),
                    package: e.spec(),
                });
            }
        }
    }
    tops.retain(|_, layers| !layers.is_empty());
    Ok(tops)
}

/// overlayfs refuses a layer inside another one (ELOOP): a package layer over the directory
/// that holds the store cannot work, so it is refused with what to do instead.
fn store_outside_layers(overlays: &[Overlay], store: &Path) -> Result<(), Error> {
    for o in overlays {
        if let (Some(l), true) = (o.layers.first(), store.starts_with(&o.target)) {
            return Err(Error::NoMountPoint {
                what: format!("{}/ of {}", o.top, l.package),
                path: o.target.clone(),
                why: format!(
                    "the store ({}) is inside it, and overlayfs refuses layers inside one another",
                    store.display()
                ),
                hint: format!(
                    "use a root outside {} (--root /srv/berth), or declare the package's files there as [[config]] or [[writable]]",
                    o.target.display()
                ),
            });
        }
    }
    Ok(())
}

/// The names at the top of an entry (without `.berth`), and whether each is a directory.
fn top_names(entry: &Path) -> Result<Vec<(String, bool)>, Error> {
    let mut out = Vec::new();
    // By path like the overlay lowerdirs it plans: `entry` was loaded through the store's
    // dir handle (`load_entries`); read-only, before the namespace is entered.
    for ent in std::fs::read_dir(entry).ctx("read directory", entry)? {
        let ent = ent.ctx("read directory", entry)?;
        let Some(name) = ent.file_name().to_str().map(str::to_string) else {
            tracing::warn!(
                "{}: skipping a top-level name that is not UTF-8",
                entry.display()
            );
            continue;
        };
        if name == ".berth" {
            continue;
        }
        let is_dir = ent.file_type().ctx("stat", ent.path())?.is_dir();
        out.push((name, is_dir));
    }
    out.sort();
    Ok(out)
}

/// Whether `rel` (a directory of the entry at `entry`) holds anything not covered by the
/// bind paths `covered` (relative to the package root).
fn has_unbound_content(entry: &Path, rel: &Path, covered: &[PathBuf]) -> Result<bool, Error> {
    let dir = entry.join(rel);
    for ent in std::fs::read_dir(&dir).ctx("read directory", &dir)? {
        let ent = ent.ctx("read directory", &dir)?;
        let p = rel.join(ent.file_name());
        if covered.iter().any(|c| p.starts_with(c)) {
            continue;
        }
        let leads_to_bind = covered.iter().any(|c| c.starts_with(&p));
        let is_dir = ent.file_type().ctx("stat", ent.path())?.is_dir();
        if !(is_dir && leads_to_bind) || has_unbound_content(entry, &p, covered)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first component of a relative path.
fn first(rel: &Path) -> String {
    rel.components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Two packages binding onto one path would hide one of them: refused.
fn check_binds(binds: &[Bind]) -> Result<(), Error> {
    let mut seen: BTreeMap<&Path, &Bind> = BTreeMap::new();
    for b in binds {
        if let Some(other) = seen.insert(&b.target, b) {
            return Err(Error::PathClaimedTwice {
                path: b.target.display().to_string(),
                what: b.what,
                first: other.package.clone(),
                second: b.package.clone(),
            });
        }
    }
    Ok(())
}

/// Where the overlay of `top` goes on the host: `/top`, or where the host's `/top` link
/// points (merged /usr: `/bin` -> `/usr/bin`). Said at `-v`, never done silently.
fn host_target(top: &str, layers: &[Layer], host: &Path) -> Result<PathBuf, Error> {
    let path = host.join(top);
    let who = || {
        let names: Vec<&str> = layers.iter().map(|l| l.package.as_str()).collect();
        if names.is_empty() {
            format!("{top}/ (mount points for config and writable paths)")
        } else {
            format!("{top}/ of {}", names.join(", "))
        }
    };
    if NEVER_OVERLAID.contains(&top) {
        return Err(Error::Reserved { what: who(), path });
    }
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NoMountPoint {
            what: who(),
            path: path.clone(),
            why: "the host has no such directory, and berth changes nothing outside its root"
                .into(),
            hint: format!("create it on the host (`mkdir {}`)", path.display()),
        }),
        Err(e) => Err(Error::io("stat", path, e)),
        Ok(m) if m.file_type().is_symlink() => {
            let real = std::fs::canonicalize(&path).ctx("resolve", &path)?;
            if !real.is_dir() {
                return Err(not_a_dir(who(), path));
            }
            tracing::info!(
                "{} is overlaid on {} (the host's {} links there)",
                who(),
                real.display(),
                path.display()
            );
            Ok(real)
        }
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(not_a_dir(who(), path)),
    }
}

fn not_a_dir(what: String, path: PathBuf) -> Error {
    Error::NoMountPoint {
        what,
        path,
        why: "it is not a directory on the host".into(),
        hint: "move those files elsewhere in the package".into(),
    }
}

/// Bind targets that exist neither in a package nor on the host: they get a mount point in
/// the mount-point layer. Their existing ancestors must be real directories (a mount-point
/// directory over a host symlink would hide the link). Under a directory that is the
/// packages' alone (`owned`) the host's files do not count: they are hidden.
fn missing_targets(
    binds: &[Bind],
    tops: &BTreeMap<String, Vec<Layer>>,
    host: &Path,
    owned: &[Overlay],
) -> Result<Vec<(PathBuf, bool)>, Error> {
    let mut out = Vec::new();
    for b in binds {
        let rel = b
            .target
            .strip_prefix("/")
            .unwrap_or(&b.target)
            .to_path_buf();
        let top = first(&rel);
        let layers = tops.get(&top).map(Vec::as_slice).unwrap_or_default();
        let inside = |p: &Path| -> Option<std::fs::Metadata> {
            let under = p.strip_prefix(&top).ok()?;
            layers
                .iter()
                .find_map(|l| std::fs::symlink_metadata(l.dir.join(under)).ok())
                .or_else(|| match owned.iter().any(|o| p.starts_with(&o.top)) {
                    true => None,
                    false => std::fs::symlink_metadata(host.join(p)).ok(),
                })
        };
        if inside(&rel).is_some() {
            continue;
        }
        for anc in rel.ancestors().skip(1) {
            if anc.as_os_str().is_empty() || anc == Path::new(&top) {
                continue;
            }
            if let Some(m) = inside(anc) {
                if !m.is_dir() {
                    return Err(Error::NoMountPoint {
                        what: format!("{} {} of {}", b.what, rel.display(), b.package),
                        path: host.join(anc),
                        why: "that path is a symlink or a file, not a directory".into(),
                        hint: "declare the path the link points to instead".into(),
                    });
                }
            }
        }
        out.push((rel, b.dir));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_config_and_writable_content_needs_no_layer() {
        let d = tempfile::tempdir().unwrap();
        for f in ["var/lib/app/seed", "etc/app/app.conf", "etc/app/extra.d/x"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let covered = [
            PathBuf::from("var/lib/app"),
            PathBuf::from("etc/app/app.conf"),
        ];
        assert!(!has_unbound_content(d.path(), Path::new("var"), &covered).unwrap());
        // extra.d/ is not bound: etc/ needs its layer.
        assert!(has_unbound_content(d.path(), Path::new("etc"), &covered).unwrap());
        std::fs::create_dir_all(d.path().join("var/log/app")).unwrap();
        assert!(has_unbound_content(d.path(), Path::new("var"), &covered).unwrap());
    }
}
