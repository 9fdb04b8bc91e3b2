//! `usr/lib/tmpfiles.d/*.conf` as a package ships it (tmpfiles.d(5)): only the lines that
//! make a directory or a file (`d`, `D`, `f`), with their path, mode, user and group, since
//! those are what a service expects to find under /var or /run before it starts. Other
//! line types (links, cleanups, attributes) are skipped.

use super::unit::{check_absolute, UnitError};

/// Where a package ships its tmpfiles.d snippets.
pub const TMPFILES_DIR: &str = "usr/lib/tmpfiles.d";

/// One `d`/`D`/`f` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpEntry {
    /// `d`, `D` or `f`.
    pub kind: char,
    /// Absolute path.
    pub path: String,
    /// Octal mode, when given (not `-`).
    pub mode: Option<u32>,
    /// Owner name or id, when given.
    pub user: Option<String>,
    /// Group name or id, when given.
    pub group: Option<String>,
    /// Its line in the file.
    pub line: usize,
}

/// Parses `text`, the content of the snippet `file` (named in errors).
pub fn parse(file: &str, text: &str) -> Result<Vec<TmpEntry>, UnitError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(t), Some(path)) = (words.first(), words.get(1)) else {
            return Err(UnitError::Syntax {
                file: file.to_string(),
                line: i + 1,
                text: line.chars().take(80).collect(),
            });
        };
        // Modifiers (`d!`, `D+`…) follow the type letter.
        let kind = t.chars().next().unwrap_or(' ');
        if !matches!(kind, 'd' | 'D' | 'f') {
            continue;
        }
        let bad = |why: &str| UnitError::Value {
            file: file.to_string(),
            line: i + 1,
            key: t.to_string(),
            value: path.to_string(),
            why: why.to_string(),
        };
        check_absolute(path).map_err(bad)?;
        let field = |n: usize| {
            words
                .get(n)
                .filter(|w| **w != "-")
                .map(|w| w.trim_start_matches(['~', ':']).to_string())
        };
        let mode = match field(2) {
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| bad("its mode is not octal"))?,
            ),
            None => None,
        };
        out.push(TmpEntry {
            kind,
            path: path.to_string(),
            mode,
            user: field(3),
            group: field(4),
            line: i + 1,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_files_with_owners() {
        let t = "# c\nd /run/php 0755 www-data www-data -\nD /var/lib/x - - -\nL /a - - - - /b\nf /var/log/x.log 0640 root adm\n";
        let v = parse("php.conf", t).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].path, "/run/php");
        assert_eq!(v[0].mode, Some(0o755));
        assert_eq!(v[0].user.as_deref(), Some("www-data"));
        assert_eq!(v[1].mode, None);
        assert_eq!(v[2].kind, 'f');
        assert_eq!(v[2].line, 5);
    }

    #[test]
    fn escaping_paths_are_refused() {
        let e = parse("x.conf", "d /var/../etc 0755\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.conf:1:"), "{e}");
        assert!(parse("x.conf", "d run/x\n").is_err());
    }
}
