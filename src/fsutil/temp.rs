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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_and_recognised() {
        let (a, b) = (temp_name("x"), temp_name("x"));
        assert_ne!(a, b);
        assert!(is_temp(&a) && is_temp(&b));
        assert!(!is_temp("x") && !is_temp(".berth") && !is_temp("a.tmp.1"));
    }
}
