//! Dependencies checked, not solved: each .deb's Pre-Depends and Depends against a set of
//! available packages (the other packages of a generation, or everything installed, plus
//! the host's dpkg status). `use` warns about what is unmet, or refuses with `--strict`;
//! `info` shows every dependency with what satisfies it.

use crate::package::manifest::Manifest;
use crate::package::native::{available, NativeOrigin};
use crate::package::relations::{evaluate, show, Available, Verdict};
use crate::store::Entry;
use serde::Serialize;

/// One dependency of one package, evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepStatus {
    /// The package that declares it (`name@version`).
    pub package: String,
    /// `Depends` or `Pre-Depends`.
    pub field: String,
    /// The dependency as the control file writes it (`a (>= 1) | b`).
    pub dependency: String,
    /// Whether something available satisfies it.
    pub satisfied: bool,
    /// What satisfies it, or what was found instead.
    pub found: String,
}

impl DepStatus {
    /// The warning line for an unmet dependency.
    pub fn line(&self) -> String {
        format!(
            "{} {}: {} is not satisfied ({})",
            self.package, self.field, self.dependency, self.found
        )
    }
}

/// Every dependency `m` declares, evaluated against `available`.
pub fn evaluate_all(m: &Manifest, available: &[Available]) -> Vec<DepStatus> {
    let Some(native) = NativeOrigin::of(m) else {
        return vec![];
    };
    let package = format!("{}@{}", m.package.name, m.package.version);
    let mut out = Vec::new();
    for (field, parsed) in native.depends() {
        let groups = match parsed {
            Ok(g) => g,
            Err(e) => {
                out.push(DepStatus {
                    package: package.clone(),
                    field: field.to_string(),
                    dependency: native.field(field).unwrap_or_default().to_string(),
                    satisfied: false,
                    found: format!("the field does not parse: {e}"),
                });
                continue;
            }
        };
        for alts in groups {
            let (satisfied, found) = match evaluate(&alts, available) {
                Verdict::Satisfied(by) => (true, by),
                Verdict::Unmet(found) => (false, found),
            };
            out.push(DepStatus {
                package: package.clone(),
                field: field.to_string(),
                dependency: show(&alts),
                satisfied,
                found,
            });
        }
    }
    out
}

/// The unmet dependencies of a generation made of `members`, given the host's packages.
pub fn unmet_in_generation(members: &[&Entry], host: &[Available]) -> Vec<DepStatus> {
    let mut set: Vec<Available> = members
        .iter()
        .map(|e| available(&e.manifest, "profile"))
        .collect();
    set.extend_from_slice(host);
    members
        .iter()
        .flat_map(|e| evaluate_all(&e.manifest, &set))
        .filter(|d| !d.satisfied)
        .collect()
}

/// Every dependency of `m`, against everything installed and the host.
pub fn against_installed(m: &Manifest, installed: &[Entry], host: &[Available]) -> Vec<DepStatus> {
    let mut set: Vec<Available> = installed
        .iter()
        .map(|e| available(&e.manifest, "installed"))
        .collect();
    set.extend_from_slice(host);
    evaluate_all(m, &set)
}
