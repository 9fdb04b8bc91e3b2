//! Sorting what one package's scripts wrote (its copy of the writable layer minus the one
//! before it) into its made entry: files under etc/ become `[[config]]`, directories made
//! or chown'ed under var/ become `[[writable]]` with owner and mode, users it added become
//! `[[user]]` records; whole-system state (passwd, group, the dpkg and ucf databases,
//! debconf's cache, the alternatives database, ld.so.cache) is never kept.

use super::records::{self, Call};
use crate::error::{Error, Result};
use crate::package::manifest::{PathEntry, UserRecord};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Paths (relative to `/`) never kept: whole-system state berth merges as records or
/// regenerates.
const NEVER_KEPT: [&str; 16] = [
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/gshadow",
    "etc/passwd-",
    "etc/group-",
    "etc/shadow-",
    "etc/gshadow-",
    "etc/ld.so.cache",
    "etc/alternatives",
    "var/lib/dpkg",
    "var/lib/ucf",
    "var/cache/debconf",
    "var/lib/systemd",
    "usr/sbin/policy-rc.d",
    "etc/.pwd.lock",
];

/// What a package's scripts made, ready for the store.
#[derive(Debug, Default)]
pub struct Sorted {
    /// `[[config]]`.
    pub config: Vec<PathEntry>,
    /// `[[writable]]`.
    pub writable: Vec<PathEntry>,
    /// `[[user]]`.
    pub users: Vec<UserRecord>,
    /// One line per thing kept, for the report.
    pub lines: Vec<String>,
    /// Paths (relative) to copy into the entry.
    pub keep: Vec<String>,
}

/// One file of a snapshot.
struct Seen {
    meta: std::fs::Metadata,
    full: PathBuf,
}

/// Every path of snapshot `snap` (its `<i>/…` trees mapped through `targets`), relative
/// to `/`.
fn listing(snap: &Path, targets: &[String]) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        let base = snap.join(i.to_string());
        let top = t.trim_start_matches('/');
        walk(&base, "", &mut |rel, meta, full| {
            out.insert(format!("{top}/{rel}"), Seen { meta, full });
        });
    }
    out
}

fn walk(base: &Path, rel: &str, f: &mut dyn FnMut(String, std::fs::Metadata, PathBuf)) {
    let Ok(rd) = std::fs::read_dir(base.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let full = base.join(&r);
        let Ok(m) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        let is_dir = m.is_dir();
        f(r.clone(), m, full);
        if is_dir {
            walk(base, &r, f);
        }
    }
}

fn same(a: &Seen, b: &Seen) -> bool {
    let (ma, mb) = (&a.meta, &b.meta);
    if ma.file_type() != mb.file_type()
        || ma.mode() != mb.mode()
        || ma.uid() != mb.uid()
        || ma.gid() != mb.gid()
    {
        return false;
    }
    if ma.file_type().is_symlink() {
        return std::fs::read_link(&a.full).ok() == std::fs::read_link(&b.full).ok();
    }
    if ma.is_file() {
        return ma.len() == mb.len() && std::fs::read(&a.full).ok() == std::fs::read(&b.full).ok();
    }
    true
}

fn never_kept(rel: &str) -> bool {
    NEVER_KEPT
        .iter()
        .any(|n| rel == *n || rel.starts_with(&format!("{n}/")))
}

