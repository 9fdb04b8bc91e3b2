//! Building one generation: `pkgs/<name>` links to store entries, the merged tree folded like
//! GNU Stow (one link per directory only one package provides, real directories only where
//! packages meet), exported commands under `bin/`, and `generation.toml`. The whole plan is
//! computed first, so a path conflict is reported before anything is written; the tree is
//! then written under `.build-*`, made durable and renamed to its number.

use super::generation::{GenPackage, Generation, Profiles, GENERATION_TOML};
use crate::error::{Error, Result};
use crate::fsutil::{temp_name, Dir, Kind};
use crate::lock::LockedFile;
use crate::root::{DIR_MODE, FILE_MODE, GENERATIONS};
use crate::store::{Entry, Store};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Names at the top of a generation that belong to berth, not to packages.
pub const PKGS: &str = "pkgs";
const BIN: &str = berth_shim::BIN_DIR;
const RESERVED: [&str; 4] = [GENERATION_TOML, PKGS, BIN, ".berth"];

/// One package of the generation to build, with its store entry.
pub struct Member<'a> {
    /// Its record in `generation.toml`.
    pub package: GenPackage,
    /// The installed entry.
    pub entry: &'a Entry,
    /// The entry's open directory.
    pub dir: Dir,
}

impl<'a> Member<'a> {
    /// The member for an entry.
    pub fn new(store: &Store, entry: &'a Entry) -> Result<Self> {
        Ok(Member {
            package: GenPackage {
                name: entry.name().to_string(),
                version: entry.version().to_string(),
                id: entry.id().to_string(),
            },
            dir: store.open_entry(entry)?,
            entry,
        })
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
    /// Commands that reach their file only through an absolute symlink of the package.
    host_links: Vec<HostLink>,
}

/// A command of `bin/` that leads through an absolute symlink of its package (a native
/// package's `usr/bin/x -> /usr/lib/x/run`): inside `run --isolate` it resolves in the
/// package's view, but through the shim or the merged tree it resolves on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    /// The command's name.
    pub command: String,
    /// The package that provides it.
    pub package: String,
}

impl HostLink {
    /// The warning `use` prints.
    pub fn warning(&self) -> String {
        format!(
            "command `{}` of {} goes through an absolute symlink: outside `run --isolate` it \
             resolves on the host, not in the package",
            self.command, self.package
        )
    }
}

impl Plan {
    /// Commands exported through an absolute symlink, in name order.
    pub fn host_links(&self) -> &[HostLink] {
        &self.host_links
    }
}

