//! Maintainer scripts run confined, and what they made becomes a store entry. When a
//! generation is built from a package set, every .deb of the set that carries `preinst` or
//! `postinst` has them run (`preinst install`, `postinst configure`: a fresh install,
//! always, so the result is a function of the set) in a sandbox of the profile's view;
//! what each package's scripts made becomes the entry `P+scripts` (`[made] for = "P"`),
//! which the generation holds beside P. The same set finds its made entries in the store
//! and runs nothing. Sits above profile, isolate and store; apply's switches call it.

mod made;
pub mod order;
pub mod records;
mod sandbox;
mod stubs;

use crate::error::Result;
use crate::lock::LockedFile;
use crate::package::manifest::{Made, Manifest, ScriptReport};
use crate::package::native::NativeOrigin;
use crate::profile::GenPackage;
use crate::store::{Entry, Store};
use sha2::Digest;

/// The suffix of a made entry's name.
pub const SUFFIX: &str = "+scripts";

/// Changes to the runner that change what it makes: part of every made entry's inputs.
const RUNNER: &str = "berth-scripts-1";

/// Most of a failed script's output kept in its report.
const OUTPUT_CAP: usize = 4000;

/// Whether `name` is a made entry's.
pub fn is_made(name: &str) -> bool {
    name.ends_with(SUFFIX)
}

/// The scripts an entry keeps (in run order) with their text.
fn kept(e: &Entry) -> Vec<(String, String)> {
    let Some(n) = NativeOrigin::of(&e.manifest).filter(|n| n.format == "deb") else {
        return vec![];
    };
    ["preinst", "postinst"]
        .iter()
        .filter_map(|s| Some((s.to_string(), n.script_text.get(*s)?.clone())))
        .collect()
}

/// A new set made whole: its existing made entries dropped (dropping P drops P+scripts),
/// the made entries of this set added (and preferred where they overlap their package);
/// with the warnings of scripts that failed.
pub fn complete_set(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    packages: Vec<GenPackage>,
) -> Result<(Vec<GenPackage>, Vec<String>, Vec<String>)> {
    let mut packages: Vec<GenPackage> =
        packages.into_iter().filter(|p| !is_made(&p.name)).collect();
    let (made, warnings) = made_for(store, lock, profile, &packages)?;
    let first = made.iter().map(|m| m.name.clone()).collect();
    packages.extend(made);
    Ok((packages, first, warnings))
}

/// The made entries for the set `packages` (made entries already stripped), with the
/// warnings of scripts that failed.
pub fn made_for(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    packages: &[GenPackage],
) -> Result<(Vec<GenPackage>, Vec<String>)> {
    let dirs: Vec<String> = packages.iter().map(GenPackage::entry_dir).collect();
    let entries = crate::isolate::plan::load_entries(store, &dirs, &[])?;
    let with: Vec<&Entry> = entries.iter().filter(|e| !kept(e).is_empty()).collect();
    if with.is_empty() {
        return Ok((vec![], vec![]));
    }
    let mut sorted_dirs = dirs.clone();
    sorted_dirs.sort();
    let inputs = hex::encode(sha2::Sha256::digest(
        format!("{RUNNER}\n{}\n", sorted_dirs.join("\n")).as_bytes(),
    ))[..32]
        .to_string();
    let found: Vec<Option<Entry>> = with
        .iter()
        .map(|e| find(store, e, &inputs))
        .collect::<Result<_>>()?;
    if found.iter().all(Option::is_some) {
        return Ok((
            found
                .into_iter()
                .flatten()
                .map(|e| gen_package(&e))
                .collect(),
            vec![],
        ));
    }
    let order: Vec<&Entry> = order::order(&with).into_iter().map(|i| with[i]).collect();
    let mut jobs = Vec::new();
    for (k, e) in order.iter().enumerate() {
        let arch = NativeOrigin::of(&e.manifest)
            .map(|n| n.architecture)
            .unwrap_or_default();
        for (script, text) in kept(e) {
            jobs.push(sandbox::Job {
                package: e.name().to_string(),
                arch: arch.clone(),
                script,
                text,
                index: k,
            });
        }
    }
    let view = crate::isolate::plan::order(entries.clone(), &[]);
    let ran = sandbox::run(store, lock, profile, &view, &jobs, order.len());
    let made = match ran {
        Ok(ran) => {
            let r = collect(store, lock, &order, &jobs, &ran, &entries, &inputs);
            ran.scratch.remove();
            r?
        }
        Err(e) => not_run(store, lock, &order, &jobs, &e.to_string())?,
    };
    let warnings = made
        .iter()
        .flat_map(|e| {
            let m = e.manifest.made.clone().unwrap_or_else(empty_made);
            m.scripts
                .into_iter()
                .filter(|s| s.status != "ok")
                .map(move |s| {
                    format!(
                        "{}: {} {}{}",
                        m.for_package,
                        s.script,
                        s.status,
                        tail(&s.output)
                    )
                })
        })
        .collect();
    Ok((made.iter().map(gen_package).collect(), warnings))
}