/// Sorts snapshot `k` against `k - 1` (none for the first package) into `into` (a fresh
/// directory that becomes the entry's tree). `lower` says whether a path exists in the
/// view below the layer (a package of the set or the host); `calls` are the package's
/// recorded calls; `base` is the first host id of the range (as root).
pub fn sort(
    snap: &Path,
    prev: Option<&Path>,
    targets: &[String],
    lower: &dyn Fn(&str) -> Option<std::fs::Metadata>,
    calls: &[Call],
    base: Option<u32>,
    into: &Path,
) -> Result<Sorted> {
    let now = listing(snap, targets);
    let before = prev.map(|p| listing(p, targets)).unwrap_or_default();
    let owners = records::owners(calls);
    let names = id_names(&now);
    let mut out = Sorted::default();
    let mut new_dirs: Vec<String> = Vec::new();
    for (rel, s) in &now {
        if never_kept(rel) || before.get(rel).is_some_and(|b| same(b, s)) {
            continue;
        }
        let abs = format!("/{rel}");
        let rec = owners.get(&abs);
        // A copy of a store file (0444) is the owner's to edit, as dpkg would leave it.
        let mut mode = s.meta.permissions().mode() & 0o7777;
        if s.meta.is_file() {
            mode |= 0o200;
        }
        let owner = rec.and_then(|r| r.0.clone()).or_else(|| {
            let b = base?;
            let (u, g) = (s.meta.uid().checked_sub(b)?, s.meta.gid().checked_sub(b)?);
            if u == 0 && g == 0 {
                return None;
            }
            Some(format!(
                "{}:{}",
                names.0.get(&u).cloned().unwrap_or(u.to_string()),
                names.1.get(&g).cloned().unwrap_or(g.to_string())
            ))
        });
        let mode_s = rec
            .and_then(|r| r.1.clone())
            .unwrap_or(format!("{mode:04o}"));
        let low = lower(rel);
        if s.meta.is_dir() {
            if rel.starts_with("var/") {
                let is_new = low.is_none();
                let parent_new = new_dirs.iter().any(|d| rel.starts_with(&format!("{d}/")));
                if is_new {
                    new_dirs.push(rel.clone());
                }
                let changed = rec.is_some()
                    || low
                        .as_ref()
                        .is_some_and(|l| l.permissions().mode() & 0o7777 != mode && !is_new);
                if (is_new && !parent_new) || changed {
                    out.lines.push(format!(
                        "{abs} (writable, {} {mode_s})",
                        owner.as_deref().unwrap_or("root:root")
                    ));
                    out.writable.push(PathEntry {
                        path: rel.clone(),
                        owner: owner.clone(),
                        mode: Some(mode_s.clone()),
                    });
                    out.keep.push(rel.clone());
                }
            }
            continue;
        }
        if !(s.meta.is_file() || s.meta.file_type().is_symlink()) {
            continue;
        }
        copy(&s.full, &into.join(rel), &s.meta)?;
        out.keep.push(rel.clone());
        if s.meta.file_type().is_symlink() {
            let t = std::fs::read_link(&s.full).unwrap_or_default();
            out.lines.push(format!("{abs} -> {}", t.display()));
        } else if rel.starts_with("etc/") {
            let special = owner.is_some() || mode != 0o644;
            out.config.push(PathEntry {
                path: rel.clone(),
                owner: owner.clone(),
                mode: special.then(|| mode_s.clone()),
            });
            out.lines.push(match special {
                true => format!(
                    "{abs} (config, {} {mode_s})",
                    owner.as_deref().unwrap_or("root:root")
                ),
                false => format!("{abs} (config)"),
            });
        } else {
            out.lines.push(format!("{abs} (file)"));
        }
    }
    for d in &out.writable {
        let p = into.join(&d.path);
        std::fs::create_dir_all(&p).map_err(|e| Error::io("create directory", &p, e))?;
    }
    out.users = users(&now, &before);
    for u in &out.users {
        out.lines.push(format!(
            "user {} (uid {}, group {} gid {})",
            u.name, u.uid, u.group, u.gid
        ));
    }
    Ok(out)
}

fn copy(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    }
    if meta.file_type().is_symlink() {
        let t = std::fs::read_link(from).map_err(|e| Error::io("read link", from, e))?;
        std::os::unix::fs::symlink(t, to).map_err(|e| Error::io("link", to, e))
    } else {
        std::fs::copy(from, to).map_err(|e| Error::io("copy", from, e))?;
        std::fs::set_permissions(
            to,
            std::fs::Permissions::from_mode(meta.permissions().mode() & 0o755),
        )
        .map_err(|e| Error::io("chmod", to, e))
    }
}

/// Names of uids and gids (inside) from the layer's passwd and group, else the host's.
fn id_names(now: &BTreeMap<String, Seen>) -> (BTreeMap<u32, String>, BTreeMap<u32, String>) {
    let read = |rel: &str| {
        now.get(rel)
            .and_then(|s| std::fs::read_to_string(&s.full).ok())
            .or_else(|| std::fs::read_to_string(format!("/{rel}")).ok())
            .unwrap_or_default()
    };
    let parse = |text: String| {
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((f.get(2)?.parse().ok()?, f[0].to_string()))
            })
            .collect()
    };
    (parse(read("etc/passwd")), parse(read("etc/group")))
}

/// Users in the layer's passwd that neither the host's nor the previous snapshot's has.
fn users(now: &BTreeMap<String, Seen>, before: &BTreeMap<String, Seen>) -> Vec<UserRecord> {
    let text = |m: &BTreeMap<String, Seen>, rel: &str| {
        m.get(rel)
            .and_then(|s| std::fs::read_to_string(&s.full).ok())
    };
    let Some(passwd) = text(now, "etc/passwd") else {
        return vec![];
    };
    let host = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let old = text(before, "etc/passwd").unwrap_or(host);
    let known: Vec<&str> = old.lines().filter_map(|l| l.split(':').next()).collect();
    let groups = id_names(now).1;
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || known.contains(&f[0]) {
                return None;
            }
            let gid: u32 = f[3].parse().ok()?;
            Some(UserRecord {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                group: groups
                    .get(&gid)
                    .cloned()
                    .unwrap_or_else(|| f[0].to_string()),
                gid,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .filter(|u| crate::package::manifest::check_user_name(&u.name).is_ok())
        .collect()
}
