//! The part of `berth info` about an imported .deb or .rpm: its control or header fields,
//! its dependencies (satisfied or not, against everything installed and the host's dpkg
//! status), its conffiles, and the maintainer scripts berth did not run.

use crate::error::Result;
use crate::package::manifest::Manifest;
use crate::package::native::NativeOrigin;
use crate::package::printable::escaped;
use crate::profile::depends::{against_installed, DepStatus};
use crate::store::Entry;
use serde::Serialize;

/// The native section of `info --json`.
#[derive(Debug, Serialize)]
pub struct Native {
    format: String,
    architecture: String,
    /// Control (.deb) or header (.rpm) fields, in display order.
    fields: Vec<Field>,
    depends: Vec<DepStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    requires: Vec<String>,
    conffiles: Vec<String>,
    scripts_not_run: Vec<String>,
    /// Each maintainer script with what its confined runs made (one per made entry).
    scripts: Vec<ScriptRuns>,
}

/// One script of the package and its runs.
#[derive(Debug, Serialize)]
struct ScriptRuns {
    script: String,
    /// The made entries that hold a report of it; empty: never run.
    runs: Vec<Run>,
}

/// One report of a script, in the made entry that holds it.
#[derive(Debug, Serialize)]
struct Run {
    entry: String,
    #[serde(flatten)]
    report: crate::package::manifest::ScriptReport,
}

/// The reports of a made entry (`P+scripts`), for `info --json`.
pub fn made_reports(m: &Manifest) -> Option<&crate::package::manifest::Made> {
    m.made.as_ref()
}

/// Prints a made entry's reports.
pub fn print_made(m: &crate::package::manifest::Made) {
    println!("  made for     {}", escaped(&m.for_package));
    for r in &m.scripts {
        print_report(&r.script, r);
    }
}

fn print_report(label: &str, r: &crate::package::manifest::ScriptReport) {
    println!(
        "  {:<12} {}: {}",
        "script",
        escaped(label),
        escaped(&r.status)
    );
    for l in &r.made {
        println!("  {:<12}   {}", "", escaped(l));
    }
    for l in r.output.lines() {
        println!("  {:<12}   | {}", "", escaped(l));
    }
}

#[derive(Debug, Serialize)]
struct Field {
    name: String,
    value: String,
}

/// The native section of a package, `None` for packages not imported from .deb/.rpm.
pub fn native(m: &Manifest, installed: &[Entry]) -> Result<Option<Native>> {
    let Some(n) = NativeOrigin::of(m) else {
        return Ok(None);
    };
    let depends = if n.format == "deb" {
        against_installed(m, installed, &crate::host_dpkg::installed()?)
    } else {
        vec![]
    };
    let made: Vec<&Entry> = installed
        .iter()
        .filter(|e| {
            e.manifest
                .made
                .as_ref()
                .is_some_and(|d| d.for_package == m.package.name)
                && e.version() == m.package.version
        })
        .collect();
    let scripts: Vec<ScriptRuns> = n
        .scripts
        .iter()
        .map(|s| ScriptRuns {
            script: s.clone(),
            runs: made
                .iter()
                .flat_map(|e| {
                    let reports = e.manifest.made.as_ref().map(|d| d.scripts.clone());
                    reports
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| &r.script == s)
                        .map(|report| Run {
                            entry: e.dir_name().to_string(),
                            report,
                        })
                })
                .collect(),
        })
        .collect();
    let not_run = scripts
        .iter()
        .filter(|s| s.runs.is_empty())
        .map(|s| s.script.clone())
        .collect();
    Ok(Some(Native {
        format: n.format,
        architecture: n.architecture,
        fields: n
            .fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect(),
        depends,
        requires: n.requires,
        conffiles: n.conffiles,
        scripts_not_run: not_run,
        scripts,
    }))
}

/// Prints the native section under the common lines of `info`.
pub fn print(n: &Native) {
    println!(
        "  format       {} ({})",
        escaped(&n.format),
        escaped(&n.architecture)
    );
    let heading = if n.format == "deb" {
        "control"
    } else {
        "header"
    };
    for (i, f) in n.fields.iter().enumerate() {
        let label = if i == 0 { heading } else { "" };
        let mut lines = f.value.lines();
        println!(
            "  {label:<12} {}: {}",
            escaped(&f.name),
            escaped(lines.next().unwrap_or_default())
        );
        for l in lines {
            println!("  {:<12}   {}", "", escaped(l));
        }
    }
    for d in &n.depends {
        let state = if d.satisfied { "ok" } else { "UNMET" };
        println!(
            "  {:<12} {}: {}  [{state}: {}]",
            "depends",
            escaped(&d.field),
            escaped(&d.dependency),
            escaped(&d.found)
        );
    }
    for r in &n.requires {
        println!(
            "  {:<12} {}  (recorded, not checked)",
            "requires",
            escaped(r)
        );
    }
    for c in &n.conffiles {
        println!("  {:<12} {}", "conffile", escaped(c));
    }
    for s in &n.scripts {
        if s.runs.is_empty() {
            let why = if ["preinst", "postinst"].contains(&s.script.as_str()) {
                "never run (they run confined when a profile uses the package)"
            } else {
                "not run: berth runs only preinst and postinst, as a fresh install"
            };
            println!("  {:<12} {}: {why}", "script", escaped(&s.script));
        }
        for r in &s.runs {
            print_report(&format!("{} ({})", s.script, r.entry), &r.report);
        }
    }
}