/// Plans the merged tree and `bin/` of `members` (sorted by name). A path two packages
/// provide is an error naming both, unless one of them is in `prefer` (earlier wins).
pub fn plan(members: &[Member], prefer: &[String]) -> Result<Plan> {
    let all: Vec<usize> = (0..members.len()).collect();
    let top = plan_dir(members, prefer, Path::new(""), &all)?;
    let (bin, host_links) = plan_bin(members, prefer)?;
    Ok(Plan {
        top,
        bin,
        host_links,
    })
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
        let rel_str = rel.to_string_lossy();
        let ents = if rel_str.is_empty() {
            members[i].dir.entries()?
        } else {
            members[i].dir.entries_of(&rel_str)?
        };
        for ent in ents {
            let name = ent.name;
            if rel.as_os_str().is_empty() && RESERVED.iter().any(|r| OsStr::new(r) == name) {
                continue;
            }
            names
                .entry(name)
                .or_default()
                .push((i, ent.kind == Kind::Dir));
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

type Bin = (BTreeMap<OsString, PathBuf>, Vec<HostLink>);

fn plan_bin(members: &[Member], prefer: &[String]) -> Result<Bin> {
    // name -> (package index, link target, through an absolute link)
    let mut cmds: BTreeMap<OsString, Vec<(usize, PathBuf, bool)>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for d in &m.entry.manifest.exports.bin {
            let ents = match m.dir.entries_of(d) {
                Ok(e) => e,
                Err(Error::NotADirectoryInRoot { .. }) => continue,
                Err(e) => return Err(e),
            };
            for ent in ents {
                let name = ent.name;
                if name.as_encoded_bytes().starts_with(b".") {
                    continue;
                }
                // Follows links inside the entry: a command is whatever ends at an
                // executable file of the package.
                let rel = format!("{d}/{}", name.to_string_lossy());
                // A native package's absolute link is still its command: it ends at the
                // package's own file when the entry is taken as `/` (its isolated view).
                let host = if m.dir.is_executable_beneath(&rel) {
                    false
                } else if m.dir.is_executable_in_root(&rel) {
                    true
                } else {
                    continue;
                };
                let target = Path::new("..")
                    .join(PKGS)
                    .join(&m.package.name)
                    .join(d)
                    .join(&name);
                let list = cmds.entry(name).or_default();
                if !list.iter().any(|(j, _, _)| *j == i) {
                    list.push((i, target, host));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    let mut host_links = Vec::new();
    for (name, mut who) in cmds {
        let (i, chosen, host) = if who.len() == 1 {
            who.remove(0)
        } else {
            let idx: Vec<usize> = who.iter().map(|(i, _, _)| *i).collect();
            let w = winner(members, prefer, &Path::new(BIN).join(&name), &idx)?;
            who.into_iter()
                .find(|(i, _, _)| *i == w)
                .unwrap_or_default()
        };
        if host {
            host_links.push(HostLink {
                command: name.to_string_lossy().into_owned(),
                package: members[i].entry.spec(),
            });
        }
        out.insert(name, chosen);
    }
    Ok((out, host_links))
}

/// Writes a planned generation as `generations/<profile>/<gen.number>`. Nothing appears
/// under the number unless complete and durable.
pub fn write(
    profiles: &Profiles,
    _lock: &LockedFile,
    profile: &str,
    gen: &Generation,
    members: &[Member],
    plan: &Plan,
) -> Result<()> {
    let root = profiles.root().dir();
    let gens = root.ensure_dir(GENERATIONS, DIR_MODE)?;
    let new_profile = gens.stat(profile)?.is_none();
    let dir = gens.ensure_dir(profile, DIR_MODE)?;
    let build = temp_name(&gen.number.to_string());
    let result = (|| {
        dir.create_dir(&build, DIR_MODE)?;
        let b = dir.open_dir(&build)?;
        let text = toml::to_string(gen).map_err(|e| Error::Internal {
            what: "generation record",
            detail: e.to_string(),
        })?;
        // Everything is written first and fsynced after: on a journaling filesystem the
        // first fsync commits every change so far and the others find nothing to do,
        // where an fsync after each directory cost one journal commit each. The build
        // directory is private until its rename, so its record needs no atomic write.
        let record = b
            .create_file(GENERATION_TOML, FILE_MODE)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, text.as_bytes())?;
                // Exactly FILE_MODE, whatever the umask.
                rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(FILE_MODE))?;
                Ok(f)
            })
            .map_err(|e| Error::io("write", b.join(GENERATION_TOML), e))?;
        b.create_dir(PKGS, DIR_MODE)?;
        let pkgs = b.open_dir(PKGS)?;
        for m in members {
            let target = Path::new("../../../../store").join(m.entry.dir_name());
            pkgs.symlink(&target, &m.package.name)?;
        }
        b.create_dir(BIN, DIR_MODE)?;
        let bin = b.open_dir(BIN)?;
        for (name, target) in &plan.bin {
            bin.symlink(target, &name.to_string_lossy())?;
        }
        let mut dirs = vec![pkgs, bin];
        write_tree(&b, &plan.top, &mut dirs)?;
        record
            .sync_all()
            .map_err(|e| Error::io("fsync", b.join(GENERATION_TOML), e))?;
        for d in &dirs {
            d.fsync()?;
        }
        b.fsync()?;
        dir.rename_noreplace(&build, &dir, &gen.number.to_string())?;
        dir.fsync()?;
        if new_profile {
            gens.fsync()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = crate::fsutil::remove_tree(&dir, &build);
    }
    result
}

fn write_tree(dir: &Dir, nodes: &BTreeMap<OsString, Node>, opened: &mut Vec<Dir>) -> Result<()> {
    for (name, node) in nodes {
        let name = name.to_string_lossy();
        match node {
            Node::Link(target) => dir.symlink(target, &name)?,
            Node::Dir(children) => {
                dir.create_dir(&name, DIR_MODE)?;
                let sub = dir.open_dir(&name)?;
                write_tree(&sub, children, opened)?;
                opened.push(sub);
            }
        }
    }
    Ok(())
}
