//! `berth check`: composes each module's own checks (the store, the profiles, and what
//! apply, repo and isolate leave in `etc/`, `var/`, `cache/` and `run/`) into one report,
//! and each module's own repairs; the root's top level it checks against the names it
//! assembles from each owner. It knows none of their names itself.

use crate::error::Result;
use crate::fsutil::is_temp;
use crate::lock::LockedFile;
use crate::problem::{Kind, Problem};
use crate::profile::Profiles;
use crate::root::Root;
use crate::store::verify::Depth;
use crate::store::Store;
use serde::Serialize;
use std::path::PathBuf;

/// Every name berth itself may create at the top of a root, assembled from each owner
/// (the root's own, the store's and the profiles', repo's, apply's and isolate's);
/// `check` reports anything else, and opening a root checks the owner and mode of these.
pub fn known_names() -> Vec<&'static str> {
    [
        crate::root::ROOT_NAMES,
        crate::repo::ROOT_NAMES,
        crate::apply::layout::ROOT_NAMES,
        crate::isolate::ROOT_NAMES,
    ]
    .concat()
}

/// How much was looked at.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checked {
    /// Profiles.
    pub profiles: usize,
    /// Generations.
    pub generations: usize,
    /// Store entries.
    pub entries: usize,
    /// Pool objects.
    pub objects: usize,
}

/// What `berth check` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No problem remains.
    pub ok: bool,
    /// How much was looked at.
    pub checked: Checked,
    /// The problems that remain.
    pub problems: Vec<Problem>,
    /// What `--repair` removed or fixed.
    pub repaired: Vec<PathBuf>,
}

/// `berth check` on the root at `path`: opened even when others can write it (that is one
/// of the problems it reports, and `repair` tightens it), under its lock (waiting at most
/// `lock_timeout`), so staging and trash are leftovers rather than work in progress.
pub fn check_root(
    path: &std::path::Path,
    lock_timeout: Option<std::time::Duration>,
    depth: Depth,
    repair_too: bool,
) -> Result<Report> {
    let root = Root::create_unchecked(path)?;
    let lock = LockedFile::acquire(root.dir(), lock_timeout)?;
    Store::create(&root, &lock)?;
    let (mut problems, mut checked) = check(&root, &lock, depth)?;
    let repaired = if repair_too {
        repair(&root, &lock, &problems)?
    } else {
        vec![]
    };
    if repair_too && !problems.is_empty() {
        // What is left is what a fresh check finds: a repair can uncover a problem (a
        // planted link removed from the pool leaves its entry's object missing), and
        // one that looked repairable may have stayed.
        (problems, checked) = check(&root, &lock, depth)?;
    }
    Ok(Report {
        ok: problems.is_empty(),
        checked,
        problems,
        repaired,
    })
}

/// Runs every check. The caller holds the lock, so staging and trash are leftovers, not
/// work in progress.
pub fn check(root: &Root, lock: &LockedFile, depth: Depth) -> Result<(Vec<Problem>, Checked)> {
    let store = Store::open(root)?;
    let profiles = Profiles::new(root);
    let mut out = check_top(root)?;
    let (p, sc, entry_names) = store.check(lock, depth)?;
    out.extend(p);
    let (p, pc) = profiles.check(lock, &entry_names)?;
    out.extend(p);
    out.extend(crate::apply::check::check(root, lock)?);
    out.extend(crate::repo::check::check(root, lock)?);
    out.extend(crate::isolate::hold::check(root, lock)?);
    out.sort_by(|a, b| (a.kind.to_string(), &a.path).cmp(&(b.kind.to_string(), &b.path)));
    let checked = Checked {
        profiles: pc.profiles,
        generations: pc.generations,
        entries: sc.entries,
        objects: sc.objects,
    };
    Ok((out, checked))
}

/// Fixes the repairable problems, each module its own; returns what it changed.
pub fn repair(root: &Root, lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
    let store = Store::open(root)?;
    let profiles = Profiles::new(root);
    let mut done = Vec::new();
    let (top, rest): (Vec<Problem>, Vec<Problem>) = problems
        .iter()
        .cloned()
        .partition(|p| p.path.parent() == Some(root.path()) || p.path == root.path());
    for p in &top {
        let name = p
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match p.kind {
            Kind::Leftover => {
                crate::fsutil::remove_tree(root.dir(), &name)?;
                done.push(p.path.clone());
            }
            Kind::Permissions => {
                let rel = if p.path == root.path() {
                    ".".to_string()
                } else {
                    name
                };
                if let Some(st) = root.dir().stat(&rel)? {
                    let _ = root.dir().chmod(&rel, st.st_mode & 0o7755);
                    done.push(p.path.clone());
                }
            }
            _ => {}
        }
    }
    let in_store = |p: &&Problem| p.path.starts_with(root.path().join(crate::root::STORE));
    let (s, o): (Vec<Problem>, Vec<Problem>) = rest.into_iter().partition(|p| in_store(&p));
    done.extend(crate::apply::check::repair(root, lock, &o)?);
    done.extend(crate::repo::check::repair(root, lock, &o)?);
    done.extend(crate::isolate::hold::repair(root, lock, &o)?);
    done.extend(profiles.repair(lock, &o)?);
    done.extend(store.repair(lock, &s)?);
    Ok(done)
}

/// The root's top level: known names only, no temporary files, nothing writable by others.
fn check_top(root: &Root) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    let me = rustix::process::geteuid().as_raw();
    let st = root.dir().stat_self()?;
    if let Some(p) = crate::root::permission_problem(&st, me) {
        out.push(Problem::permissions(root.path(), p));
    }
    let known = known_names();
    for ent in root.dir().entries()? {
        let name = ent.name.to_string_lossy().into_owned();
        let path = root.path().join(&name);
        if is_temp(&name) {
            out.push(Problem::leftover(path, "temporary file"));
        } else if !known.contains(&name.as_str()) {
            out.push(Problem::stray(path, "file in the root"));
        } else if ent.kind == crate::fsutil::Kind::Symlink {
            out.push(Problem::new(
                Kind::Stray,
                path,
                "is a symlink; berth refuses to follow it",
                "replace it with a real directory",
            ));
        } else if let Some(st) = root.dir().stat(&name)? {
            if let Some(p) = crate::root::permission_problem(&st, me) {
                out.push(Problem::permissions(path, p));
            }
        }
    }
    Ok(out)
}
