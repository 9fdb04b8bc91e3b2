//! The typed errors of berth's library code and the exit codes they map to.

use std::path::PathBuf;

/// Result with berth's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Documented exit codes (also listed in `berth --help`).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Any failure without a more specific code (I/O errors, verify failures …).
    pub const FAILURE: i32 = 1;
    /// Bad command line.
    pub const USAGE: i32 = 2;
    /// A named file, package, version or profile does not exist.
    pub const NOT_FOUND: i32 = 3;
    /// The request conflicts with the store (name@version clash, entry in use, path collision).
    pub const CONFLICT: i32 = 4;
    /// Integrity: checksum mismatch, or store files that no longer match their list.
    pub const INTEGRITY: i32 = 5;
    /// Refused input: a hostile or malformed archive or manifest.
    pub const REFUSED: i32 = 6;
    /// Gave up waiting for the root's lock (`--lock-timeout`).
    pub const LOCKED: i32 = 7;
}

/// Why an archive member was refused by safe extraction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    #[error("absolute path")]
    AbsolutePath,
    #[error("backslash in path")]
    Backslash,
    #[error("`..` component in path")]
    DotDot,
    #[error("empty name")]
    EmptyName,
    #[error("name is not valid UTF-8")]
    NonUtf8,
    #[error("control character in name")]
    ControlChar,
    #[error("symlink target `{0}` is absolute")]
    SymlinkAbsolute(String),
    #[error("symlink target `{0}` points outside the package")]
    SymlinkEscapes(String),
    #[error("path passes through symlink `{0}` of the archive")]
    ThroughSymlink(String),
    #[error("hard link target `{0}` is outside the package")]
    HardlinkOutside(String),
    #[error("hard link target `{0}` is not a regular file extracted earlier ({1})")]
    HardlinkBadTarget(String, &'static str),
    #[error("{0} entries are not allowed")]
    SpecialFile(&'static str),
    #[error("unsupported entry type {0:?}")]
    UnknownType(u8),
    #[error("duplicate member")]
    Duplicate,
    #[error("collides with `{0}` when case is folded")]
    CaseCollision(String),
    #[error("PAX size {pax} disagrees with header size {ustar}")]
    PaxSizeMismatch { pax: u64, ustar: u64 },
    #[error("inconsistent header: {0}")]
    BadHeader(String),
    #[error("unpacked size exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("path deeper than {limit} components")]
    TooDeep { limit: usize },
    #[error("path longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("path component longer than {limit} bytes")]
    ComponentTooLong { limit: usize },
    #[error("`{0}` is a file in this archive, so nothing can be placed under it")]
    NotADirectory(String),
    #[error("`.berth/` is reserved for berth's own metadata")]
    Reserved,
    #[error("not listed in .berth/files")]
    Unlisted,
    #[error("does not match .berth/files: {0}")]
    ListMismatch(String),
}

/// Every error berth's library can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no such file\nhint: check the path; relative paths are taken from the current directory")]
    InputNotFound { path: PathBuf },
    #[error("{archive}: member `{member}` refused: {why}\nhint: the archive is unsafe or corrupt; nothing was installed")]
    Unsafe {
        archive: PathBuf,
        member: String,
        why: Unsafe,
    },
    #[error("{archive}: cannot read archive: {detail}\nhint: is it a tar, .tar.gz, .tar.xz, .tar.zst or .berth file?")]
    BadArchive { archive: PathBuf, detail: String },
    #[error("{path}:{line}:{column}: {message}")]
    Manifest {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    ManifestValue { path: PathBuf, message: String },
    #[error("invalid {what} `{value}`: {why}")]
    InvalidName {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{archive}: sha256 is {actual}, expected {expected}\nhint: the file is corrupt or not the one you meant; nothing was installed")]
    ChecksumMismatch {
        archive: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{name}@{version} is already installed with id {installed}, and {archive} has different content (id {new})\nhint: give the new build a new version")]
    VersionClash {
        name: String,
        version: String,
        installed: String,
        new: String,
        archive: PathBuf,
    },
    #[error("{archive}: cannot tell the package name and version\nhint: pass --name NAME --version VERSION, or name the file NAME-VERSION.tar.gz")]
    NeedNameVersion { archive: PathBuf },
    #[error("no installed package matches `{reference}`{}\nhint: `berth list` shows what is installed", installed_hint(.installed))]
    UnknownPackage {
        reference: String,
        installed: Vec<String>,
    },
    #[error("`{reference}` is ambiguous: it matches {}\nhint: add a version or a longer id prefix", .matches.join(", "))]
    AmbiguousPackage {
        reference: String,
        matches: Vec<String>,
    },
    #[error("{entry} is used by {}\nhint: drop it from those profiles first (`berth drop PROFILE NAME`), or remove the generations", .users.join(", "))]
    EntryInUse { entry: String, users: Vec<String> },
    #[error("{path} is provided by both {first} and {second}\nhint: drop one of them, or let one win with `berth use --prefer NAME`; nothing was changed")]
    PathConflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("no profile named `{profile}`{}\nhint: `berth use {profile} PACKAGE` creates it", profiles_hint(.existing))]
    UnknownProfile {
        profile: String,
        existing: Vec<String>,
    },
    #[error("profile {profile} has no generation {number}; it has {}\nhint: `berth generations {profile}` lists them", .existing.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))]
    NoSuchGeneration {
        profile: String,
        number: u64,
        existing: Vec<u64>,
    },
    #[error("profile {profile} has no package {package}; it has {}\nhint: `berth generations {profile}` shows what each generation holds", if .has.is_empty() { "none".to_string() } else { .has.join(", ") })]
    NotInProfile {
        profile: String,
        package: String,
        has: Vec<String>,
    },
    #[error("{what} is not implemented yet\nhint: {hint}")]
    NotImplemented { what: String, hint: String },
    #[error("{entry} is pinned\nhint: `berth unpin {entry}` first, then remove it")]
    EntryPinned { entry: String },
    #[error("store entry {entry}: {problem}")]
    Corrupt { entry: String, problem: String },
    #[error("verify failed: {count} problem(s) found\nhint: reinstall the damaged packages from their artifacts (`berth remove` then `berth install`)")]
    VerifyFailed { count: usize },
    #[error("timed out after {secs}s waiting for the lock on {path} (held by {holder})\nhint: wait for that command to finish, or raise --lock-timeout")]
    LockTimeout {
        path: PathBuf,
        holder: String,
        secs: u64,
    },
    /// Internal signal: the package being read is already installed (at this path), so
    /// extraction stops early. Never shown: install turns it into "unchanged".
    #[error("already installed at {0}")]
    AlreadyInstalled(PathBuf),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Repo(#[from] crate::repo::Error),
    #[error("{message}\nhint: {hint}")]
    Other { message: String, hint: String },
}

fn profiles_hint(existing: &[String]) -> String {
    if existing.is_empty() {
        " (there are no profiles yet)".to_string()
    } else {
        format!("; profiles: {}", existing.join(", "))
    }
}

fn installed_hint(installed: &[String]) -> String {
    if installed.is_empty() {
        " (nothing is installed)".to_string()
    } else {
        format!("; installed: {}", installed.join(", "))
    }
}

impl Error {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io { .. }
            | Error::Corrupt { .. }
            | Error::Other { .. }
            | Error::AlreadyInstalled(_) => exit::FAILURE,
            Error::VerifyFailed { .. } => exit::INTEGRITY,
            Error::InputNotFound { .. }
            | Error::UnknownPackage { .. }
            | Error::UnknownProfile { .. }
            | Error::NoSuchGeneration { .. }
            | Error::NotInProfile { .. } => exit::NOT_FOUND,
            Error::NotImplemented { .. } => exit::USAGE,
            Error::PathConflict { .. } => exit::CONFLICT,
            Error::AmbiguousPackage { .. } | Error::Usage(_) | Error::NeedNameVersion { .. } => {
                exit::USAGE
            }
            Error::InvalidName { .. } => exit::USAGE,
            Error::VersionClash { .. } | Error::EntryInUse { .. } | Error::EntryPinned { .. } => {
                exit::CONFLICT
            }
            Error::ChecksumMismatch { .. } => exit::INTEGRITY,
            Error::Unsafe { .. }
            | Error::BadArchive { .. }
            | Error::Manifest { .. }
            | Error::ManifestValue { .. } => exit::REFUSED,
            Error::LockTimeout { .. } => exit::LOCKED,
            Error::Repo(e) => e.exit_code(),
        }
    }
}

/// Adds the path to an `io::Result`, the way `fs-err` does.
pub trait IoContext<T> {
    /// Names the operation and path in the error.
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, std::io::Error::from(e)))
    }
}
