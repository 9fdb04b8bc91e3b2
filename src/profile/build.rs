//! Building one generation: `pkgs/<name>` links to store entries, the merged tree folded like
//! GNU Stow (one link per directory only one package provides, real directories only where
//! packages meet), exported commands under `bin/`, and `generation.toml`. The whole plan is
//! computed first, so a path conflict is reported before anything is written; the tree is
//! then written under `.build-*`, made durable and renamed to its number.

use super::generation::{GenPackage, Generation, Profiles};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::store::{Entry, LockedFile};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static BUILD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Names at the top of a generation that belong to berth, not to packages.
const GENERATION_TOML: &str = "generation.toml";
const PKGS: &str = "pkgs";
const BIN: &str = berth_shim::BIN_DIR;
const RESERVED: [&str; 4] = [GENERATION_TOML, PKGS, BIN, ".berth"];

/// One package of the generation to build, with its store entry.
pub struct Member<'a> {
    /// Its record in `generation.toml`.
    pub package: GenPackage,
    /// The installed entry.
    pub entry: &'a Entry,
}

impl<'a> Member<'a> {
    /// The member for an entry.
    pub fn new(entry: &'a Entry) -> Self {
        Member {
            package: GenPackage {
                name: entry.name().to_string(),
                version: entry.version().to_string(),
                id: entry.id().to_string(),
            },
            entry,
        }
    }
}

/// What to create at one name of the merged tree.
enum Node {
    /// A relative symlink.
    Link(PathBuf),
    /// A real directory where packages meet.
    Dir(BTreeMap<OsString, Node>),
}

/// A generation's contents, computed without writing anything.
pub struct Plan {
    top: BTreeMap<OsString, Node>,
    bin: BTreeMap<OsString, PathBuf>,
}

/// Plans the merged tree and `bin/` of `members` (sorted by name). A path two packages
/// provide is an error naming both, unless one of them is in `prefer` (earlier wins).
pub fn plan(members: &[Member], prefer: &[String]) -> Result<Plan> {
    let all: Vec<usize> = (0..members.len()).collect();
    let top = plan_dir(members, prefer, Path::new(""), &all)?;
    let bin = plan_bin(members, prefer)?;
    Ok(Plan { top, bin })
}

/// Index of the package that wins among `who`, or the conflict error.
fn winner(members: &[Member], prefer: &[String], path: &Path, who: &[usize]) -> Result<usize> {
    prefer
        .iter()
        .find_map(|p| who.iter().copied().find(|&i| &members[i].package.name == p))
        .ok_or_else(|| Error::PathConflict {
            path: path.display().to_string(),
            first: members[who[0]].entry.spec(),
            second: members[who[1]].entry.spec(),
        })
}

fn plan_dir(
    members: &[Member],
    prefer: &[String],
    rel: &Path,
    providers: &[usize],
) -> Result<BTreeMap<OsString, Node>> {
    // name -> (package index, is a real directory)
    let mut names: BTreeMap<OsString, Vec<(usize, bool)>> = BTreeMap::new();
    for &i in providers {
        let dir = members[i].entry.path().join(rel);
        for ent in std::fs::read_dir(&dir).ctx("read directory", &dir)? {
            let ent = ent.ctx("read directory", &dir)?;
            let name = ent.file_name();
            if rel.as_os_str().is_empty() && RESERVED.iter().any(|r| OsStr::new(r) == name) {
                continue;
            }
            let is_dir = ent.file_type().ctx("stat", ent.path())?.is_dir();
            names.entry(name).or_default().push((i, is_dir));
        }
    }
    let depth = rel.components().count();
    let link_to = |i: usize, name: &OsStr| {
        let mut t = PathBuf::new();
        for _ in 0..depth {
            t.push("..");
        }
        t.push(PKGS);
        t.push(&members[i].package.name);
        t.push(rel);
        t.push(name);
        t
    };
    let mut out = BTreeMap::new();
    for (name, who) in names {
        let path = rel.join(&name);
        let node = if who.len() == 1 {
            Node::Link(link_to(who[0].0, &name))
        } else if who.iter().all(|&(_, d)| d) {
            let idx: Vec<usize> = who.iter().map(|&(i, _)| i).collect();
            Node::Dir(plan_dir(members, prefer, &path, &idx)?)
        } else {
            let idx: Vec<usize> = who.iter().map(|&(i, _)| i).collect();
            Node::Link(link_to(winner(members, prefer, &path, &idx)?, &name))
        };
        out.insert(name, node);
    }
    Ok(out)
}

