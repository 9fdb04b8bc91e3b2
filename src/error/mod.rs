//! The typed errors of berth's library code, the hint each one offers, and the exit codes
//! they map to. Messages say what failed and where; [`Error::hint`] says what to do next.
//! The ground knows no module above it: a higher module's error comes in as a
//! [`ModuleError`], which answers its own hint and exit code.

use std::path::PathBuf;

mod hint;

/// How many items of a long list a human message shows before counting the rest.
pub const LIST_SHOWN: usize = 20;

/// The first [`LIST_SHOWN`] items joined by `sep`, then `… and N more`: a message that
/// stays readable whatever a package declares (`--json` output carries every item).
pub fn counted(items: &[String], sep: &str) -> String {
    let mut out = items
        .iter()
        .take(LIST_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > LIST_SHOWN {
        out.push_str(&format!("{sep}… and {} more", items.len() - LIST_SHOWN));
    }
    out
}

/// Result with berth's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Documented exit codes (also listed in `berth --help`).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Any failure without a more specific code (I/O errors, an unsafe root …).
    pub const FAILURE: i32 = 1;
    /// Bad command line: bad arguments, invalid name or version, ambiguous reference.
    pub const USAGE: i32 = 2;
    /// A named file, package, version, generation or profile does not exist.
    pub const NOT_FOUND: i32 = 3;
    /// The request conflicts with the store (name@version clash, entry in use, path collision).
    pub const CONFLICT: i32 = 4;
    /// Integrity: checksum mismatch, store files or metadata that no longer verify.
    pub const INTEGRITY: i32 = 5;
    /// Refused input: a hostile or malformed archive or manifest.
    pub const REFUSED: i32 = 6;
    /// Gave up waiting for the root's lock (`--lock-timeout`).
    pub const LOCKED: i32 = 7;
    /// Not permitted: the system or the caller lacks a privilege (namespaces, `--user`).
    pub const NOT_PERMITTED: i32 = 8;
    /// A switch was stopped or undone: a `pre-switch` hook, the service restart or its
    /// health check failed (the profile is back where it was).
    pub const DEPLOY: i32 = 9;
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
    #[error("truncated: the archive ends inside this member")]
    Truncated,
    // Native packages (.deb, .rpm): their containers and metadata.
    #[error("malformed ar member header: {0}")]
    ArHeader(String),
    #[error("member of {size} bytes, but only {remaining} bytes of the file follow its header")]
    PastEnd { size: u64, remaining: u64 },
    #[error("member of {size} bytes is larger than the limit of {limit} bytes")]
    MemberTooLarge { size: u64, limit: u64 },
    #[error("unexpected member: {0}")]
    UnexpectedMember(String),
    #[error("the package has no such member ({0})")]
    MissingMember(String),
    #[error("compressed with {found}, but named for {named}")]
    CompressionMismatch {
        named: &'static str,
        found: &'static str,
    },
    #[error("cannot decode: {0}")]
    Decode(Decode),
    #[error("{0} bytes after the end of the compressed stream")]
    TrailingData(u64),
    #[error("bad control data: {0}")]
    BadControl(String),
    #[error("conffile `{0}` {1}")]
    BadConffile(String, &'static str),
    #[error("md5sum is {actual}, but md5sums lists {expected}")]
    Md5Mismatch { expected: String, actual: String },
    #[error("listed in md5sums, but {0}")]
    Md5Unchecked(String),
    #[error("bad rpm header: {0}")]
    RpmHeader(String),
    #[error("bad cpio header: {0}")]
    CpioHeader(String),
    #[error("does not match the rpm header: {0}")]
    RpmMismatch(String),
}

/// Why a compressed stream or an archive could not be read, sorted once where the
/// decoder's message arrives (`package::decode`), so that hints match a type, not text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Decode {
    /// The compressed data is damaged (a bad checksum, an invalid block …).
    #[error("the compressed data is corrupt ({0})")]
    Corrupt(String),
    /// A zstd frame asks for a window larger than berth decodes.
    #[error("zstd window larger than the limit of 2^{log} bytes ({} MiB); recompress it without --long=28 or higher ({detail})", (1u64 << .log) >> 20)]
    WindowTooLarge {
        /// The largest window berth accepts, as a power of two.
        log: u32,
        /// The decoder's own words.
        detail: String,
    },
    /// An xz stream needs more memory to decode than berth allows.
    #[error("xz stream needs more than {limit_mib} MiB of memory to decode; recompress it with a smaller dictionary (xz -9 or less) ({detail})")]
    MemoryLimit {
        /// The limit, in MiB.
        limit_mib: u64,
        /// The decoder's own words.
        detail: String,
    },
    /// Anything else: the reader's or decoder's own words.
    #[error("{0}")]
    Other(String),
}

