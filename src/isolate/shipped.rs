//! What a native package ships for running its service, read from its store entry: its
//! systemd units, its tmpfiles.d lines, and the directories it ships empty under var/lib,
//! var/log, var/cache and var/spool. From those come the writable state directories it
//! implies (kept per profile under the package's state name by `apply`) and the runtime
//! directories made in the profile's private /run before it starts. A path that would leave
//! /var or /run is refused, naming the file and line.

use super::error::Error;
use crate::error::Result;
use crate::fsutil::{Dir, Kind};
use crate::package::manifest::PathEntry;
use crate::package::tmpfiles::{self, TmpEntry, TMPFILES_DIR};
use crate::package::unit::{check_absolute, Unit, UnitError, UNIT_DIRS};
use crate::store::{Entry, Store};
use std::io::Read;

/// The directories under which an empty directory a package ships is its state.
const STATE_TOPS: [&str; 4] = ["var/lib", "var/log", "var/cache", "var/spool"];

/// Largest unit or tmpfiles.d file read (they are a few kilobytes).
const MAX_TEXT: u64 = 1 << 20;

/// A directory made in the profile's private /run before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDir {
    /// Relative to /run.
    pub path: String,
    /// Its mode.
    pub mode: u32,
    /// `user[:group]` inside, root when absent.
    pub owner: Option<String>,
}

/// What one entry ships for its service.
#[derive(Debug, Clone, Default)]
pub struct Shipped {
    /// Its units (templates like `x@.service` and units without ExecStart= left out).
    pub units: Vec<Unit>,
    /// Writable state it implies, relative to `/` (`var/lib/nginx`), with owner and mode
    /// where the unit or tmpfiles.d give them.
    pub state: Vec<PathEntry>,
    /// Runtime directories under /run.
    pub runtime: Vec<RuntimeDir>,
}

/// Reads what `e` ships. A native entry only: berth packages say all of it in their manifest.
pub fn read(store: &Store, e: &Entry) -> Result<Shipped> {
    let mut out = Shipped::default();
    if e.origin.format == "berth" {
        return Ok(out);
    }
    let pkg = store.open_entry(e)?;
    out.units = units(&pkg, e)?;
    for top in STATE_TOPS {
        if let Some(d) = pkg.open_dir_opt(top)? {
            empty_dirs(&d, top, &mut out.state)?;
        }
    }
    let units = std::mem::take(&mut out.units);
    for u in &units {
        unit_state(e, u, &mut out)?;
    }
    out.units = units;
    for (file, t) in tmpfile_lines(&pkg, e)? {
        tmpfile_state(e, &file, &t, &mut out)?;
    }
    Ok(out)
}

