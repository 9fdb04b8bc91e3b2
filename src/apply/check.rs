//! What this module leaves in the root's `etc/` and `var/`, checked and repaired here so
//! that `berth check` only composes: each holds one directory per profile (never a link);
//! a temporary file in `etc/<profile>/` is a config write that was interrupted, and the
//! temporary directories of an interrupted data snapshot or restore are in `var/<profile>/`;
//! a switch a killed berth left in flight (awaiting its health check, or with a data
//! restore) is recorded in `etc/<profile>/.berth/pending.toml`, and repaired by finishing it
//! as the next switch of that profile would.

use super::layout::{ETC, VAR};
use super::{pending, snapshot};
use crate::error::Result;
use crate::fsutil::{remove_tree, temp_stem, Dir, Kind};
use crate::lock::LockedFile;
use crate::problem::{Kind as ProblemKind, Problem};
use crate::root::Root;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Problems in `etc/` and `var/`.
pub fn check(root: &Root, _lock: &LockedFile) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    for (profile, p) in pending::all(root)? {
        out.push(
            Problem::new(
                ProblemKind::Leftover,
                pending::path(root, &profile),
                format!(
                    "an interrupted {} of profile {profile} was not finished",
                    p.describe()
                ),
                "the next switch of the profile (or `berth check --repair`) finishes it: \
                 checks the new generation again or switches back, and undoes a data restore \
                 whose link never moved",
            )
            .repairable(),
        );
    }
    for top in [ETC, VAR] {
        let Some(dir) = root.dir().open_dir_opt(top)? else {
            continue;
        };
        for ent in dir.entries()? {
            let name = ent.name.to_string_lossy().into_owned();
            let path = root.path().join(top).join(&name);
            let profile = crate::package::name::check_name("profile name", &name).is_ok();
            match ent.kind {
                Kind::Symlink => out.push(Problem::new(
                    ProblemKind::Stray,
                    path,
                    "is a symlink; berth refuses to follow it",
                    "replace it with a real directory",
                )),
                Kind::Dir if profile && top == ETC => {
                    interrupted_writes(&dir.open_dir(&name)?, &mut out)?;
                    for (n, file) in super::rendered::missing(root, &name)? {
                        out.push(Problem::new(
                            ProblemKind::MissingRendering,
                            path.join(&file),
                            format!("the rendering generation {n} recorded for it is missing or damaged; a switch to generation {n} leaves the file as it is"),
                            format!("`berth apply` the profile file of generation {n} again, or delete that generation"),
                        ));
                    }
                }
                Kind::Dir if profile => {
                    for p in snapshot::leftovers(root, &name)? {
                        let what = "part of a data snapshot or restore";
                        out.push(Problem::leftover(p, what));
                    }
                }
                _ => out.push(Problem::stray(path, &format!("file in {top}/"))),
            }
        }
    }
    Ok(out)
}

/// Temporary files of interrupted atomic writes anywhere below `dir` (never following a
/// link).
fn interrupted_writes(dir: &Dir, out: &mut Vec<Problem>) -> Result<()> {
    for ent in dir.entries()? {
        let Some(name) = ent.name_str() else { continue };
        if temp_stem(name).is_some() {
            out.push(Problem::leftover(dir.join(name), "temporary file"));
        } else if ent.kind == Kind::Dir {
            interrupted_writes(&dir.open_dir(name)?, out)?;
        }
    }
    Ok(())
}

/// Repairs what [`check`] reported as leftovers: in `var/<profile>/` by cleaning up
/// after the interrupted snapshot or restore (which puts the data back), in `etc/` by
/// removing the temporary file. Returns the paths that went.
pub fn repair(root: &Root, lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
    let (etc, var) = (root.path().join(ETC), root.path().join(VAR));
    let mut done = Vec::new();
    let mut profiles = BTreeSet::new();
    let store = crate::store::Store::open(root)?;
    for (profile, _) in pending::all(root)? {
        let path = pending::path(root, &profile);
        if problems.iter().any(|p| p.repairable && p.path == path) {
            for note in super::deploy::finish(&store, lock, &profile)? {
                tracing::info!("{profile}: {note}");
            }
            done.push(path);
        }
    }
    for p in problems.iter().filter(|p| p.repairable) {
        if p.path.file_name().is_some_and(|n| n == "pending.toml") {
            continue;
        }
        if let Ok(rel) = p.path.strip_prefix(&var) {
            if let Some(first) = rel.components().next() {
                profiles.insert(first.as_os_str().to_string_lossy().into_owned());
                done.push(p.path.clone());
            }
        } else if let Ok(rel) = p.path.strip_prefix(&etc) {
            let rel = rel.to_string_lossy();
            let Some((parent, name)) = rel.rsplit_once('/') else {
                continue;
            };
            if temp_stem(name).is_none() {
                continue;
            }
            if let Some(d) = root.dir().open_dir_opt(&format!("{ETC}/{parent}"))? {
                remove_tree(&d, name)?;
                done.push(p.path.clone());
            }
        }
    }
    for profile in profiles {
        snapshot::clean_leftovers(root, lock, &profile)?;
    }
    Ok(done)
}
