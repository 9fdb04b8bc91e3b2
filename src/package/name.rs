//! The rules for package names, profile names and versions. The name rule itself lives in
//! the shim crate ([`berth_shim::name_problem`]), so berth and the shim cannot disagree.

use crate::error::{Error, Result};

/// Checks a package or profile name: lowercase letters, digits, `-_.+`, starting with a
/// letter or digit, at most 128 bytes.
pub fn check_name(what: &'static str, name: &str) -> Result<()> {
    match berth_shim::name_problem(name) {
        None => Ok(()),
        Some(why) => Err(Error::InvalidName {
            what,
            value: super::printable::printable(name),
            why,
        }),
    }
}

/// Checks a version: non-empty, at most 128 bytes, no `/`, `@`, whitespace or control
/// characters. Debian's `:` (epoch) and `~` are fine.
pub fn check_version(version: &str) -> Result<()> {
    let err = |why| Error::InvalidName {
        what: "version",
        value: super::printable::printable(version),
        why,
    };
    if version.is_empty() {
        return Err(err("it is empty"));
    }
    if version.len() > 128 {
        return Err(err("it is longer than 128 characters"));
    }
    if version.contains('/') {
        return Err(err("it contains `/`"));
    }
    if version.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("it contains whitespace or control characters"));
    }
    if version.contains('@') {
        return Err(err("it contains `@`, which separates name and version"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_versions_refused() {
        for n in ["", "MyApp", "a/b", "-a", "a b", "ä", ".a", "../x"] {
            assert!(check_name("package name", n).is_err(), "{n}");
        }
        for n in ["a", "my-app_2.0+x", "0ad"] {
            assert!(check_name("package name", n).is_ok(), "{n}");
        }
        for v in ["", "1/2", "1 2", "1\t", "1@2"] {
            assert!(check_version(v).is_err(), "{v:?}");
        }
        assert!(check_version("1:2.0~rc1-3").is_ok());
    }
}