fn plan_bin(members: &[Member], prefer: &[String]) -> Result<BTreeMap<OsString, PathBuf>> {
    let mut cmds: BTreeMap<OsString, Vec<(usize, PathBuf)>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for d in &m.entry.manifest.exports.bin {
            let dir = m.entry.path().join(d);
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(e) => return Err(Error::io("read directory", dir, e)),
            };
            for ent in rd {
                let ent = ent.ctx("read directory", &dir)?;
                let name = ent.file_name();
                if name.as_encoded_bytes().starts_with(b".") {
                    continue;
                }
                // Follows links: a command is whatever ends at an executable file.
                let Ok(meta) = std::fs::metadata(ent.path()) else {
                    continue;
                };
                if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
                    continue;
                }
                let target = Path::new("..")
                    .join(PKGS)
                    .join(&m.package.name)
                    .join(d)
                    .join(&name);
                let list = cmds.entry(name).or_default();
                if !list.iter().any(|(j, _)| *j == i) {
                    list.push((i, target));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (name, mut who) in cmds {
        let chosen = if who.len() == 1 {
            who.remove(0).1
        } else {
            let idx: Vec<usize> = who.iter().map(|(i, _)| *i).collect();
            let w = winner(members, prefer, &Path::new(BIN).join(&name), &idx)?;
            who.into_iter()
                .find(|(i, _)| *i == w)
                .map(|(_, t)| t)
                .unwrap_or_default()
        };
        out.insert(name, chosen);
    }
    Ok(out)
}

/// Writes a planned generation as `generations/<profile>/<gen.number>` and returns its
/// directory. Nothing appears under the number unless complete and durable.
pub fn write(
    profiles: &Profiles,
    _lock: &LockedFile,
    profile: &str,
    gen: &Generation,
    members: &[Member],
    plan: &Plan,
) -> Result<PathBuf> {
    let dir = profiles.dir(profile);
    let new_profile = !dir.exists();
    fsutil::create_dir_all(&dir)?;
    let build = dir.join(format!(
        ".build-{}-{}",
        std::process::id(),
        BUILD_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        mkdir(&build)?;
        let text = toml::to_string(gen).map_err(|e| Error::Other {
            message: format!("cannot encode generation {}: {e}", gen.number),
            hint: "this is a bug in berth".into(),
        })?;
        fsutil::atomic_write(&build.join(GENERATION_TOML), text.as_bytes())?;

        let pkgs = build.join(PKGS);
        mkdir(&pkgs)?;
        for m in members {
            let target = Path::new("../../../../store").join(m.entry.dir_name());
            symlink(&target, &pkgs.join(&m.package.name))?;
        }
        fsutil::fsync_dir(&pkgs)?;

        let bin = build.join(BIN);
        mkdir(&bin)?;
        for (name, target) in &plan.bin {
            symlink(target, &bin.join(name))?;
        }
        fsutil::fsync_dir(&bin)?;

        write_tree(&build, &plan.top)?;
        std::fs::rename(&build, profiles.generation_dir(profile, gen.number)).ctx(
            "rename into place",
            profiles.generation_dir(profile, gen.number),
        )?;
        fsutil::fsync_dir(&dir)?;
        if new_profile {
            fsutil::fsync_dir(&profiles.root().generations())?;
        }
        Ok(profiles.generation_dir(profile, gen.number))
    })();
    if result.is_err() {
        let _ = fsutil::remove_tree(&build);
    }
    result
}

fn write_tree(dir: &Path, nodes: &BTreeMap<OsString, Node>) -> Result<()> {
    for (name, node) in nodes {
        let path = dir.join(name);
        match node {
            Node::Link(target) => symlink(target, &path)?,
            Node::Dir(children) => {
                mkdir(&path)?;
                write_tree(&path, children)?;
            }
        }
    }
    fsutil::fsync_dir(dir)
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir(path).ctx("create directory", path)
}

fn symlink(target: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).ctx("create symlink", link)
}

/// Removes what crashed runs left: `generations/<profile>/.build-*` and temporary links in
/// `profiles/` (a switch killed between creating its new link and renaming it). Needs the
/// lock: only a lock holder builds or switches.
pub fn clean_leftovers(profiles: &Profiles, _lock: &LockedFile) -> Result<()> {
    let mut dirs: Vec<PathBuf> = profiles.list()?.iter().map(|p| profiles.dir(p)).collect();
    dirs.push(profiles.root().profiles());
    for dir in dirs {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read directory", dir, e)),
        };
        for ent in rd {
            let ent = ent.ctx("read directory", &dir)?;
            let name = ent.file_name();
            let name = name.as_encoded_bytes();
            if name.starts_with(b".build-")
                || (name.starts_with(b".") && name.windows(5).any(|w| w == b".tmp."))
            {
                fsutil::remove_tree(&ent.path())?;
            }
        }
    }
    Ok(())
}