fn tail(output: &str) -> String {
    let last: Vec<&str> = output.lines().rev().take(3).collect();
    if last.is_empty() {
        return String::new();
    }
    let mut v = last;
    v.reverse();
    format!(": {}", v.join(" | "))
}

fn empty_made() -> Made {
    Made {
        for_package: String::new(),
        scripts: vec![],
        inputs: String::new(),
    }
}

fn gen_package(e: &Entry) -> GenPackage {
    GenPackage {
        name: e.name().to_string(),
        version: e.version().to_string(),
        id: e.id().to_string(),
    }
}

/// The made entry of `e` for `inputs`, if the store has one.
fn find(store: &Store, e: &Entry, inputs: &str) -> Result<Option<Entry>> {
    let name = format!("{}{SUFFIX}", e.name());
    Ok(store.entries_named([name.as_str()])?.into_iter().find(|m| {
        m.version() == e.version() && m.manifest.made.as_ref().is_some_and(|d| d.inputs == inputs)
    }))
}

/// Every made entry of `package` in the store (for `info`).
pub fn made_entries_of(store: &Store, package: &Entry) -> Result<Vec<Entry>> {
    let name = format!("{}{SUFFIX}", package.name());
    Ok(store
        .entries_named([name.as_str()])?
        .into_iter()
        .filter(|m| m.version() == package.version())
        .collect())
}

fn manifest_for(e: &Entry, scripts: Vec<ScriptReport>, inputs: &str) -> Result<Manifest> {
    let mut m = Manifest::new(&format!("{}{SUFFIX}", e.name()), e.version())?;
    m.package.description = format!("what the maintainer scripts of {} made", e.spec());
    m.exports.bin = vec![];
    m.made = Some(Made {
        for_package: e.name().to_string(),
        scripts,
        inputs: inputs.to_string(),
    });
    Ok(m)
}

/// Namespaces were not available: each script is reported "not run", and the entries
/// carry only that (their inputs are empty, so a later switch tries again).
fn not_run(
    store: &Store,
    lock: &LockedFile,
    order: &[&Entry],
    jobs: &[sandbox::Job],
    why: &str,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (k, e) in order.iter().enumerate() {
        let reports = jobs
            .iter()
            .filter(|j| j.index == k)
            .map(|j| ScriptReport {
                script: j.script.clone(),
                status: format!("not run: {}", why.lines().next().unwrap_or_default()),
                made: vec![],
                output: String::new(),
            })
            .collect();
        let m = manifest_for(e, reports, "")?;
        // Nothing was made: an empty tree (install_dir takes a missing directory as one).
        let none = std::path::Path::new("/nonexistent/berth-nothing-made");
        out.push(store.install_dir(lock, &m, &format!("scripts of {}", e.spec()), none)?);
    }
    Ok(out)
}

