//! Where a berth root lives and the names of everything inside it (DESIGN.md "On-disk layout").

use crate::env;
use std::path::{Path, PathBuf};

/// A berth root directory and the paths of its parts.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// A root at `path` (made absolute, so links and messages are unambiguous).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let path = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map(|c| c.join(&path))
                .unwrap_or(path)
        };
        Root { path }
    }

    /// `--root`, else `$BERTH_ROOT`, else `/var/lib/berth` for root, else the XDG data dir.
    pub fn resolve(flag: Option<&Path>) -> Self {
        if let Some(p) = flag {
            return Root::new(p);
        }
        if let Some(p) = std::env::var_os(env::BERTH_ROOT).filter(|p| !p.is_empty()) {
            return Root::new(PathBuf::from(p));
        }
        if nix::unistd::geteuid().is_root() {
            return Root::new("/var/lib/berth");
        }
        if let Some(p) = std::env::var_os(env::XDG_DATA_HOME).filter(|p| !p.is_empty()) {
            return Root::new(PathBuf::from(p).join("berth"));
        }
        let home = std::env::var_os(env::HOME).unwrap_or_else(|| ".".into());
        Root::new(PathBuf::from(home).join(".local/share/berth"))
    }

    /// The root directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The lock every mutation takes.
    pub fn lock_file(&self) -> PathBuf {
        self.path.join(".lock")
    }
    /// Installed entries.
    pub fn store(&self) -> PathBuf {
        self.path.join("store")
    }
    /// The content-addressed object pool.
    pub fn objects(&self) -> PathBuf {
        self.path.join("store/.objects")
    }
    /// In-progress installs.
    pub fn staging(&self) -> PathBuf {
        self.path.join("store/.staging")
    }
    /// Entries being deleted.
    pub fn trash(&self) -> PathBuf {
        self.path.join("store/.trash")
    }
    /// Pins: entries kept with no profile using them.
    pub fn pins(&self) -> PathBuf {
        self.path.join("store/.pins")
    }
    /// Generations of every profile.
    pub fn generations(&self) -> PathBuf {
        self.path.join("generations")
    }
    /// Profile links.
    pub fn profiles(&self) -> PathBuf {
        self.path.join("profiles")
    }
    /// Shims (put this on PATH).
    pub fn shims(&self) -> PathBuf {
        self.path.join("shims")
    }
    /// The shim binary every shim links to.
    pub fn shim_binary(&self) -> PathBuf {
        self.path.join("libexec/berth-shim")
    }
    /// The file naming the profile shims use when nothing else says.
    pub fn default_profile(&self) -> PathBuf {
        self.path.join(berth_shim::DEFAULT_PROFILE_FILE)
    }
    /// Operator-edited configuration, per profile.
    pub fn etc(&self) -> PathBuf {
        self.path.join("etc")
    }
    /// Service data, per profile.
    pub fn var(&self) -> PathBuf {
        self.path.join("var")
    }
}
