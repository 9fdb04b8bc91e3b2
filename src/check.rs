//! `berth check`: verifies the invariants of DESIGN.md over a whole root and says, for every
//! problem, where it is and what to do. Repair is deliberately narrow: only leftovers of
//! interrupted runs, dangling shims and orphan objects are removed, because nothing else
//! can be fixed without a choice only the operator can make.

use crate::error::Result;
use crate::fsutil::children;
use crate::profile::Profiles;
use crate::root::Root;
use crate::store::object_pool::ObjectPool;
use crate::store::remove::pool_objects;
use crate::store::verify::{hash_file, verify_entry, Depth};
use crate::store::{Entry, LockedFile, Store};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One violated invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `dangling-profile-link`, `bad-generation`, `missing-entry`, `bad-package-link`,
    /// `modified-entry`, `corrupt-entry`, `missing-object`, `corrupt-object`,
    /// `orphan-object`, `leftover`, `dangling-shim`, `stray`.
    pub kind: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
    /// What to do.
    pub hint: String,
    /// Whether `check --repair` fixes it.
    pub repairable: bool,
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

/// Runs every check. The caller holds the lock, so staging and trash are leftovers, not
/// work in progress.
pub fn check(root: &Root, _lock: &LockedFile, depth: Depth) -> Result<(Vec<Problem>, Checked)> {
    let store = Store::new(root);
    let profiles = Profiles::new(root);
    let mut out = Vec::new();
    let mut checked = Checked::default();
    let entry_dirs = check_store_dir(root, &mut out)?;
    let entries = load_entries(root, &entry_dirs, &mut out);
    checked.entries = entries.len();
    check_generations(root, &profiles, &entry_dirs, &mut out, &mut checked)?;
    check_profile_links(root, &profiles, &mut out)?;
    check_pins(root, &store, &entry_dirs, &mut out)?;
    check_entries(&entries, depth, &mut out);
    checked.objects = check_objects(root, &entries, depth, &mut out)?;
    check_shims(root, &profiles, &mut out)?;
    check_root_dir(root, &mut out)?;
    out.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    Ok((out, checked))
}

/// Fixes the repairable problems: leftovers, dangling shims, then every orphan object
/// (removing leftovers can orphan more). Returns what was removed.
pub fn repair(root: &Root, lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
    let store = Store::new(root);
    let profiles = Profiles::new(root);
    let mut done = Vec::new();
    let fixable = |p: &&Problem| p.repairable && p.kind != "orphan-object";
    if problems
        .iter()
        .filter(fixable)
        .any(|p| p.kind == "leftover")
    {
        // Each module clears its own leftovers (under the lock they are all stale).
        store.clean_leftovers(lock)?;
        profiles.clean_leftovers(lock)?;
    }
    for p in problems.iter().filter(fixable) {
        // Temporary files of interrupted atomic writes and dangling shim links remain.
        crate::fsutil::remove_tree(&p.path)?;
        done.push(p.path.clone());
    }
    done.extend(store.remove_orphan_objects(lock)?);
    Ok(done)
}

fn problem(
    kind: &'static str,
    path: impl Into<PathBuf>,
    detail: impl Into<String>,
    hint: impl Into<String>,
) -> Problem {
    Problem {
        kind,
        path: path.into(),
        detail: detail.into(),
        hint: hint.into(),
        repairable: matches!(kind, "leftover" | "dangling-shim" | "orphan-object"),
    }
}

fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp.")
}

fn leftover(path: PathBuf, what: &str) -> Problem {
    problem(
        "leftover",
        path,
        format!("{what} left by an interrupted command"),
        "`berth check --repair` or `berth gc` removes it",
    )
}

fn stray(path: PathBuf, what: &str) -> Problem {
    problem(
        "stray",
        path,
        format!("{what} that berth did not create"),
        "move it out of the berth root; berth never writes or reads it",
    )
}

/// `store/`: entries, `.objects`, `.staging`, `.trash`, `.pins`. Returns the entry names.
fn check_store_dir(root: &Root, out: &mut Vec<Problem>) -> Result<BTreeSet<String>> {
    let mut entries = BTreeSet::new();
    for path in children(&root.store())? {
        let name = file_name(&path);
        match name.as_str() {
            ".objects" | ".pins" => {}
            ".staging" => out.extend(
                children(&path)?
                    .into_iter()
                    .map(|p| leftover(p, "unfinished install")),
            ),
            ".trash" => out.extend(
                children(&path)?
                    .into_iter()
                    .map(|p| leftover(p, "half-deleted entry")),
            ),
            n if is_temp(n) => out.push(leftover(path, "temporary file")),
            n if !n.starts_with('.') && path.is_dir() && !path.is_symlink() => {
                entries.insert(n.to_string());
            }
            _ => out.push(stray(path, "file in store/")),
        }
    }
    Ok(entries)
}

