//! Plain tarballs: where their name and version come from when the user does not say.

/// Archive suffixes berth recognises, longest first.
const SUFFIXES: &[&str] = &[
    ".tar.gz",
    ".tar.xz",
    ".tar.zst",
    ".tar.zstd",
    ".tgz",
    ".txz",
    ".tzst",
    ".tar",
    ".berth",
];

/// Splits `NAME-VERSION.tar.*` into name and version: the version starts after the first
/// `-` that is followed by a digit (`my-app2-1.0.tgz` is `my-app2` 1.0).
pub fn name_version_from_file(file_name: &str) -> Option<(String, String)> {
    let stem = SUFFIXES
        .iter()
        .find_map(|s| file_name.strip_suffix(s))
        .unwrap_or(file_name);
    let bytes = stem.as_bytes();
    let split = (0..bytes.len().saturating_sub(1))
        .find(|&i| bytes[i] == b'-' && bytes[i + 1].is_ascii_digit())?;
    let (name, version) = (&stem[..split], &stem[split + 1..]);
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((name.to_string(), version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names() {
        let s = |n: &str| name_version_from_file(n);
        assert_eq!(
            s("prettier-3.3.3.tgz"),
            Some(("prettier".into(), "3.3.3".into()))
        );
        assert_eq!(
            s("my-app2-1.0-rc1.tar.gz"),
            Some(("my-app2".into(), "1.0-rc1".into()))
        );
        assert_eq!(s("node-v20.tar.xz"), None);
        assert_eq!(s("thing.tar"), None);
    }
}
