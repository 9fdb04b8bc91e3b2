//! What can go wrong with keys, repositories and downloads: one variant per failure, each
//! naming its URL or path, the hint it offers, and the exit code it maps to (README "Exit
//! codes").

use crate::error::{exit, ModuleError};
use std::path::PathBuf;

/// Errors of the repository layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid repository URL `{url}`: {why}")]
    BadUrl { url: String, why: String },
    #[error("invalid public key `{key}`: {why}")]
    BadPublicKey { key: String, why: String },
    #[error("{path}: cannot use this secret key: {why}")]
    BadSecretKey {
        path: PathBuf,
        why: String,
        hint: &'static str,
    },
    #[error("{path} already exists")]
    KeyExists { path: PathBuf },
    #[error(
        "invalid repository name `{name}`: use lowercase letters, digits and - _ . (at most 64)"
    )]
    BadRepoName { name: String },
    #[error("a repository named `{name}` is already configured")]
    RepoExists { name: String },
    #[error("{path}: {why}")]
    BadConfig {
        path: PathBuf,
        why: String,
        hint: &'static str,
    },
    #[error("{path}: {why}")]
    Unsigned { path: PathBuf, why: String },
    #[error("{path}: cannot tell what kind of package this is ({why})")]
    UnknownKind { path: PathBuf, why: String },

    #[error("no repository named `{name}`{}", list_part(.existing))]
    UnknownRepo { name: String, existing: Vec<String> },
    #[error("no repositories are configured")]
    NoRepos,
    #[error("repository `{name}` has no verified index yet")]
    NoIndex { name: String },
    #[error("no package `{reference}` in the indexes of {}{}", .repos.join(", "), versions_part(.versions))]
    NotInIndexes {
        reference: String,
        repos: Vec<String>,
        versions: Vec<String>,
    },
    #[error("{url}: not found (HTTP 404)")]
    NotFound { url: String },

    #[error("{url}: {why}")]
    Network {
        url: String,
        why: String,
        hint: &'static str,
    },
    #[error("{url}: the connection ended after {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },

    #[error("key {key_id} is not pinned for repository `{repo}` (pinned: {})", .pinned.join(", "))]
    KeyNotPinned {
        repo: String,
        key_id: String,
        pinned: Vec<String>,
    },
    #[error("key {key_id} is the only key pinned for repository `{repo}`")]
    LastKey { repo: String, key_id: String },
    #[error("{path}: bad signature: {why}")]
    BadFileSignature { path: PathBuf, why: String },
    #[error("{path}: signed by key {key_id}, which is not trusted (trusted: {})", .trusted.join(", "))]
    UntrustedFileKey {
        path: PathBuf,
        key_id: String,
        trusted: Vec<String>,
    },
    #[error("{url}: bad signature: {why}")]
    BadSignature { url: String, why: String },
    #[error("{url}: signed by key {key_id}, which is not pinned for repository `{repo}` (pinned: {})", .pinned.join(", "))]
    UnpinnedKey {
        url: String,
        repo: String,
        key_id: String,
        pinned: Vec<String>,
    },
    #[error("{url}: legacy (non-prehashed) minisign signature refused")]
    LegacySignature { url: String },
    #[error("{url}: index serial {serial} is older than serial {last}, seen before (rollback)")]
    Rollback { url: String, serial: u64, last: u64 },
    #[error("{url}: index serial {serial} was seen before with different content (replay)")]
    SerialReused { url: String, serial: u64 },
    #[error("{url}: index expired at {expires} (freeze)")]
    Expired { url: String, expires: String },
    #[error("{url}: index expires at {expires}, more than {max} from now")]
    TooFarAhead {
        url: String,
        expires: String,
        max: String,
    },
    #[error(
        "{url}: index is for channel `{actual}`, repository `{repo}` is pinned to `{expected}`"
    )]
    WrongChannel {
        url: String,
        repo: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: {what} is larger than {limit} bytes")]
    TooLarge {
        url: String,
        what: &'static str,
        limit: u64,
    },
    #[error("{url}: sha256 is {actual}, the signed index says {expected}")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: bytes {start}-{end}: {what}")]
    RangeMismatch {
        url: String,
        start: u64,
        end: u64,
        what: String,
    },
    #[error("{url}: {actual} bytes, the signed index says {expected}")]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("{path}: {problems} problem(s) found")]
    RepoDamaged { path: PathBuf, problems: usize },

    #[error("{path} already holds a repository (index.json)")]
    RepoDirExists { path: PathBuf },
    #[error("{path}: {why}")]
    ForeignIndex { path: PathBuf, why: String },
    #[error("{path} is not a repository (no index.json)")]
    NotARepo { path: PathBuf },
    #[error("{name}@{version} is already in {repo} with other content (sha256 {existing})")]
    PublishConflict {
        repo: PathBuf,
        name: String,
        version: String,
        existing: String,
    },

    #[error("update failed for {}; the previous index of each stays in force", .failed.join(", "))]
    UpdateFailed { failed: Vec<String>, code: i32 },
    #[error("invalid channel `{channel}`: {why}")]
    BadChannel { channel: String, why: String },
    #[error("cannot sign {file}: {why}")]
    SignFailed { file: String, why: String },
    #[error("{path} changed while it was being published")]
    ChangedDuringPublish { path: PathBuf },
    #[error("{url}: malformed index: {why}")]
    BadIndex { url: String, why: String },
}

