//! What can go wrong with keys, repositories and downloads: one variant per failure, each
//! naming its URL or path, and the exit code it maps to (README "Exit codes").

use crate::error::exit;
use std::path::PathBuf;

/// Errors of the repository layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid repository URL `{url}`: {why}\nhint: use http://HOST/PATH/, https://HOST/PATH/ or file:///ABSOLUTE/PATH/")]
    BadUrl { url: String, why: String },
    #[error("invalid public key `{key}`: {why}\nhint: pass the second line of a minisign .pub file (it starts with RW), the whole file's text, or its path")]
    BadPublicKey { key: String, why: String },
    #[error("{path}: cannot use this secret key: {why}\nhint: {hint}")]
    BadSecretKey {
        path: PathBuf,
        why: String,
        hint: &'static str,
    },
    #[error("{path} already exists\nhint: choose another name, or remove the old key files first (nothing was overwritten)")]
    KeyExists { path: PathBuf },
    #[error(
        "invalid repository name `{name}`: use lowercase letters, digits and - _ . (at most 64)"
    )]
    BadRepoName { name: String },
    #[error("a repository named `{name}` is already configured\nhint: `berth repo remove {name}` first, or choose another name")]
    RepoExists { name: String },
    #[error("{path}: {why}\nhint: {hint}")]
    BadConfig {
        path: PathBuf,
        why: String,
        hint: &'static str,
    },
    #[error("{path}: {why}\nhint: sign it (`berth key sign`, `minisign -S`) and pass --signature FILE, or pass --insecure to install it unsigned")]
    Unsigned { path: PathBuf, why: String },
    #[error("{path}: cannot tell what kind of package this is ({why})\nhint: repositories take .berth files, tarballs (.tar, .tar.gz, .tar.xz, .tar.zst), .deb and .rpm")]
    UnknownKind { path: PathBuf, why: String },
    #[error("{path}: cannot tell the package name and version\nhint: {hint}")]
    NeedNameVersion { path: PathBuf, hint: &'static str },

    #[error("no repository named `{name}`{}\nhint: `berth repo list` shows them", list_hint(.existing))]
    UnknownRepo { name: String, existing: Vec<String> },
    #[error("no repositories are configured\nhint: `berth repo add NAME URL --key PUBKEY`, then `berth update`")]
    NoRepos,
    #[error("repository `{name}` has no verified index yet\nhint: `berth update {name}`")]
    NoIndex { name: String },
    #[error("no package `{reference}` in the indexes of {}{}\nhint: `berth search NAME` lists what the repositories offer; `berth update` fetches their newest indexes", .repos.join(", "), versions_hint(.versions))]
    UnknownPackage {
        reference: String,
        repos: Vec<String>,
        versions: Vec<String>,
    },
    #[error("{url}: not found (HTTP 404)\nhint: check the repository URL (`berth repo list`) and that the file was published")]
    NotFound { url: String },

    #[error("{url}: {why}\nhint: {hint}")]
    Network {
        url: String,
        why: String,
        hint: &'static str,
    },
    #[error("{url}: the connection ended after {got} of {expected} bytes\nhint: try again; the partial download was deleted (berth never resumes unverified data)")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },

    #[error("{url}: bad signature: {why}\nhint: the index or its signature was altered, or signed by another key; the previous index stays in force")]
    BadSignature { url: String, why: String },
    #[error("{url}: signed by key {key_id}, which is not pinned for repository `{repo}` (pinned: {})\nhint: if the publisher rotated keys, pin the new one with `berth repo add` after checking it out of band; the previous index stays in force", .pinned.join(", "))]
    UnpinnedKey {
        url: String,
        repo: String,
        key_id: String,
        pinned: Vec<String>,
    },
    #[error("{url}: legacy (non-prehashed) minisign signature refused\nhint: re-sign with a current minisign (default) or `berth repo publish`; the previous index stays in force")]
    LegacySignature { url: String },
    #[error("{url}: index serial {serial} is older than serial {last}, seen before (rollback)\nhint: a mirror or an attacker serves an old index; the previous index stays in force")]
    Rollback { url: String, serial: u64, last: u64 },
    #[error("{url}: index serial {serial} was seen before with different content (replay)\nhint: the publisher must bump the serial for every change (`berth repo publish` does); the previous index stays in force")]
    SerialReused { url: String, serial: u64 },
    #[error("{url}: index expired at {expires} (freeze)\nhint: the publisher must re-sign it (`berth repo publish DIR --key KEY` refreshes the expiry); the previous index stays in force")]
    Expired { url: String, expires: String },
    #[error("{url}: index expires at {expires}, more than {max} from now\nhint: publish with a shorter --valid-for, or raise `berth update --max-validity`; the previous index stays in force")]
    TooFarAhead {
        url: String,
        expires: String,
        max: String,
    },
    #[error("{url}: index is for channel `{actual}`, repository `{repo}` is pinned to `{expected}`\nhint: `berth repo add` with --channel {actual} if that is what you want; the previous index stays in force")]
    WrongChannel {
        url: String,
        repo: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: {what} is larger than {limit} bytes\nhint: the server sends more than it should; nothing was kept")]
    TooLarge {
        url: String,
        what: &'static str,
        limit: u64,
    },
    #[error("{url}: sha256 is {actual}, the signed index says {expected}\nhint: the mirror serves altered bytes; nothing was installed and nothing was kept")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: {actual} bytes, the signed index says {expected}\nhint: the mirror serves other bytes than were published; nothing was kept")]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("{path}: {problems} problem(s) found\nhint: republish the damaged files, or restore the repository from its source")]
    RepoDamaged { path: PathBuf, problems: usize },

    #[error("{path} already holds a repository (index.json)\nhint: publish into it with `berth repo publish {path} FILE… --key KEY`")]
    RepoDirExists { path: PathBuf },
    #[error("{path}: {why}\nhint: if you rotated the signing key, check the repository (`berth repo verify DIR --key OLD.pub`) and pass --accept-existing to sign it as it is")]
    ForeignIndex { path: PathBuf, why: String },
    #[error("{path} is not a repository (no index.json)\nhint: `berth repo init {path} --channel stable` makes one")]
    NotARepo { path: PathBuf },
    #[error("{name}@{version} is already in {repo} with other content (sha256 {existing})\nhint: published packages are immutable; publish the new build under a new version")]
    PublishConflict {
        repo: PathBuf,
        name: String,
        version: String,
        existing: String,
    },

    #[error("update failed for {}; the previous index of each stays in force\nhint: see the errors above", .failed.join(", "))]
    UpdateFailed { failed: Vec<String>, code: i32 },
    #[error("invalid channel `{channel}`: {why}")]
    BadChannel { channel: String, why: String },
    #[error("cannot sign {file}: {why}\nhint: check the secret key (`minisign -S` with it should work too)")]
    SignFailed { file: String, why: String },
    #[error("{path} changed while it was being published\nhint: publish it again once it is complete; nothing was signed")]
    ChangedDuringPublish { path: PathBuf },
    #[error("{url}: malformed index: {why}\nhint: the index is signed but not one this berth understands; ask the publisher to republish it")]
    BadIndex { url: String, why: String },
}

fn list_hint(existing: &[String]) -> String {
    if existing.is_empty() {
        " (none is configured)".into()
    } else {
        format!("; configured: {}", existing.join(", "))
    }
}

fn versions_hint(versions: &[String]) -> String {
    if versions.is_empty() {
        String::new()
    } else {
        format!(" (available: {})", versions.join(", "))
    }
}

impl Error {
    /// The documented exit code of this error.
    pub fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            BadUrl { .. }
            | BadPublicKey { .. }
            | BadSecretKey { .. }
            | BadRepoName { .. }
            | BadConfig { .. }
            | NeedNameVersion { .. }
            | BadChannel { .. }
            | UnknownKind { .. } => exit::USAGE,
            KeyExists { .. }
            | RepoExists { .. }
            | RepoDirExists { .. }
            | PublishConflict { .. } => exit::CONFLICT,
            NotARepo { .. } => exit::NOT_FOUND,
            UnknownRepo { .. }
            | NoRepos
            | NoIndex { .. }
            | UnknownPackage { .. }
            | NotFound { .. } => exit::NOT_FOUND,
            Network { .. } | Truncated { .. } => exit::FAILURE,
            Unsigned { .. }
            | BadSignature { .. }
            | UnpinnedKey { .. }
            | LegacySignature { .. }
            | Rollback { .. }
            | SerialReused { .. }
            | Expired { .. }
            | TooFarAhead { .. }
            | WrongChannel { .. }
            | TooLarge { .. }
            | HashMismatch { .. }
            | SizeMismatch { .. }
            | RepoDamaged { .. }
            | ForeignIndex { .. } => exit::INTEGRITY,
            BadIndex { .. } => exit::REFUSED,
            SignFailed { .. } | ChangedDuringPublish { .. } => exit::FAILURE,
            UpdateFailed { code, .. } => *code,
        }
    }

    /// True for failures of the transport (worth trying the next mirror quietly).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Error::Network { .. } | Error::Truncated { .. } | Error::NotFound { .. }
        )
    }
}