fn load_entries(root: &Root, names: &BTreeSet<String>, out: &mut Vec<Problem>) -> Vec<Entry> {
    let mut v = Vec::new();
    for n in names {
        let path = root.store().join(n);
        match Entry::load(&path) {
            Ok(e) => v.push(e),
            Err(e) => out.push(problem(
                "corrupt-entry",
                path,
                e.to_string(),
                "reinstall the package from its artifact (`berth remove`, then `berth install`)",
            )),
        }
    }
    v
}

fn check_generations(
    root: &Root,
    profiles: &Profiles,
    entry_dirs: &BTreeSet<String>,
    out: &mut Vec<Problem>,
    checked: &mut Checked,
) -> Result<()> {
    for path in children(&root.generations())? {
        let name = file_name(&path);
        if is_temp(&name) {
            out.push(leftover(path, "temporary file"));
            continue;
        }
        if name.starts_with('.') || !path.is_dir() {
            out.push(stray(path, "file in generations/"));
            continue;
        }
        checked.profiles += 1;
        let p = name;
        for child in children(&profiles.dir(&p))? {
            let n = file_name(&child);
            if n.parse::<u64>().is_ok() || n == "policy.toml" {
                continue;
            }
            if n.starts_with(".trash-") {
                out.push(leftover(child, "half-deleted generation"));
            } else if n.starts_with(".build-") {
                out.push(leftover(child, "unfinished generation"));
            } else if is_temp(&n) {
                out.push(leftover(child, "temporary file"));
            } else {
                out.push(stray(child, "file in a profile's generations"));
            }
        }
        for n in profiles.numbers(&p)? {
            checked.generations += 1;
            let gdir = profiles.generation_dir(&p, n);
            let g = match profiles.read(&p, n) {
                Ok(g) => g,
                Err(e) => {
                    out.push(problem(
                        "bad-generation",
                        gdir.join("generation.toml"),
                        e.to_string(),
                        format!("switch {p} to another generation, then delete this one (`berth generations {p} --delete {n}`)"),
                    ));
                    continue;
                }
            };
            for pkg in &g.packages {
                let entry = pkg.entry_dir();
                if !entry_dirs.contains(&entry) {
                    out.push(problem(
                        "missing-entry",
                        root.store().join(&entry),
                        format!(
                            "generation {p}/{n} references {}@{}, which is not in the store",
                            pkg.name, pkg.version
                        ),
                        format!(
                            "reinstall {}@{} from the same artifact (same content, same id)",
                            pkg.name, pkg.version
                        ),
                    ));
                    continue;
                }
                let link = gdir.join("pkgs").join(&pkg.name);
                let ok = std::fs::read_link(&link).ok().is_some_and(|t| {
                    t.file_name().and_then(|f| f.to_str()) == Some(entry.as_str())
                }) && link.is_dir();
                if !ok {
                    out.push(problem(
                        "bad-package-link",
                        link,
                        format!("should link to store/{entry}"),
                        format!(
                            "switch {p} to a new generation (`berth use`) so the tree is rebuilt"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_profile_links(root: &Root, profiles: &Profiles, out: &mut Vec<Problem>) -> Result<()> {
    for path in children(&root.profiles())? {
        let name = file_name(&path);
        if is_temp(&name) {
            out.push(leftover(path, "temporary link"));
            continue;
        }
        if !path.is_symlink() {
            out.push(stray(path, "non-link in profiles/"));
            continue;
        }
        let complete = profiles.current(&name).ok().flatten().is_some_and(|n| {
            profiles
                .generation_dir(&name, n)
                .join("generation.toml")
                .is_file()
        }) && path.join("generation.toml").is_file();
        if !complete {
            let target = std::fs::read_link(&path).unwrap_or_default();
            out.push(problem(
                "dangling-profile-link",
                path,
                format!("points to {}, which is not a complete generation", target.display()),
                format!("`berth generations {name}` lists what exists; switch to one of them (`berth switch {name} N`)"),
            ));
        }
    }
    Ok(())
}

fn check_pins(
    root: &Root,
    store: &Store,
    entry_dirs: &BTreeSet<String>,
    out: &mut Vec<Problem>,
) -> Result<()> {
    for pin in store.pins()? {
        if !entry_dirs.contains(&pin) {
            out.push(problem(
                "missing-entry",
                root.pins().join(&pin),
                format!("pin of {pin}, which is not in the store"),
                format!("reinstall it, or `berth unpin {pin}`"),
            ));
        }
    }
    for p in children(&root.pins())? {
        if is_temp(&file_name(&p)) {
            out.push(leftover(p, "temporary file"));
        }
    }
    Ok(())
}

fn check_entries(entries: &[Entry], depth: Depth, out: &mut Vec<Problem>) {
    for e in entries {
        for p in verify_entry(e, depth) {
            out.push(problem(
                "modified-entry",
                e.path().join(&p.path),
                format!("{}: {} ({})", p.package, p.detail, p.kind),
                format!(
                    "reinstall {} from its artifact (`berth remove`, then `berth install`)",
                    p.package
                ),
            ));
        }
    }
}

/// Pool objects: names parse, content hashes to the name (full depth), nothing orphaned,
/// and every pooled file of every entry has its object.
fn check_objects(
    root: &Root,
    entries: &[Entry],
    depth: Depth,
    out: &mut Vec<Problem>,
) -> Result<usize> {
    let dir = root.objects();
    if !dir.is_dir() {
        return Ok(0);
    }
    let pool = ObjectPool::open(dir.clone())?;
    for s in children(&dir)? {
        let name = file_name(&s);
        if !s.is_dir() || name.len() != 2 || !name.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push(stray(s, "file in the object pool"));
        }
    }
    let objects = pool_objects(&dir)?;
    let found: Vec<Problem> = objects
        .par_iter()
        .filter_map(|(path, m)| {
            let shard = path.parent().map(file_name).unwrap_or_default();
            let name = file_name(path);
            if is_temp(&name) {
                return Some(leftover(path.clone(), "temporary file"));
            }
            let Some((sha, exec)) = ObjectPool::parse_name(&shard, &name) else {
                return Some(stray(path.clone(), "file in the object pool"));
            };
            if m.nlink() == 1 {
                return Some(problem(
                    "orphan-object",
                    path.clone(),
                    "no entry links this object",
                    "`berth check --repair` or `berth gc` removes it",
                ));
            }
            let want = if exec { 0o555 } else { 0o444 };
            let mode = m.permissions().mode() & 0o7777;
            if mode != want {
                return Some(problem(
                    "corrupt-object",
                    path.clone(),
                    format!("mode {mode:o}, expected {want:o}"),
                    "reinstall the packages that use it",
                ));
            }
            if depth == Depth::Full {
                match hash_file(path) {
                    Ok(h) if h == sha => {}
                    Ok(h) => {
                        return Some(problem(
                            "corrupt-object",
                            path.clone(),
                            format!("content hashes to {}", hex::encode(h)),
                            "reinstall the packages that use it (`berth verify` names them)",
                        ))
                    }
                    Err(e) => {
                        return Some(problem(
                            "corrupt-object",
                            path.clone(),
                            format!("cannot read: {e}"),
                            "check the disk",
                        ))
                    }
                }
            }
            None
        })
        .collect();
    out.extend(found);
    let mut wanted: BTreeMap<PathBuf, String> = BTreeMap::new();
    for e in entries {
        let Ok(list) = e.file_list() else { continue };
        for rec in list.records.values() {
            if let crate::store::listing::Record::File { exec, size, sha256 } = rec {
                if *size > 0 {
                    wanted
                        .entry(pool.path(sha256, *exec))
                        .or_insert_with(|| e.spec());
                }
            }
        }
    }
    let missing: Vec<Problem> = wanted
        .par_iter()
        .filter(|(p, _)| std::fs::symlink_metadata(p).is_err())
        .map(|(p, spec)| {
            problem(
                "missing-object",
                p.clone(),
                format!("object of a file of {spec} (and maybe others) is missing from the pool"),
                format!("reinstall {spec} from its artifact so its files are pooled again"),
            )
        })
        .collect();
    out.extend(missing);
    Ok(objects.len())
}

/// A shim is dangling when its link does not lead to the shim binary, or when no
/// profile's current generation has the command it stands for.
fn check_shims(root: &Root, profiles: &Profiles, out: &mut Vec<Problem>) -> Result<()> {
    let shims = children(&root.shims())?;
    if shims.is_empty() {
        return Ok(());
    }
    let names = profiles.list()?;
    for s in shims {
        let exe = file_name(&s);
        if is_temp(&exe) {
            out.push(leftover(s, "temporary link"));
            continue;
        }
        // The link text, as the shim refresh writes it: `../libexec/berth-shim`.
        let to_binary = std::fs::read_link(&s).is_ok_and(|t| t == Path::new(SHIM_TARGET));
        let provided = names
            .iter()
            .any(|p| profiles.link(p).join("bin").join(&exe).exists());
        if !to_binary || !provided {
            let why = if !to_binary {
                "does not lead to libexec/berth-shim"
            } else {
                "no profile's current generation provides this command"
            };
            out.push(problem(
                "dangling-shim",
                s,
                why,
                "`berth check --repair` removes it",
            ));
        }
    }
    Ok(())
}

/// What every shim links to, relative to `shims/`.
const SHIM_TARGET: &str = "../libexec/berth-shim";

const ROOT_NAMES: &[&str] = &[
    ".lock",
    berth_shim::DEFAULT_PROFILE_FILE,
    "store",
    "generations",
    "profiles",
    "shims",
    "libexec",
    "etc",
    "var",
    "repos.toml",
    "repos",
    "config.toml",
    "keys",
    "cache",
];

fn check_root_dir(root: &Root, out: &mut Vec<Problem>) -> Result<()> {
    for p in children(root.path())? {
        let name = file_name(&p);
        if is_temp(&name) {
            out.push(leftover(p, "temporary file"));
        } else if !ROOT_NAMES.contains(&name.as_str()) {
            out.push(stray(p, "file in the root"));
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
