//! Errors of `berth apply` and `berth config`: a profile file that is wrong, a version no
//! package satisfies, a template that does not render, a user or directory that cannot be
//! made. Each names the file (with line and column where there is one) or the thing.

use crate::error::{exit, ModuleError};
use std::path::PathBuf;

/// What can go wrong converging a profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile file is not valid TOML or has an unknown key.
    #[error("{}:{line}:{column}: {message}", .path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value of the profile file is refused.
    #[error("{}: {message}", .path.display())]
    Value { path: PathBuf, message: String },
    /// A `[packages]` constraint cannot be parsed.
    #[error("{}: packages.{package}: bad version constraint `{constraint}`: {why}", .path.display())]
    BadConstraint {
        path: PathBuf,
        package: String,
        constraint: String,
        why: String,
    },
    /// No installed entry and no repository package satisfies a constraint.
    #[error("{package}: no version satisfies `{constraint}` ({})", available_text(.available))]
    NoVersion {
        package: String,
        constraint: String,
        available: Vec<String>,
    },
    /// A template names a variable it was not given, or does not parse.
    #[error("{}{}: {message}", .template.display(), line_text(*.line))]
    Template {
        template: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A template that takes too many steps or makes too much output.
    #[error("{}{}: template refused: {what}", .template.display(), line_text(*.line))]
    TemplateLimit {
        template: PathBuf,
        line: Option<usize>,
        what: String,
    },
    /// A template file that is refused (a symlink, not a regular file, too large).
    #[error("template {}: {why}", .path.display())]
    TemplateFile { path: PathBuf, why: &'static str },
    /// A user the profile needs is missing and this process may not create it.
    #[error("user `{user}` does not exist, and only root can create it")]
    UserMissing { user: String },
    /// `useradd` failed.
    #[error("useradd {user} failed: {detail}")]
    UserAdd { user: String, detail: String },
    /// A `[[dir]]` owner or group that does not exist.
    #[error("dir `{path}`: no such {what} `{name}`")]
    NoSuchOwner {
        path: String,
        what: &'static str,
        name: String,
    },
    /// A path of the root's etc/ or var/ is of the wrong kind.
    #[error("{}: {why}", .path.display())]
    WrongKind { path: PathBuf, why: &'static str },
    /// `config diff` names a file the profile does not have.
    #[error("profile {profile} has no config file `{file}`; it has {}", if .has.is_empty() { "none".to_string() } else { .has.join(", ") })]
    NoConfigFile {
        profile: String,
        file: String,
        has: Vec<String>,
    },
}

fn available_text(v: &[String]) -> String {
    if v.is_empty() {
        "none is installed or in a repository".to_string()
    } else {
        format!("available: {}", v.join(", "))
    }
}

fn line_text(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

impl ModuleError for Error {
    fn hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            Syntax { .. } | Value { .. } | BadConstraint { .. } => s(
                "fix the profile file (`berth apply --help` shows its keys and constraint forms); nothing was changed",
            ),
            NoVersion { package, .. } => Some(format!(
                "install a matching version (`berth install FILE`, or `berth update` for the repositories) or change the constraint of {package}; nothing was changed"
            )),
            TemplateFile { .. } => s("templates are regular files beside the profile file; nothing was changed"),
            TemplateLimit { .. } => s(
                "make the template smaller or its loops shorter; nothing was changed",
            ),
            Template { .. } => s(
                "give the variable in the profile file's `vars`, or fix the template; nothing was changed",
            ),
            UserMissing { .. } => s("run `berth apply` as root, or create the user first"),
            UserAdd { .. } => s("create the user by hand and run `berth apply` again"),
            NoSuchOwner { .. } => s("add it as a [[user]] of the profile file, or create it first"),
            WrongKind { .. } => s("move it away; berth never replaces what it did not make"),
            NoConfigFile { profile, .. } => {
                Some(format!("`berth config status {profile}` lists them"))
            }
        }
    }

    fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            Syntax { .. }
            | Value { .. }
            | BadConstraint { .. }
            | Template { .. }
            | TemplateLimit { .. }
            | TemplateFile { .. } => exit::REFUSED,
            NoVersion { .. } | NoSuchOwner { .. } | NoConfigFile { .. } => exit::NOT_FOUND,
            UserMissing { .. } => exit::NOT_PERMITTED,
            UserAdd { .. } | WrongKind { .. } => exit::FAILURE,
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> crate::Error {
        crate::Error::module(e)
    }
}
