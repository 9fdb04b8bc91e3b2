//! Pins: `store/.pins/<entry dir name>` files that keep an entry alive with no profile
//! using it. A pin is a gc root like a generation.

use super::lock::LockedFile;
use super::{Entry, Store};
use crate::error::{Error, Result};

impl Store {
    /// Pins an entry (pinning twice is fine). Returns false when it was already pinned.
    pub fn pin(&self, _lock: &LockedFile, entry: &Entry) -> Result<bool> {
        let dir = self.root.pins();
        crate::fsutil::create_dir_all(&dir)?;
        let path = dir.join(entry.dir_name());
        if path.exists() {
            return Ok(false);
        }
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let text = format!("package = \"{}\"\npinned = \"{now}\"\n", entry.spec());
        crate::fsutil::atomic_write(&path, text.as_bytes())?;
        Ok(true)
    }

    /// Removes the pin of the entry with this directory name. Returns false when there was none.
    pub fn unpin(&self, _lock: &LockedFile, dir_name: &str) -> Result<bool> {
        let path = self.root.pins().join(dir_name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                crate::fsutil::fsync_dir(&self.root.pins())?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove pin", path, e)),
        }
    }

    /// Directory names of every pinned entry, sorted. Temporary files of a crashed
    /// `pin` (dot names) are not pins.
    pub fn pins(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for path in crate::fsutil::children(&self.root.pins())? {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if !name.starts_with('.') {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::root::Root;
    use crate::store::{LockedFile, Store};

    #[test]
    fn pins_list_is_empty_without_a_pins_directory_and_unpin_of_nothing_is_false() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path());
        let store = Store::new(&root);
        assert!(store.pins().unwrap().is_empty());
        let lock = LockedFile::acquire(&root.lock_file(), None).unwrap();
        assert!(!store.unpin(&lock, "x-1-abc").unwrap());
        std::fs::create_dir_all(root.pins()).unwrap();
        std::fs::write(root.pins().join("x-1-abc"), "").unwrap();
        std::fs::write(root.pins().join(".x-1-abc.tmp.1.0"), "").unwrap();
        assert_eq!(store.pins().unwrap(), vec!["x-1-abc".to_string()]);
        assert!(store.unpin(&lock, "x-1-abc").unwrap());
        assert!(store.pins().unwrap().is_empty());
    }
}
