//! The store's own part of `berth check`: every entry complete and as installed, every pool
//! object a regular file whose content matches its name, nothing orphaned or missing, no
//! leftovers, nothing writable by others; and the repairs that are safe without a choice.

use super::object_pool::ObjectPool;
use super::verify::Depth;
use super::{Entry, Store, OBJECTS, PINS, STAGING, TRASH};
use crate::error::Result;
use crate::fsutil::{is_temp, Dir, Kind};
use crate::lock::LockedFile;
use crate::package::listing::Record;
use crate::problem::{Kind as P, Problem};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What the store's check looked at.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checked {
    /// Store entries.
    pub entries: usize,
    /// Pool objects.
    pub objects: usize,
}

/// A directory berth owns: a problem if others can write it.
fn mode_of_dir(dir: &Dir, out: &mut Vec<Problem>) {
    let me = rustix::process::geteuid().as_raw();
    if let Ok(st) = dir.stat_self() {
        if let Some(p) = crate::root::permission_problem(&st, me) {
            out.push(Problem::permissions(dir.path(), p));
        }
    }
}

impl Store {
    /// Runs the store's checks. The caller holds the lock, so staging and trash hold
    /// leftovers, not work in progress.
    pub fn check(
        &self,
        _lock: &LockedFile,
        depth: Depth,
    ) -> Result<(Vec<Problem>, Checked, BTreeSet<String>)> {
        let mut out = Vec::new();
        let mut checked = Checked::default();
        let Some(store) = self.dir() else {
            return Ok((out, checked, BTreeSet::new()));
        };
        mode_of_dir(store, &mut out);
        let names = self.check_store_dir(store, &mut out)?;
        let mut entries = Vec::new();
        for n in &names {
            match Entry::load(store, n) {
                Ok(e) => entries.push(e),
                Err(e) => out.push(Problem::new(
                    P::CorruptEntry,
                    store.join(n),
                    e.to_string(),
                    "rebuild it from its artifact: `berth install --repair FILE`",
                )),
            }
        }
        checked.entries = entries.len();
        for e in &entries {
            for p in self.verify_entry(e, depth) {
                out.push(Problem::new(
                    P::ModifiedEntry,
                    e.path().join(&p.path),
                    format!("{}: {} ({})", p.package, p.detail, p.kind),
                    format!(
                        "rebuild {} from its artifact: `berth install --repair FILE`",
                        p.package
                    ),
                ));
            }
        }
        checked.objects = self.check_objects(store, &entries, depth, &mut out)?;
        self.check_pins(store, &names, &mut out)?;
        Ok((out, checked, names))
    }

    /// `store/`: entries, `.objects`, `.staging`, `.trash`, `.pins`. Returns the entry names.
    fn check_store_dir(&self, store: &Dir, out: &mut Vec<Problem>) -> Result<BTreeSet<String>> {
        let mut entries = BTreeSet::new();
        for ent in store.entries()? {
            let name = ent.name.to_string_lossy().into_owned();
            let path = store.join(&name);
            match (name.as_str(), ent.kind) {
                (OBJECTS | PINS, Kind::Dir) => {}
                (STAGING | TRASH, Kind::Dir) => {
                    let what = if name == STAGING {
                        "unfinished install"
                    } else {
                        "half-deleted entry"
                    };
                    for child in store.entries_of(&name)? {
                        out.push(Problem::leftover(path.join(&child.name), what));
                    }
                }
                (n, _) if is_temp(n) => out.push(Problem::leftover(path, "temporary file")),
                (n, Kind::Dir) if !n.starts_with('.') => {
                    entries.insert(n.to_string());
                }
                (_, Kind::Symlink) => out.push(Problem::stray(path, "symlink in store/")),
                _ => out.push(Problem::stray(path, "file in store/")),
            }
        }
        Ok(entries)
    }

    fn check_pins(
        &self,
        store: &Dir,
        names: &BTreeSet<String>,
        out: &mut Vec<Problem>,
    ) -> Result<()> {
        let Some(pins) = store.open_dir_opt(PINS)? else {
            return Ok(());
        };
        mode_of_dir(&pins, out);
        for ent in pins.entries()? {
            let name = ent.name.to_string_lossy().into_owned();
            if is_temp(&name) {
                out.push(Problem::leftover(pins.join(&name), "temporary file"));
            } else if !names.contains(&name) {
                out.push(Problem::new(
                    P::MissingEntry,
                    pins.join(&name),
                    format!("pin of {name}, which is not in the store"),
                    format!("reinstall it, or `berth unpin {name}`"),
                ));
            }
        }
        Ok(())
    }

