//! Pins: `store/.pins/<entry dir name>` files that keep an entry alive with no profile
//! using it. A pin is a gc root like a generation.

use super::{Entry, Store, PINS};
use crate::error::Result;
use crate::lock::LockedFile;
use crate::root::{DIR_MODE, FILE_MODE};

impl Store {
    /// Pins an entry (pinning twice is fine). Returns false when it was already pinned.
    pub fn pin(&self, _lock: &LockedFile, entry: &Entry) -> Result<bool> {
        let dir = self.dir_mut()?.ensure_dir(PINS, DIR_MODE)?;
        if dir.stat(entry.dir_name())?.is_some() {
            return Ok(false);
        }
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let text = format!("package = \"{}\"\npinned = \"{now}\"\n", entry.spec());
        dir.write_atomic(entry.dir_name(), text.as_bytes(), FILE_MODE)?;
        Ok(true)
    }

    /// Removes the pin of the entry with this directory name. Returns false when there was none.
    pub fn unpin(&self, _lock: &LockedFile, dir_name: &str) -> Result<bool> {
        let Some(store) = self.dir() else {
            return Ok(false);
        };
        let Some(dir) = store.open_dir_opt(PINS)? else {
            return Ok(false);
        };
        if crate::fsutil::is_temp(dir_name) || dir_name.contains('/') {
            return Ok(false);
        }
        let removed = dir.remove_file(dir_name)?;
        if removed {
            dir.fsync()?;
        }
        Ok(removed)
    }

    /// Directory names of every pinned entry, sorted. Temporary files of a crashed
    /// `pin` are not pins.
    pub fn pins(&self) -> Result<Vec<String>> {
        let Some(store) = self.dir() else {
            return Ok(vec![]);
        };
        Ok(store
            .entries_of(PINS)?
            .into_iter()
            .filter_map(|e| e.name_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::lock::LockedFile;
    use crate::root::Root;
    use crate::store::Store;

    #[test]
    fn pins_list_is_empty_without_a_pins_directory_and_unpin_of_nothing_is_false() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::create(&d.path().join("r"), false, &[]).unwrap();
        let lock = LockedFile::acquire(root.dir(), None).unwrap();
        let store = Store::create(&root, &lock).unwrap();
        assert!(store.pins().unwrap().is_empty());
        assert!(!store.unpin(&lock, "x-1-abc").unwrap());
        let pins = store.dir().unwrap().ensure_dir(".pins", 0o755).unwrap();
        pins.write_atomic("x-1-abc", b"", 0o644).unwrap();
        pins.write_atomic(".x-1-abc.tmp.1.0", b"", 0o644).unwrap();
        assert_eq!(store.pins().unwrap(), vec!["x-1-abc".to_string()]);
        assert!(store.unpin(&lock, "x-1-abc").unwrap());
        assert!(store.pins().unwrap().is_empty());
    }
}
