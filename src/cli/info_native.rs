//! The part of `berth info` about an imported .deb or .rpm: its control or header fields,
//! its dependencies (satisfied or not, against everything installed and the host's dpkg
//! status), its conffiles, and the maintainer scripts berth did not run.

use crate::error::Result;
use crate::package::manifest::Manifest;
use crate::package::native::NativeOrigin;
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
        scripts_not_run: n.scripts,
    }))
}

/// Prints the native section under the common lines of `info`.
pub fn print(n: &Native) {
    println!("  format       {} ({})", n.format, n.architecture);
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
            f.name,
            lines.next().unwrap_or_default()
        );
        for l in lines {
            println!("  {:<12}   {l}", "");
        }
    }
    for d in &n.depends {
        let state = if d.satisfied { "ok" } else { "UNMET" };
        println!(
            "  {:<12} {}: {}  [{state}: {}]",
            "depends", d.field, d.dependency, d.found
        );
    }
    for r in &n.requires {
        println!("  {:<12} {r}  (recorded, not checked)", "requires");
    }
    for c in &n.conffiles {
        println!("  {:<12} {c}", "conffile");
    }
    if !n.scripts_not_run.is_empty() {
        println!(
            "  {:<12} {}  (not run: berth never runs maintainer scripts)",
            "scripts",
            n.scripts_not_run.join(", ")
        );
    }
}