fn list_part(existing: &[String]) -> String {
    if existing.is_empty() {
        " (none is configured)".into()
    } else {
        format!("; configured: {}", existing.join(", "))
    }
}

fn versions_part(versions: &[String]) -> String {
    if versions.is_empty() {
        String::new()
    } else {
        format!(" (available: {})", versions.join(", "))
    }
}

impl ModuleError for Error {
    fn hint(&self) -> Option<String> {
        self.setup_hint()
            .or_else(|| self.lookup_hint())
            .or_else(|| self.transport_hint())
            .or_else(|| self.integrity_hint())
            .or_else(|| self.publish_hint())
    }

    fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            BadUrl { .. }
            | BadPublicKey { .. }
            | BadSecretKey { .. }
            | BadRepoName { .. }
            | BadConfig { .. }
            | BadChannel { .. }
            | UnknownKind { .. } => exit::USAGE,
            KeyExists { .. }
            | RepoExists { .. }
            | RepoDirExists { .. }
            | PublishConflict { .. } => exit::CONFLICT,
            NotARepo { .. } => exit::NOT_FOUND,
            KeyNotPinned { .. } => exit::NOT_FOUND,
            LastKey { .. } => exit::CONFLICT,
            BadFileSignature { .. } | UntrustedFileKey { .. } => exit::INTEGRITY,
            UnknownRepo { .. }
            | NoRepos
            | NoIndex { .. }
            | NotInIndexes { .. }
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
            | RangeMismatch { .. }
            | SizeMismatch { .. }
            | RepoDamaged { .. }
            | ForeignIndex { .. } => exit::INTEGRITY,
            BadIndex { .. } => exit::REFUSED,
            SignFailed { .. } | ChangedDuringPublish { .. } => exit::FAILURE,
            UpdateFailed { code, .. } => *code,
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> crate::Error {
        crate::Error::module(e)
    }
}