fn read_small(pkg: &Dir, rel: &str) -> Option<String> {
    let fd = pkg.open_following_beneath(rel, false)?;
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(MAX_TEXT)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// The entry's `.service` files, first directory of [`UNIT_DIRS`] winning on a name.
fn units(pkg: &Dir, e: &Entry) -> Result<Vec<Unit>> {
    let mut out: Vec<Unit> = Vec::new();
    for dir in UNIT_DIRS {
        let Some(d) = pkg.open_dir_opt(dir)? else {
            continue;
        };
        let mut names: Vec<String> = d
            .entries()?
            .into_iter()
            .filter(|x| x.kind == Kind::File)
            .filter_map(|x| x.name_str().map(str::to_string))
            .filter(|n| n.ends_with(".service") && !n.contains('@'))
            .collect();
        names.sort();
        for n in names {
            if out.iter().any(|u| u.file == n) {
                continue;
            }
            let Some(text) = read_small(pkg, &format!("{dir}/{n}")) else {
                continue;
            };
            match Unit::parse(&n, &text) {
                Ok(u) => out.push(u),
                Err(UnitError::NoExecStart { .. }) => {
                    tracing::debug!(
                        "{}: {n} has no ExecStart=, not a service berth runs",
                        e.spec()
                    );
                }
                Err(source) => {
                    return Err(Error::BadUnit {
                        package: e.spec(),
                        source: Box::new(source),
                    }
                    .into())
                }
            }
        }
    }
    Ok(out)
}

fn empty_dirs(d: &Dir, rel: &str, out: &mut Vec<PathEntry>) -> Result<()> {
    let ents = d.entries()?;
    if ents.is_empty() {
        out.push(PathEntry::plain(rel));
        return Ok(());
    }
    for x in ents {
        if x.kind != Kind::Dir {
            continue;
        }
        let Some(n) = x.name_str() else { continue };
        empty_dirs(&d.open_dir(n)?, &format!("{rel}/{n}"), out)?;
    }
    Ok(())
}

fn owner_of(user: Option<&str>, group: Option<&str>) -> Option<String> {
    match (user, group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => Some(format!("root:{g}")),
        (None, None) => None,
    }
}

/// A unit's State/Logs/CacheDirectory= and ReadWritePaths= under /var; RuntimeDirectory=.
fn unit_state(e: &Entry, u: &Unit, out: &mut Shipped) -> Result<()> {
    let owner = owner_of(u.user.as_deref(), u.group.as_deref());
    let mut add = |path: String| {
        if !out.state.iter().any(|p| p.path == path) {
            out.state.push(PathEntry {
                path,
                owner: owner.clone(),
                mode: None,
            });
        }
    };
    for (list, top) in [
        (&u.state_dirs, "var/lib"),
        (&u.logs_dirs, "var/log"),
        (&u.cache_dirs, "var/cache"),
    ] {
        for p in list {
            add(format!("{top}/{}", p.path));
        }
    }
    for p in &u.read_write {
        check_absolute(&p.path).map_err(|why| Error::UnitPath {
            package: e.spec(),
            file: format!("{}:{}", u.file, p.line),
            what: "ReadWritePaths",
            path: p.path.clone(),
            why,
        })?;
        // /var/run and /var/lock are /run's on Debian: the private /run has them.
        match p.path.strip_prefix("/var/") {
            Some(rest) if !rest.starts_with("run/") && !rest.starts_with("lock/") => {
                add(format!("var/{rest}"));
            }
            _ => tracing::debug!("{}: ReadWritePaths={} left to the view", u.file, p.path),
        }
    }
    for p in &u.runtime_dirs {
        if !out.runtime.iter().any(|r| r.path == p.path) {
            out.runtime.push(RuntimeDir {
                path: p.path.clone(),
                mode: u.runtime_mode,
                owner: owner.clone(),
            });
        }
    }
    Ok(())
}

/// Every `d`/`D`/`f` line of the entry's tmpfiles.d snippets, with its file's name.
fn tmpfile_lines(pkg: &Dir, e: &Entry) -> Result<Vec<(String, TmpEntry)>> {
    let Some(d) = pkg.open_dir_opt(TMPFILES_DIR)? else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = d
        .entries()?
        .into_iter()
        .filter_map(|x| x.name_str().map(str::to_string))
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let Some(text) = read_small(pkg, &format!("{TMPFILES_DIR}/{n}")) else {
            continue;
        };
        let lines = tmpfiles::parse(&n, &text).map_err(|source| Error::BadUnit {
            package: e.spec(),
            source: Box::new(source),
        })?;
        out.extend(lines.into_iter().map(|t| (n.clone(), t)));
    }
    Ok(out)
}

fn tmpfile_state(e: &Entry, file: &str, t: &TmpEntry, out: &mut Shipped) -> Result<()> {
    let owner = owner_of(t.user.as_deref(), t.group.as_deref());
    let mode = t.mode.map(|m| format!("{m:04o}"));
    let run = t
        .path
        .strip_prefix("/run/")
        .or_else(|| t.path.strip_prefix("/var/run/"));
    if let Some(rest) = run {
        if t.kind != 'f' && !out.runtime.iter().any(|r| r.path == rest) {
            out.runtime.push(RuntimeDir {
                path: rest.to_string(),
                mode: t.mode.unwrap_or(0o755),
                owner,
            });
        }
        return Ok(());
    }
    if let Some(rest) = t.path.strip_prefix("/var/") {
        if t.kind != 'f' && !out.state.iter().any(|p| p.path == format!("var/{rest}")) {
            out.state.push(PathEntry {
                path: format!("var/{rest}"),
                owner,
                mode,
            });
        }
        return Ok(());
    }
    if t.path.starts_with("/tmp/") {
        return Ok(());
    }
    Err(Error::UnitPath {
        package: e.spec(),
        file: format!("{file}:{}", t.line),
        what: "tmpfiles.d path",
        path: t.path.clone(),
        why: "is outside /var and /run, where berth makes a profile's state",
    }
    .into())
}
