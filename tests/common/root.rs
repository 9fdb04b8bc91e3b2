//! Reading a test root's state, on disk and through `--json`: entries, generations, the
//! profile links, and fixtures that rewrite recorded times.

use super::{children, unseal, Env, Snapshot};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

impl Env {
    /// `berth list --json` as (name, version, id) triples.
    #[track_caller]
    pub fn listed(&self) -> Vec<(String, String, String)> {
        self.json(&["list"])
            .as_array()
            .expect("list --json is an array")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["version"].as_str().unwrap().to_string(),
                    e["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The directory of the installed entry with this id.
    pub fn entry_dir(&self, name: &str, version: &str, id: &str) -> PathBuf {
        self.store().join(format!("{name}-{version}-{id}"))
    }

    /// Store entry directory names (names under `store/` without a leading dot).
    pub fn entries(&self) -> BTreeSet<String> {
        children(&self.store())
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    /// Names under `store/.staging` (missing directory counts as empty).
    pub fn staging_leftovers(&self) -> Vec<String> {
        children(&self.store().join(".staging"))
    }

    /// Names directly under `store/`, dot-directories included, sorted.
    pub fn store_names(&self) -> Vec<String> {
        children(&self.store())
    }

    /// The numbers of a profile's generations on disk, ascending.
    pub fn generations(&self, profile: &str) -> Vec<u64> {
        let mut v: Vec<u64> = children(&self.root().join("generations").join(profile))
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        v.sort_unstable();
        v
    }

    /// The generation number the profile link points to.
    pub fn current(&self, profile: &str) -> Option<u64> {
        let t = std::fs::read_link(self.root().join("profiles").join(profile)).ok()?;
        t.file_name()?.to_str()?.parse().ok()
    }

    /// `name@version` of each package of the profile's current generation.
    #[track_caller]
    pub fn packages(&self, profile: &str) -> Vec<String> {
        let n = self
            .current(profile)
            .expect("the profile has a current generation");
        self.gen_packages(profile, n)
    }

    /// `name@version` of each package of one generation, from its `generation.toml`.
    #[track_caller]
    pub fn gen_packages(&self, profile: &str, n: u64) -> Vec<String> {
        let text = std::fs::read_to_string(self.generation_toml(profile, n)).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        v["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// `<root>/generations/<profile>/<n>/generation.toml`.
    pub fn generation_toml(&self, profile: &str, n: u64) -> PathBuf {
        self.root()
            .join(format!("generations/{profile}/{n}/generation.toml"))
    }

    /// Rewrites the creation time of a generation (fixtures for --older-than).
    pub fn set_created(&self, profile: &str, n: u64, when: std::time::SystemTime) {
        let stamp = humantime::format_rfc3339_seconds(when).to_string();
        rewrite_key(
            &self.generation_toml(profile, n),
            "created",
            &format!("created = \"{stamp}\""),
        );
    }

    /// Holds `<root>/.lock` from this process, as a fake holder (`12345 fake-holder
    /// --doing things`) would, until dropped.
    pub fn hold_lock(&self) -> nix::fcntl::Flock<std::fs::File> {
        std::fs::create_dir_all(self.root()).unwrap();
        let mut f = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.root().join(".lock"))
            .unwrap();
        f.write_all(b"12345 fake-holder --doing things\n").unwrap();
        f.flush().unwrap();
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| e)
            .expect("take the lock")
    }

    /// Every path under the root, with what it is (see [`Snapshot`]), to prove a command
    /// wrote nothing.
    pub fn snapshot(&self) -> Snapshot {
        super::snapshot(self.root(), None)
    }
}

/// Replaces every line of a TOML file that starts with `key` by `line`, through a temporary
/// file and a rename (berth may be reading the file at the same time). The file keeps its
/// mode; a read-only directory (an entry's `.berth/`) is opened for the rename and sealed
/// again.
pub fn rewrite_key(path: &Path, key: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with(key) {
                format!("{line}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let mode = std::fs::metadata(path).unwrap().permissions();
    let dir = path.parent().unwrap();
    let dir_mode = std::fs::metadata(dir).unwrap().permissions();
    let sealed = dir_mode.mode() & 0o200 == 0;
    if sealed {
        unseal(dir);
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, out).unwrap();
    std::fs::set_permissions(&tmp, mode).unwrap();
    std::fs::rename(&tmp, path).unwrap();
    if sealed {
        std::fs::set_permissions(dir, dir_mode).unwrap();
    }
}
