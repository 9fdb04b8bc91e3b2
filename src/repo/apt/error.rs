//! What can go wrong when berth asks the host's apt for .debs: one variant per failure,
//! each naming the package or relation, with its hint and exit code (`berth install --help`).

use crate::error::{exit, ModuleError};

/// Errors of `install --apt`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{arg}` is not NAME or NAME=VERSION: {why}")]
    BadSpec { arg: String, why: &'static str },
    #[error("{tool} is not installed or cannot run ({why})")]
    NoApt { tool: &'static str, why: String },
    #[error("apt knows no package `{name}`")]
    UnknownPackage { name: String },
    #[error("apt has no version {version} of `{name}` (it has {})", .known.join(", "))]
    UnknownVersion {
        name: String,
        version: String,
        known: Vec<String>,
    },
    #[error("`{name}` has no installation candidate in apt's lists")]
    NoCandidate { name: String },
    #[error("{package} needs {relation}, which apt cannot provide{}", found_part(.found))]
    Unsatisfiable {
        package: String,
        relation: String,
        found: String,
    },
    #[error("{package} needs {relation}, a virtual package several packages provide ({})", .providers.join(", "))]
    Ambiguous {
        package: String,
        relation: String,
        providers: Vec<String>,
    },
    #[error("{package} has a {field} that does not parse: {why}")]
    BadRelation {
        package: String,
        field: &'static str,
        why: String,
    },
    #[error("apt-cache {args}: {line}")]
    Query { args: String, line: String },
    #[error("apt-get download {packages}: {line}")]
    Download { packages: String, line: String },
    #[error("apt-get download gave no file for {package} (expected {file})")]
    Missing { package: String, file: String },
}

fn found_part(found: &str) -> String {
    if found.is_empty() {
        String::new()
    } else {
        format!(" (apt has {found})")
    }
}

impl ModuleError for Error {
    fn hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            BadSpec { .. } => s("name Debian packages as NAME or NAME=VERSION (apt-cache madison NAME lists the versions)"),
            NoApt { .. } => s("install --apt works on hosts with apt (Debian, Ubuntu); elsewhere download the .debs and install the files"),
            UnknownPackage { .. } | NoCandidate { .. } => s("check the name with `apt-cache search NAME`; run `apt-get update` if the lists are old or missing"),
            UnknownVersion { name, .. } => Some(format!("`apt-cache madison {name}` lists the versions apt can download; run `apt-get update` if one is missing")),
            Unsatisfiable { .. } => s("add a source that has it to apt's lists, or install a .deb that satisfies it and name it too"),
            Ambiguous { .. } => s("name the provider you want with --apt as well"),
            BadRelation { .. } => None,
            Query { .. } => s("run `apt-get update` if apt's lists are missing or old"),
            Download { .. } | Missing { .. } => s("nothing was installed; check the network and apt's sources, then try again"),
        }
    }

    fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            BadSpec { .. } => exit::USAGE,
            UnknownPackage { .. }
            | UnknownVersion { .. }
            | NoCandidate { .. }
            | Unsatisfiable { .. }
            | NoApt { .. } => exit::NOT_FOUND,
            Ambiguous { .. } => exit::USAGE,
            BadRelation { .. } => exit::REFUSED,
            Query { .. } | Download { .. } | Missing { .. } => exit::FAILURE,
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> crate::Error {
        crate::Error::module(e)
    }
}

/// apt's complaint condensed to one line: its `E:` lines (else its last line), joined.
pub fn condense(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let errors: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("E: "))
        .map(str::trim)
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("failed without a message")
        .to_string()
}
