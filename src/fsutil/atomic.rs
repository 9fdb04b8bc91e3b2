//! The one way berth makes a change durable: write a temporary sibling, fsync it, rename it
//! over the target, fsync the directory. Also the symlink-replace helper (temporary link +
//! rename), so that readers see the old state or the new one, never a torn one.

use super::dir::Dir;
use super::temp::temp_name;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;

impl Dir {
    /// Writes `bytes` to `rel` atomically and durably with exactly `mode`.
    pub fn write_atomic(&self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        self.write_atomic_with(rel, mode, |f| {
            f.write_all(bytes)
                .map_err(|e| Error::io("write", self.join(rel), e))
        })
    }

    /// Streams a file into place atomically and durably: `fill` writes a temporary sibling,
    /// which gets exactly `mode`, is fsynced and renamed over `rel` (then the directory is
    /// fsynced). On any error the temporary file is removed and `rel` is untouched.
    pub fn write_atomic_with(
        &self,
        rel: &str,
        mode: u32,
        fill: impl FnOnce(&mut File) -> Result<()>,
    ) -> Result<()> {
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (self.open_dir(p)?, n),
            None => (self.try_clone()?, rel),
        };
        let tmp = temp_name(name);
        let result = (|| {
            let mut f = parent
                .create_file(&tmp, 0o600)
                .map_err(|e| Error::io("create", parent.join(&tmp), e))?;
            fill(&mut f)?;
            rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(mode))
                .map_err(|e| Error::io("chmod", parent.join(&tmp), e.into()))?;
            f.sync_all()
                .map_err(|e| Error::io("fsync", parent.join(&tmp), e))?;
            parent.rename(&tmp, &parent, name)
        })();
        if result.is_err() {
            let _ = parent.remove_file(&tmp);
        }
        result?;
        parent.fsync()
    }

    /// Points the symlink `rel` at `target` atomically (temporary link + rename), then
    /// fsyncs the directory.
    pub fn replace_symlink(&self, target: impl AsRef<Path>, rel: &str) -> Result<()> {
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (self.open_dir(p)?, n),
            None => (self.try_clone()?, rel),
        };
        let tmp = temp_name(name);
        parent.symlink(target, &tmp)?;
        if let Err(e) = parent.rename(&tmp, &parent, name) {
            let _ = parent.remove_file(&tmp);
            return Err(e);
        }
        parent.fsync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_sets_the_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open_path(d.path()).unwrap();
        dir.write_atomic("f", b"one", 0o600).unwrap();
        dir.write_atomic("f", b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"two");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(d.path().join("f")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_symlink_switches_target() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open_path(d.path()).unwrap();
        dir.replace_symlink("a", "link").unwrap();
        dir.replace_symlink("b", "link").unwrap();
        assert_eq!(
            std::fs::read_link(d.path().join("link")).unwrap(),
            Path::new("b")
        );
    }

    #[test]
    fn writes_refuse_to_go_through_a_symlinked_directory() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("sub")).unwrap();
        let dir = Dir::open_path(d.path()).unwrap();
        let e = dir.write_atomic("sub/f", b"x", 0o644).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        // Deeper down, the message names the link itself, not the path asked for.
        let e = dir.write_atomic("sub/x/y/f", b"x", 0o644).unwrap_err();
        let want = format!("{} is a symlink", d.path().join("sub").display());
        assert!(e.to_string().starts_with(&want), "{e}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
