//! Safe extraction, shared by every archive format: the lexical rules every member goes
//! through ([`rules`]), the tar-header guard ([`guard`]) and the tar member reader
//! ([`tar`]). Nothing here looks at the disk; the sink creates what survives inside a
//! fresh private staging directory.

pub mod guard;
pub mod names;
pub mod rules;
pub mod tar;

pub use rules::{check_symlink_target, printable, Checker, Limits};

/// How to extract one archive.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Leading path components to drop (members with no more components are skipped).
    pub strip_components: usize,
    /// Size, count and depth limits.
    pub limits: Limits,
    /// Whether leading `.berth/` members are metadata (the `.berth` format) or refused.
    pub allow_meta: bool,
    /// A native package's data: absolute symlinks and file modes kept (see
    /// [`Checker::native`]).
    pub native: bool,
}

/// What extraction observed beyond the members themselves.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Files whose setuid/setgid/sticky bits were dropped.
    pub special_bits_dropped: Vec<String>,
    /// Members handed to the sink (directories, files, links).
    pub members: u64,
    /// Regular files and hard links among them.
    pub files: u64,
    /// Symlinks among them.
    pub symlinks: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}
