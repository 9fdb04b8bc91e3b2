//! One violated invariant, as every module's own check reports it (`store::check`,
//! `profile::check`, the root's top level); `berth check` only composes them.

use serde::Serialize;
use std::path::PathBuf;

/// What kind of invariant is violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A profile link that does not lead to a complete generation.
    DanglingProfileLink,
    /// A generation whose record cannot be read.
    BadGeneration,
    /// A generation or pin references an entry that is not in the store.
    MissingEntry,
    /// A generation's `pkgs/<name>` link does not lead to its entry.
    BadPackageLink,
    /// A link of a generation's merged tree leads outside the root.
    EscapingLink,
    /// An entry's files or metadata differ from what was installed.
    ModifiedEntry,
    /// An entry whose metadata cannot be read.
    CorruptEntry,
    /// A pooled file's object is missing from the pool.
    MissingObject,
    /// A pool object that is not what its name promises.
    CorruptObject,
    /// A pool object no entry links.
    OrphanObject,
    /// A generation's template rendering that is not kept (any more).
    MissingRendering,
    /// What an interrupted command left behind.
    Leftover,
    /// A shim no profile provides, or that leads elsewhere.
    DanglingShim,
    /// A file in `shims/` that berth did not make (left alone).
    ForeignShim,
    /// `libexec/berth-shim` differs from the shim built with this berth.
    ShimBinary,
    /// A part of the root writable by others, or owned by another user.
    Permissions,
    /// Something in the root berth did not create.
    Stray,
}

/// One problem, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Its kind.
    pub kind: Kind,
    /// The path concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
    /// What to do.
    pub hint: String,
    /// Whether `check --repair` fixes it.
    pub repairable: bool,
}

impl Problem {
    /// A problem `check --repair` does not fix.
    pub fn new(
        kind: Kind,
        path: impl Into<PathBuf>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            path: path.into(),
            detail: detail.into(),
            hint: hint.into(),
            repairable: false,
        }
    }

    /// A problem `check --repair` fixes.
    pub fn repairable(mut self) -> Problem {
        self.repairable = true;
        self
    }

    /// Something an interrupted command left behind.
    pub fn leftover(path: impl Into<PathBuf>, what: &str) -> Problem {
        Problem::new(
            Kind::Leftover,
            path,
            format!("{what} left by an interrupted command"),
            "`berth check --repair` or `berth gc` removes it",
        )
        .repairable()
    }

    /// Something in the root berth did not create.
    pub fn stray(path: impl Into<PathBuf>, what: &str) -> Problem {
        Problem::new(
            Kind::Stray,
            path,
            format!("{what} that berth did not create"),
            "move it out of the berth root; berth never writes or reads it",
        )
    }

    /// A part writable by others or owned by someone else (`check --repair` tightens the
    /// mode of what the user owns).
    pub fn permissions(path: impl Into<PathBuf>, detail: String) -> Problem {
        Problem::new(
            Kind::Permissions,
            path,
            detail,
            "`berth check --repair` removes group and other write bits (chown what you do not own)",
        )
        .repairable()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}
