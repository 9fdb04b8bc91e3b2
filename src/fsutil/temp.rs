//! The one scheme for temporary names inside the root: `.<stem>.tmp.<pid>.<n>`. Every
//! half-made thing (a file being written, a generation being built, a tree being deleted)
//! carries such a name until its single commit rename, so whatever a crash leaves behind is
//! recognised by [`is_temp`] and removed by the next command that holds the lock.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary sibling of `stem` that no other process or thread will pick.
pub fn temp_name(stem: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{stem}.tmp.{}.{n}", std::process::id())
}

/// Whether `name` was made by [`temp_name`].
pub fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp.")
}

/// The stem of a name [`temp_name`] made (`.<stem>.tmp.<pid>.<n>`), and nothing for any
/// other name: stricter than [`is_temp`], for cleaners that share a directory with the
/// user's own files and must take only berth's.
pub fn temp_stem(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let (stem, tail) = rest.rsplit_once(".tmp.")?;
    let (pid, n) = tail.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (!stem.is_empty() && digits(pid) && digits(n)).then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_and_recognised() {
        let (a, b) = (temp_name("x"), temp_name("x"));
        assert_ne!(a, b);
        assert!(is_temp(&a) && is_temp(&b));
        assert!(!is_temp("x") && !is_temp(".berth") && !is_temp("a.tmp.1"));
        assert_eq!(temp_stem(&temp_name("restore")), Some("restore"));
        assert_eq!(temp_stem(&temp_name("12")), Some("12"));
        for other in [
            ".restore.tmp.x",
            ".restore.tmp.1",
            ".restore.tmp.1.",
            ".tmp.1.2",
            "restore.tmp.1.2",
            ".a.tmp.1.2b",
        ] {
            assert_eq!(temp_stem(other), None, "{other}");
        }
    }
}
