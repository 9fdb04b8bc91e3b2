//! What the host's apt knows, asked through `apt-cache` and parsed here (the one place
//! that reads apt's output): every version record of a package (`apt-cache show`), apt's
//! candidate (`apt-cache policy`) and the providers of a virtual package
//! (`apt-cache showpkg`). Answers are remembered for the run, so a name is asked once.

use super::error::{condense, Error};
use crate::error::Result;
use crate::package::deb::control::parse_paragraphs;
use crate::package::relations::parse_provides;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

/// One version of one package in apt's lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Architecture` (`amd64`, `all` …).
    pub arch: String,
    /// `Pre-Depends`, as written.
    pub pre_depends: Option<String>,
    /// `Depends`, as written.
    pub depends: Option<String>,
    /// `Provides`, parsed (unparsable ones count as nothing provided).
    pub provides: Vec<(String, Option<String>)>,
    /// `SHA256` of the .deb, which the store then insists on.
    pub sha256: Option<String>,
}

/// What the resolver asks of apt (a trait, so the closure is tested without apt).
pub trait Catalog {
    /// Asks about `names` at once (later questions about them are answered from memory).
    fn prefetch(&mut self, _names: &[&str]) -> Result<()> {
        Ok(())
    }
    /// Every version apt's lists have of `name` (none for unknown or purely virtual names).
    fn records(&mut self, name: &str) -> Result<Vec<Record>>;
    /// apt's candidate version of `name`, if any.
    fn candidate(&mut self, name: &str) -> Result<Option<String>>;
    /// The packages that provide `name` (`Reverse Provides`), each once.
    fn providers(&mut self, name: &str) -> Result<Vec<String>>;
}

/// The host's `apt-cache`, run with `LC_ALL=C` so its output parses the same everywhere.
#[derive(Debug, Default)]
pub struct AptCache {
    records: HashMap<String, Vec<Record>>,
    candidates: HashMap<String, Option<String>>,
}

/// Starts `apt-cache ARGS -- NAMES` (`--` ends apt's options: a name is never read as
/// one, and names are checked before they get here too).
fn spawn(args: &[&str], names: &[&str]) -> Result<Child> {
    Command::new("apt-cache")
        .args(args)
        .arg("--")
        .args(names)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::NoApt {
                tool: "apt-cache",
                why: e.to_string(),
            }
            .into()
        })
}

/// What a started `apt-cache` printed; `None` when it found no packages at all.
fn finish(child: Child, args: &[&str], names: &[&str]) -> Result<Option<String>> {
    let what = || format!("{} {}", args.join(" "), names.join(" "));
    let out = child.wait_with_output().map_err(|e| Error::Query {
        args: what(),
        line: e.to_string(),
    })?;
    if !out.status.success() {
        let line = condense(&out.stderr);
        if line.contains("No packages found") {
            return Ok(None);
        }
        return Err(Error::Query { args: what(), line }.into());
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Runs `apt-cache ARGS -- NAMES`.
fn apt_cache(args: &[&str], names: &[&str]) -> Result<Option<String>> {
    finish(spawn(args, names)?, args, names)
}

impl AptCache {
    /// Asks apt about every name of `names` not asked yet, in one `apt-cache show` and one
    /// `apt-cache policy` run side by side: apt may rebuild its cache on every start (Debian
    /// images often disable the saved one), so each run costs seconds.
    fn fetch(&mut self, names: &[&str]) -> Result<()> {
        let mut todo: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.records.contains_key(*n))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if todo.is_empty() {
            return Ok(());
        }
        let show = spawn(&["show"], &todo)?;
        let policy = spawn(&["policy"], &todo)?;
        let shown = finish(show, &["show"], &todo)?.unwrap_or_default();
        let policies = finish(policy, &["policy"], &todo)?.unwrap_or_default();
        let candidates = parse_policies(&policies);
        for name in todo {
            self.records
                .insert(name.to_string(), parse_show(&shown, name));
            let c = candidates
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, c)| c.clone());
            self.candidates.insert(name.to_string(), c);
        }
        Ok(())
    }
}

impl Catalog for AptCache {
    fn prefetch(&mut self, names: &[&str]) -> Result<()> {
        self.fetch(names)
    }