impl From<String> for Decode {
    fn from(detail: String) -> Decode {
        Decode::Other(detail)
    }
}

impl From<&str> for Decode {
    fn from(detail: &str) -> Decode {
        Decode::Other(detail.to_string())
    }
}

/// The error of a module above the ground (repositories, isolation, apply …), carried in
/// [`Error`] without the ground knowing its type: it says its own hint and exit code.
pub trait ModuleError: std::error::Error + Send + Sync + 'static {
    /// What the user can do next, when there is something to say.
    fn hint(&self) -> Option<String>;
    /// The documented exit code (README "Exit codes").
    fn exit_code(&self) -> i32;
}

/// A [`ModuleError`] inside [`Error`]: shown as it is, its source kept.
#[derive(Debug)]
pub struct Module(Box<dyn ModuleError>);

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Module {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Every error berth's library can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}", path = .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is a symlink; berth refuses to follow it", .path.display())]
    SymlinkInRoot { path: PathBuf },
    #[error("{} is not a directory", .path.display())]
    NotADirectoryInRoot { path: PathBuf },
    #[error("{} is not a regular file", .path.display())]
    NotARegularFile { path: PathBuf },
    #[error("{} is larger than {limit} bytes", .path.display())]
    FileTooLarge { path: PathBuf, limit: u64 },
    #[error("the berth root {} is not safe: {}", .path.display(), .problems.join("; "))]
    InsecureRoot {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{}: not a usable output path", .path.display())]
    BadOutputPath { path: PathBuf },
    #[error("output directory {} does not exist", .dir.display())]
    OutputDirMissing { dir: PathBuf },
    #[error("{} is not a directory, so nothing can be written into it", .path.display())]
    OutputNotADirectory { path: PathBuf },
    #[error("timed out after {secs}s waiting for the lock on {} (held by {holder})", .path.display())]
    LockTimeout {
        path: PathBuf,
        holder: String,
        secs: u64,
    },

    #[error("{}: no such file", .path.display())]
    InputNotFound { path: PathBuf },
    #[error("{}: not a regular file ({kind})", .path.display())]
    InputNotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: member `{member}` refused: {why}", .archive.display())]
    Unsafe {
        archive: PathBuf,
        member: String,
        why: Unsafe,
    },
    #[error("{}: cannot read archive: {detail}", .archive.display())]
    BadArchive { archive: PathBuf, detail: Decode },
    #[error("{}: unsupported compression: {what}", .archive.display())]
    UnsupportedCompression {
        archive: PathBuf,
        what: &'static str,
    },
    #[error("{}: the archive holds no files", .archive.display())]
    EmptyArchive { archive: PathBuf },
    #[error("{}: expands more than {limit}:1 (a decompression bomb?)", .archive.display())]
    CompressionRatio { archive: PathBuf, limit: u64 },
    #[error("{}:{line}:{column}: {message}", .path.display())]
    Manifest {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", .path.display())]
    ManifestValue { path: PathBuf, message: String },
    #[error("invalid {what} `{value}`: {why}")]
    InvalidName {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{}: sha256 is {actual}, expected {expected}", .archive.display())]
    ChecksumMismatch {
        archive: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{}: cannot tell the package name and version", .archive.display())]
    NeedNameVersion {
        archive: PathBuf,
        /// How to name it, for the kind of file it is.
        hint: &'static str,
    },
    #[error("{flag} {given} does not match the package's {what} {actual}")]
    FlagMismatch {
        flag: &'static str,
        what: &'static str,
        given: String,
        actual: String,
    },
    #[error("{flag}: {why}")]
    BadFlag { flag: &'static str, why: String },
    #[error("berth has no command `{}`", .name.escape_debug())]
    UnknownCommand { name: String, known: Vec<String> },
    #[error("{name}@{version}: the store entry's name would be {len} bytes, more than the file-name limit of 255")]
    EntryNameTooLong {
        name: String,
        version: String,
        len: usize,
    },

    #[error("{name}@{version} is already installed with id {installed}, and {} has different content (id {new})", .archive.display())]
    VersionClash {
        name: String,
        version: String,
        installed: String,
        new: String,
        archive: PathBuf,
    },
    #[error("no installed package matches `{reference}`{}", installed_part(.installed))]
    UnknownPackage {
        reference: String,
        installed: Vec<String>,
    },
    #[error("`{reference}` is ambiguous: it matches {}", .matches.join(", "))]
    AmbiguousPackage {
        reference: String,
        matches: Vec<String>,
    },
    #[error("`{first}` and `{second}` name the same package; give each package once")]
    DuplicateReference { first: String, second: String },
    #[error("{entry} is used by {}", .users.join(", "))]
    EntryInUse { entry: String, users: Vec<String> },
    #[error("{entry} is pinned")]
    EntryPinned { entry: String },
    #[error("store entry {entry}: {problem}")]
    Corrupt { entry: String, problem: String },
    #[error("{what} failed: {count} problem(s) found")]
    IntegrityFailed { what: &'static str, count: usize },
    #[error("{}: the disk holding the berth root {} is full", .archive.display(), .root.display())]
    DiskFull { archive: PathBuf, root: PathBuf },
    #[error("{entry} was installed, but {what} failed: {source}")]
    InstalledButFailed {
        entry: String,
        what: &'static str,
        #[source]
        source: Box<Error>,
    },

    #[error("no profile named `{profile}`{}", profiles_part(.existing))]
    UnknownProfile {
        profile: String,
        existing: Vec<String>,
    },
    #[error("profile {profile} has no generation {number}; it has {}", join_numbers(.existing))]
    NoSuchGeneration {
        profile: String,
        number: u64,
        existing: Vec<u64>,
    },
    #[error("profile {profile} is at generation {current}, its oldest; there is nothing {what}")]
    NoEarlierGeneration {
        profile: String,
        current: u64,
        what: &'static str,
    },
    #[error("profile {profile} has no package {package}; it has {}", if .has.is_empty() { "none".to_string() } else { .has.join(", ") })]
    NotInProfile {
        profile: String,
        package: String,
        has: Vec<String>,
    },
    #[error("{path} is provided by both {first} and {second}")]
    PathConflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("refusing to delete generation {number} of {profile}: it is the current one or newer")]
    DeleteCurrent { profile: String, number: u64 },
    #[error("{}: invalid {what}: {detail}", .path.display())]
    BadState {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{0}")]
    NoProfileChosen(String),
    #[error("{message}")]
    CommandNotInProfile { message: String, profile: String },
    #[error("cannot run {program} in profile {profile}: {source}")]
    Exec {
        program: String,
        profile: String,
        #[source]
        source: std::io::Error,
    },
    #[error("profile {profile}: {} unmet dependenc{}: {}", .unmet.len(), if .unmet.len() == 1 { "y" } else { "ies" }, counted(.unmet, "; "))]
    UnmetDependencies { profile: String, unmet: Vec<String> },
    #[error("internal error: cannot encode {what}: {detail}")]
    Internal { what: &'static str, detail: String },
    /// A higher module's error (repositories, isolation, apply, deploy): boxed, since some
    /// carry command output and would make every Result large.
    #[error(transparent)]
    Module(Module),
}

fn profiles_part(existing: &[String]) -> String {
    if existing.is_empty() {
        " (there are no profiles yet)".to_string()
    } else {
        format!("; profiles: {}", existing.join(", "))
    }
}

fn installed_part(installed: &[String]) -> String {
    if installed.is_empty() {
        " (nothing is installed)".to_string()
    } else {
        format!("; installed: {}", installed.join(", "))
    }
}

fn join_numbers(n: &[u64]) -> String {
    n.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
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

    /// Carries a higher module's error (each module's `From` impl calls this).
    pub fn module(e: impl ModuleError) -> Self {
        Error::Module(Module(Box::new(e)))
    }

    /// The higher module's error of type `E` inside, if that is what this is.
    pub fn downcast_ref<E: ModuleError>(&self) -> Option<&E> {
        match self {
            Error::Module(Module(e)) => {
                let e: &(dyn std::error::Error + 'static) = &**e;
                e.downcast_ref::<E>()
            }
            _ => None,
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