impl Error {
    /// Keys, names and configuration.
    fn setup_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            BadUrl { .. } => s("use http://HOST/PATH/, https://HOST/PATH/ or file:///ABSOLUTE/PATH/"),
            BadPublicKey { .. } => s("pass the second line of a minisign .pub file (it starts with RW), the whole file's text, or its path"),
            BadSecretKey { hint, .. } => s(hint),
            KeyExists { .. } => s("choose another name, or remove the old key files first (nothing was overwritten)"),
            RepoExists { name, .. } => Some(format!("`berth repo remove {name}` first, or choose another name")),
            BadConfig { hint, .. } => s(hint),
            Unsigned { .. } => s("sign it (`berth key sign`, `minisign -S`) and pass --signature FILE, or pass --insecure to install it unsigned"),
            UnknownKind { .. } => s("repositories take .berth files, tarballs (.tar, .tar.gz, .tar.xz, .tar.zst), .deb and .rpm"),
            _ => None,
        }
    }

    /// Repositories and packages that are not there.
    fn lookup_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            UnknownRepo { .. } => s("`berth repo list` shows them"),
            NoRepos => s("`berth repo add NAME URL --key PUBKEY`, then `berth update`"),
            NoIndex { name, .. } => Some(format!("`berth update {name}`")),
            NotInIndexes { .. } => s("`berth search NAME` lists what the repositories offer; `berth update` fetches their newest indexes"),
            NotFound { .. } => s("check the repository URL (`berth repo list`) and that the file was published"),
            _ => None,
        }
    }

    /// Downloads and updates.
    fn transport_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            Network { hint, .. } => s(hint),
            UpdateFailed { .. } => s("see the errors above"),
            Truncated { .. } => s(
                "try again; the partial download was deleted (berth never resumes unverified data)",
            ),
            _ => None,
        }
    }

    /// What the signature and the index say.
    fn integrity_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            BadSignature { .. } => s("the index or its signature was altered, or signed by another key; the previous index stays in force"),
            UnpinnedKey { repo, .. } => Some(format!("if the publisher rotated keys, pin the new one with `berth repo key add {repo} KEY` after checking it out of band; the previous index stays in force")),
            BadFileSignature { .. } => s("the file or its signature was altered, or they do not belong together; nothing was installed"),
            UntrustedFileKey { .. } => s("pin the key for a repository (`berth repo key add`) or put its .pub file in the root's keys/, after checking it out of band; nothing was installed"),
            KeyNotPinned { repo, .. } => Some(format!("`berth repo list` shows the keys of {repo}")),
            LastKey { repo, .. } => Some(format!("pin the new key first (`berth repo key add {repo} NEW.pub`), then remove the old one")),
            LegacySignature { .. } => s("re-sign with a current minisign (default) or `berth repo publish`; the previous index stays in force"),
            Rollback { .. } => s("a mirror or an attacker serves an old index; the previous index stays in force"),
            SerialReused { .. } => s("the publisher must bump the serial for every change (`berth repo publish` does); the previous index stays in force"),
            Expired { .. } => s("the publisher must re-sign it (`berth repo publish DIR --key KEY` refreshes the expiry); the previous index stays in force"),
            TooFarAhead { .. } => s("publish with a shorter --valid-for, or raise `berth update --max-validity`; the previous index stays in force"),
            WrongChannel { actual, .. } => Some(format!("`berth repo add` with --channel {actual} if that is what you want; the previous index stays in force")),
            TooLarge { .. } => s("the server sends more than it should; nothing was kept"),
            HashMismatch { .. } => s("the mirror serves altered bytes; nothing was installed and nothing was kept"),
            SizeMismatch { .. } => s("the mirror serves other bytes than were published; nothing was kept"),
            RangeMismatch { .. } => s("the mirror serves altered bytes for this range; nothing was installed and nothing was kept"),
            BadIndex { .. } => s("the index is signed but not one this berth understands; ask the publisher to republish it"),
            RepoDamaged { .. } => s("republish the damaged files, or restore the repository from its source"),
            _ => None,
        }
    }

    /// Publishing and signing.
    fn publish_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            RepoDirExists { path, .. } => Some(format!("publish into it with `berth repo publish {path} FILE… --key KEY`", path = path.display())),
            ForeignIndex { .. } => s("if you rotated the signing key, check the repository (`berth repo verify DIR --key OLD.pub`) and pass --accept-existing to sign it as it is"),
            NotARepo { path, .. } => Some(format!("`berth repo init {path} --channel stable` makes one", path = path.display())),
            SignFailed { .. } => s("check the secret key (`minisign -S` with it should work too)"),
            ChangedDuringPublish { .. } => s("publish it again once it is complete; nothing was signed"),
            PublishConflict { .. } => s("published packages are immutable; publish the new build under a new version"),
            _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_error_keeps_its_message_hint_exit_code_and_type() {
        let e: crate::Error = Error::NoIndex {
            name: "main".into(),
        }
        .into();
        assert_eq!(e.to_string(), "repository `main` has no verified index yet");
        assert_eq!(e.hint().as_deref(), Some("`berth update main`"));
        assert_eq!(e.exit_code(), exit::NOT_FOUND);
        assert!(matches!(
            e.downcast_ref::<Error>(),
            Some(Error::NoIndex { name }) if name == "main"
        ));
        assert!(e.downcast_ref::<crate::isolate::Error>().is_none());
    }
}