    fn records(&mut self, name: &str) -> Result<Vec<Record>> {
        self.fetch(&[name])?;
        Ok(self.records.get(name).cloned().unwrap_or_default())
    }

    fn candidate(&mut self, name: &str) -> Result<Option<String>> {
        self.fetch(&[name])?;
        Ok(self.candidates.get(name).cloned().flatten())
    }

    fn providers(&mut self, name: &str) -> Result<Vec<String>> {
        Ok(apt_cache(&["showpkg"], &[name])?
            .as_deref()
            .map(parse_reverse_provides)
            .unwrap_or_default())
    }
}

/// The records of `name` in `apt-cache show` output (each version once).
pub fn parse_show(text: &str, name: &str) -> Vec<Record> {
    let Ok(paragraphs) = parse_paragraphs(text) else {
        return vec![];
    };
    let mut out: Vec<Record> = Vec::new();
    for p in paragraphs {
        let (Some(pkg), Some(version)) = (p.get("Package"), p.get("Version")) else {
            continue;
        };
        if pkg != name || out.iter().any(|r| r.version == version) {
            continue;
        }
        out.push(Record {
            name: pkg.to_string(),
            version: version.to_string(),
            arch: p.get("Architecture").unwrap_or("all").to_string(),
            pre_depends: p.get("Pre-Depends").map(str::to_string),
            depends: p.get("Depends").map(str::to_string),
            provides: p
                .get("Provides")
                .and_then(|v| parse_provides(v).ok())
                .unwrap_or_default(),
            sha256: p.get("SHA256").map(str::to_string),
        });
    }
    out
}

/// Each package's `Candidate:` in `apt-cache policy` output (`(none)` is none).
pub fn parse_policies(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(name) = line.strip_suffix(':') {
                out.push((name.to_string(), None));
            }
        } else if let (Some(c), Some(last)) =
            (line.trim().strip_prefix("Candidate:"), out.last_mut())
        {
            let c = c.trim();
            last.1 = (!c.is_empty() && c != "(none)").then(|| c.to_string());
        }
    }
    out
}

/// The package names under `Reverse Provides:` in `apt-cache showpkg` output.
pub fn parse_reverse_provides(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Reverse Provides:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        // Every later section is `Heading:`; provider lines are `name version (= v)`.
        if line.ends_with(':') && !line.contains(' ') {
            break;
        }
        if let Some(name) = line.split_whitespace().next() {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apt_cache_output() {
        let show = "Package: redis-tools\nVersion: 5:7.0.15-1~deb12u10\nArchitecture: amd64\n\
Depends: libc6 (>= 2.34), liblzf1 (>= 1.5)\nSHA256: ab\nDescription-en: x\n more\n\n\
Package: redis-tools\nVersion: 5:7.0.15-1~deb12u7\nArchitecture: amd64\nProvides: redis-cli\n\n\
Package: redis-tools\nVersion: 5:7.0.15-1~deb12u7\nArchitecture: amd64\n";
        let r = parse_show(show, "redis-tools");
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].depends.as_deref(),
            Some("libc6 (>= 2.34), liblzf1 (>= 1.5)")
        );
        assert_eq!(r[0].sha256.as_deref(), Some("ab"));
        assert_eq!(r[1].provides, vec![("redis-cli".to_string(), None)]);
        let policy = "redis-tools:\n  Installed: (none)\n  Candidate: 5:7.0.15-1~deb12u10\n  Version table:\n\
     5:7.0.15-1~deb12u10 500\nawk:\n  Installed: (none)\n  Candidate: (none)\n";
        assert_eq!(
            parse_policies(policy),
            [
                (
                    "redis-tools".to_string(),
                    Some("5:7.0.15-1~deb12u10".to_string())
                ),
                ("awk".to_string(), None)
            ]
        );
        let showpkg = "Package: awk\nVersions: \n\nReverse Depends: \n  foo,awk\nDependencies: \nProvides: \n\
Reverse Provides: \noriginal-awk 2022-09-12-1 (= )\nmawk 1.3.4 (= )\nmawk 1.3.5 (= )\n";
        assert_eq!(parse_reverse_provides(showpkg), ["original-awk", "mawk"]);
    }
}