    /// Pool objects: names parse, regular files with the store's mode, content hashes to
    /// the name (full depth), nothing orphaned, and every pooled file of every entry has
    /// its object.
    fn check_objects(
        &self,
        store: &Dir,
        entries: &[Entry],
        depth: Depth,
        out: &mut Vec<Problem>,
    ) -> Result<usize> {
        let Some(pool) = ObjectPool::open_existing(store)? else {
            return Ok(0);
        };
        mode_of_dir(pool.dir(), out);
        for s in pool.dir().entries()? {
            let name = s.name.to_string_lossy();
            if s.kind != Kind::Dir
                || name.len() != 2
                || !name.chars().all(|c| c.is_ascii_hexdigit())
            {
                out.push(Problem::stray(
                    pool.dir().join(&s.name),
                    "file in the object pool",
                ));
            }
        }
        let objects = pool.objects()?;
        let found: Vec<Problem> = objects
            .par_iter()
            .filter_map(|(rel, st)| check_object(&pool, rel, st, depth))
            .collect();
        out.extend(found);
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for e in entries {
            let Ok(dir) = self.open_entry(e) else {
                continue;
            };
            let Ok(list) = e.file_list(&dir) else {
                continue;
            };
            for rec in list.records.values() {
                if let Record::File { mode, size, sha256 } = rec {
                    if *size > 0 {
                        wanted
                            .entry(ObjectPool::rel(sha256, *mode))
                            .or_insert_with(|| e.spec());
                    }
                }
            }
        }
        let missing: Vec<Problem> = wanted
            .par_iter()
            .filter(|(rel, _)| !matches!(pool.dir().stat(rel), Ok(Some(_))))
            .map(|(rel, spec)| {
                Problem::new(
                    P::MissingObject,
                    pool.dir().join(rel),
                    format!(
                        "object of a file of {spec} (and maybe others) is missing from the pool"
                    ),
                    format!("rebuild {spec} from its artifact: `berth install --repair FILE`"),
                )
            })
            .collect();
        out.extend(missing);
        Ok(objects.len())
    }

    /// Fixes what is safe without a choice: leftovers, objects no entry links or that are
    /// not regular files (never linked by a legitimate entry), and loose modes.
    pub fn repair(&self, lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        let Some(store) = self.dir() else {
            return Ok(done);
        };
        if problems.iter().any(|p| p.kind == P::Leftover) {
            self.clean_leftovers(lock)?;
            done.extend(
                problems
                    .iter()
                    .filter(|p| p.kind == P::Leftover)
                    .map(|p| p.path.clone()),
            );
        }
        if let Some(pool) = ObjectPool::open_existing(store)? {
            for p in problems
                .iter()
                .filter(|p| p.kind == P::CorruptObject && p.repairable)
            {
                if let Ok(rel) = p.path.strip_prefix(pool.dir().path()) {
                    crate::fsutil::remove_tree(pool.dir(), &rel.to_string_lossy())?;
                    done.push(p.path.clone());
                }
            }
        }
        for p in problems.iter().filter(|p| p.kind == P::Permissions) {
            if let Ok(rel) = p.path.strip_prefix(self.root().path()) {
                let rel = rel.to_string_lossy();
                if let Some(st) = self.root().dir().stat(&rel)? {
                    let _ = self.root().dir().chmod(&rel, st.st_mode & 0o7755);
                    done.push(p.path.clone());
                }
            }
        }
        done.extend(self.remove_orphan_objects(lock)?);
        Ok(done)
    }
}

fn check_object(
    pool: &ObjectPool,
    rel: &str,
    st: &crate::fsutil::Stat,
    depth: Depth,
) -> Option<Problem> {
    let path = pool.dir().join(rel);
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if is_temp(name) {
        return Some(Problem::leftover(path, "temporary file"));
    }
    let Some((sha, want)) = ObjectPool::parse_name(rel) else {
        return Some(Problem::stray(path, "file in the object pool"));
    };
    if crate::fsutil::dir::kind_of(st) != Kind::File {
        return Some(
            Problem::new(
                P::CorruptObject,
                path,
                "not a regular file (a link or device planted in the pool)",
                "`berth check --repair` removes it; no entry can use it",
            )
            .repairable(),
        );
    }
    if st.st_nlink == 1 {
        return Some(
            Problem::new(
                P::OrphanObject,
                path,
                "no entry links this object",
                "`berth check --repair` or `berth gc` removes it",
            )
            .repairable(),
        );
    }
    let want = want.bits();
    let mode = st.st_mode & 0o7777;
    if mode != want {
        return Some(Problem::new(
            P::CorruptObject,
            path,
            format!("mode {mode:o}, expected {want:o}"),
            "rebuild the packages that use it (`berth install --repair FILE`)",
        ));
    }
    if depth == Depth::Full {
        match super::verify::hash_file(pool.dir(), rel) {
            Ok(h) if h == sha => {}
            Ok(h) => {
                return Some(Problem::new(
                    P::CorruptObject,
                    path,
                    format!("content hashes to {}", hex::encode(h)),
                    "rebuild the packages that use it (`berth verify` names them; `berth install --repair FILE`)",
                ))
            }
            Err(e) => {
                return Some(Problem::new(P::CorruptObject, path, format!("cannot read: {e}"), "check the disk"))
            }
        }
    }
    None
}