/// Reads what the run left and commits one made entry per package.
fn collect(
    store: &Store,
    lock: &LockedFile,
    order: &[&Entry],
    jobs: &[sandbox::Job],
    ran: &sandbox::Ran,
    view: &[Entry],
    inputs: &str,
) -> Result<Vec<Entry>> {
    let out = &ran.out;
    let calls = records::parse(&std::fs::read_to_string(out.join("records")).unwrap_or_default());
    let targets: Vec<String> = std::fs::read_to_string(out.join("targets"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    // As root, the run's /run belongs to root inside: the first id of the profile's range.
    let range = nix::unistd::geteuid()
        .is_root()
        .then(|| {
            std::fs::metadata(&ran.scratch.run).ok().map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.uid()
            })
        })
        .flatten();
    let lower = |rel: &str| -> Option<std::fs::Metadata> {
        view.iter()
            .find_map(|e| std::fs::symlink_metadata(e.path().join(rel)).ok())
            .or_else(|| std::fs::symlink_metadata(format!("/{rel}")).ok())
    };
    let mut made = Vec::new();
    for (k, e) in order.iter().enumerate() {
        let mine: Vec<(usize, &sandbox::Job)> = jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.index == k)
            .collect();
        let my_calls: Vec<records::Call> = calls
            .iter()
            .filter(|c| mine.iter().any(|(n, _)| *n == c.script))
            .cloned()
            .collect();
        let snap = out.join(format!("snap/{k}"));
        let prev = (k > 0).then(|| out.join(format!("snap/{}", k - 1)));
        let tree = ran.scratch.base.join(format!("tree-{k}"));
        std::fs::create_dir_all(&tree)
            .map_err(|e| crate::Error::io("create directory", &tree, e))?;
        let sorted = if out.join(format!("snap/{k}.done")).exists() {
            made::sort(
                &snap,
                prev.as_deref(),
                &targets,
                &lower,
                &my_calls,
                range,
                &tree,
            )?
        } else {
            made::Sorted::default()
        };
        let mut reports: Vec<ScriptReport> = mine
            .iter()
            .map(|(n, j)| report(out, *n, j, &my_calls))
            .collect();
        if let Some(last) = reports.last_mut() {
            last.made.extend(sorted.lines.iter().cloned());
        }
        let mut m = manifest_for(e, reports, inputs)?;
        m.config = sorted.config;
        m.writable = sorted.writable;
        m.users = sorted.users;
        made.push(store.install_dir(lock, &m, &format!("scripts of {}", e.spec()), &tree)?);
    }
    Ok(made)
}

/// The report of script number `n`.
fn report(
    out: &std::path::Path,
    n: usize,
    j: &sandbox::Job,
    calls: &[records::Call],
) -> ScriptReport {
    let status = std::fs::read_to_string(out.join(format!("{n}.status")))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    let output = std::fs::read_to_string(out.join(format!("{n}.log"))).unwrap_or_default();
    let status = match status {
        Some(0) => "ok".to_string(),
        Some(124 | 137) => format!("timed out after {} s (killed)", sandbox::limit()),
        Some(c) => format!("exit status {c}"),
        None => "did not finish".to_string(),
    };
    let output = if status == "ok" {
        String::new()
    } else {
        let start = output.len().saturating_sub(OUTPUT_CAP);
        let start = (start..output.len())
            .find(|i| output.is_char_boundary(*i))
            .unwrap_or(0);
        output[start..].to_string()
    };
    let mut made: Vec<String> = Vec::new();
    for l in calls
        .iter()
        .filter(|c| c.script == n)
        .filter_map(records::line)
    {
        if !made.contains(&l) {
            made.push(l);
        }
    }
    ScriptReport {
        script: j.script.clone(),
        status,
        made,
        output,
    }
}
