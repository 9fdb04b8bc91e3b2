//! Where a berth root lives, the names of its top-level parts, and opening it safely: one
//! handle on the root directory that every module resolves its own parts beneath (never
//! through a symlink), after checking that nobody but the user running berth can change it.

use crate::env;
use crate::error::{Error, Result};
use crate::fsutil::{Dir, Kind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Installed entries, the object pool, staging and trash (owned by `store`).
pub const STORE: &str = "store";
/// Generations of every profile (owned by `profile`).
pub const GENERATIONS: &str = "generations";
/// Profile links (owned by `profile`).
pub const PROFILES: &str = berth_shim::PROFILES_DIR;
/// Shims: put this on PATH (owned by `profile`).
pub const SHIMS: &str = "shims";
/// The shim binary every shim links to (owned by `profile`).
pub const LIBEXEC: &str = "libexec";
/// Operator-edited configuration, per profile (owned by `apply`).
pub const ETC: &str = "etc";
/// Service data, per profile (owned by `apply`).
pub const VAR: &str = "var";
/// Holds of running isolated processes (owned by `isolate`).
pub const RUN: &str = "run";
/// Each profile's private range of user ids for isolated runs (owned by `isolate`).
pub const USERS: &str = "users";
/// The profile shims use when nothing else says (owned by `profile`).
pub const DEFAULT_PROFILE: &str = berth_shim::DEFAULT_PROFILE_FILE;

/// Every name berth itself may create at the top of a root; `check` reports anything else.
pub const KNOWN_NAMES: &[&str] = &[
    crate::lock::LOCK_FILE,
    DEFAULT_PROFILE,
    STORE,
    GENERATIONS,
    PROFILES,
    SHIMS,
    LIBEXEC,
    ETC,
    VAR,
    RUN,
    USERS,
    crate::repo::REPOS_TOML,
    crate::repo::CONFIG_TOML,
    crate::repo::STATE_DIR,
    crate::repo::KEYS_DIR,
    crate::repo::CACHE_DIR,
];

/// Mode of every directory berth creates outside the store (entries are 0555).
pub const DIR_MODE: u32 = 0o755;
/// Mode of every metadata file berth writes outside the store.
pub const FILE_MODE: u32 = 0o644;

/// An open berth root.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    dir: Arc<Dir>,
}

/// Where the root is: `--root`, else `$BERTH_ROOT`, else `/var/lib/berth` for root, else the
/// XDG data directory. Made absolute so that links and messages are unambiguous.
pub fn locate(flag: Option<&Path>) -> PathBuf {
    let p = if let Some(p) = flag {
        p.to_path_buf()
    } else if let Some(p) = std::env::var_os(env::BERTH_ROOT).filter(|p| !p.is_empty()) {
        PathBuf::from(p)
    } else if rustix::process::geteuid().is_root() {
        PathBuf::from("/var/lib/berth")
    } else if let Some(p) = std::env::var_os(env::XDG_DATA_HOME).filter(|p| !p.is_empty()) {
        PathBuf::from(p).join("berth")
    } else {
        let home = std::env::var_os(env::HOME).unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(".local/share/berth")
    };
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|c| c.join(&p)).unwrap_or(p)
    }
}

impl Root {
    /// Opens an existing root (`None` when there is none yet), after the permission checks.
    pub fn open(path: &Path, insecure: bool) -> Result<Option<Root>> {
        let Some(root) = Root::open_unchecked(path)? else {
            return Ok(None);
        };
        root.check_permissions(insecure)?;
        Ok(Some(root))
    }

    /// Opens the root, creating it when there is none, without refusing one that others can
    /// write: for `check`, which reports exactly those problems (and `--repair` tightens
    /// them), so the command the refusal's hint names can run.
    pub fn create_unchecked(path: &Path) -> Result<Root> {
        if let Some(r) = Root::open_unchecked(path)? {
            return Ok(r);
        }
        crate::fsutil::create_user_dirs(path)?;
        Root::open_unchecked(path)?.ok_or_else(|| {
            Error::io(
                "open root",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
    }

    fn open_unchecked(path: &Path) -> Result<Option<Root>> {
        let dir = match Dir::open_path(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(Error::NotADirectoryInRoot {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("open root", path, e)),
        };
        Ok(Some(Root {
            path: path.to_path_buf(),
            dir: Arc::new(dir),
        }))
    }

    /// Opens the root, creating it (0755, with missing parents) when there is none.
    pub fn create(path: &Path, insecure: bool) -> Result<Root> {
        if let Some(r) = Root::open(path, insecure)? {
            return Ok(r);
        }
        crate::fsutil::create_user_dirs(path)?;
        Root::open(path, insecure)?.ok_or_else(|| {
            Error::io(
                "open root",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
    }

    /// The root directory's path (for messages and links handed to other programs).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open root directory.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The root and each of its known top-level parts must belong to the user running
    /// berth and be writable by nobody else: otherwise another local user could plant a
    /// link or a file that decides what a root-owned shim runs.
    fn check_permissions(&self, insecure: bool) -> Result<()> {
        let me = rustix::process::geteuid().as_raw();
        let mut problems = Vec::new();
        let st = self.dir.stat_self()?;
        if let Some(p) = permission_problem(&st, me) {
            problems.push(format!("{} {p}", self.path.display()));
        }
        for ent in self.dir.entries()? {
            let Some(name) = ent.name_str() else { continue };
            if !KNOWN_NAMES.contains(&name) || ent.kind == Kind::Symlink {
                continue;
            }
            if let Some(st) = self.dir.stat(name)? {
                if let Some(p) = permission_problem(&st, me) {
                    problems.push(format!("{} {p}", self.path.join(name).display()));
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        if insecure {
            tracing::warn!(
                "--insecure-permissions: going on although {}",
                problems.join("; ")
            );
            return Ok(());
        }
        Err(Error::InsecureRoot {
            path: self.path.clone(),
            problems,
        })
    }
}

/// What is wrong with the owner or mode of one part of the root, if anything.
pub fn permission_problem(st: &crate::fsutil::Stat, me: u32) -> Option<String> {
    if st.st_uid != me {
        return Some(format!(
            "is owned by uid {}, not by the user running berth (uid {me})",
            st.st_uid
        ));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 && crate::fsutil::dir::kind_of(st) != Kind::Symlink {
        return Some(format!("is writable by group or others (mode {mode:o})"));
    }
    None
}
