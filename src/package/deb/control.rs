//! The text files of a .deb's control archive: `control` (one deb822 paragraph of fields),
//! `conffiles` (the operator-edited files) and `md5sums`, parsed strictly. The paragraph
//! parser also reads dpkg's status file (many paragraphs).

use std::collections::{HashMap, HashSet};

/// The largest `control` or `conffiles` file accepted (dpkg's biggest real control files,
/// long `Description`s and `Provides` lists, stay far below it). The cap keeps an absurd
/// file from costing time or memory while the root's lock is held.
pub const MAX_CONTROL_TEXT: usize = 1 << 20;

/// Why a control file, a status file or `md5sums` is refused (`line` counts from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A continuation line opens the paragraph.
    #[error("line {line}: a continuation line with no field before it")]
    OrphanContinuation { line: usize },
    /// A `#` comment line.
    #[error("line {line}: comment lines are not allowed")]
    Comment { line: usize },
    /// A line without a colon.
    #[error("line {line}: `{}` is not `Field: value`", .text.escape_debug())]
    NotAField { line: usize, text: String },
    /// A field name dpkg would refuse.
    #[error("line {line}: `{}` is not a field name", .name.escape_debug())]
    BadFieldName { line: usize, name: String },
    /// The same field twice in one paragraph.
    #[error("line {line}: field {name} appears twice")]
    DuplicateField { line: usize, name: String },
    /// A control file that is not exactly one paragraph.
    #[error("{0} paragraphs, where one is expected")]
    Paragraphs(usize),
    /// A required field missing or empty.
    #[error("the {0} field is missing or empty")]
    MissingField(&'static str),
    /// A version that is not a Debian version.
    #[error("Version `{}` {why}", .version.escape_debug())]
    BadVersion { version: String, why: &'static str },
    /// A `control` or `conffiles` file over [`MAX_CONTROL_TEXT`].
    #[error("{size} bytes, over the limit of {max} bytes for a control file")]
    TooLarge { size: usize, max: usize },
    /// An `md5sums` line that is not `<32 hex digits>  <path inside the package>`.
    #[error("md5sums line {line}: `{}`", .text.escape_debug())]
    BadMd5Line { line: usize, text: String },
    /// A path listed twice in `md5sums`.
    #[error("md5sums line {line}: the path is listed twice")]
    DuplicateMd5 { line: usize },
}

/// One paragraph: fields in their order, names as written, values with continuation
/// lines joined by `\n` (their one leading space or tab removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    /// (name, value) pairs.
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field, its name compared without case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses text made of paragraphs separated by blank lines. `#` comment lines are refused
/// (a binary package's control file never has them).
/// Linear in the size of the text: duplicate names are found through a set of the
/// paragraph's lowercased names, not by searching the fields seen so far.
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph>, ControlError> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    let mut seen: HashSet<String> = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
                seen.clear();
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, value)) = cur.fields.last_mut() else {
                return Err(ControlError::OrphanContinuation { line: at });
            };
            value.push('\n');
            value.push_str(line[1..].trim_end());
            continue;
        }
        if line.starts_with('#') {
            return Err(ControlError::Comment { line: at });
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ControlError::NotAField {
                line: at,
                text: line.to_string(),
            });
        };
        if name.is_empty()
            || name.starts_with('-')
            || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        {
            return Err(ControlError::BadFieldName {
                line: at,
                name: name.to_string(),
            });
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(ControlError::DuplicateField {
                line: at,
                name: name.to_string(),
            });
        }
        cur.fields
            .push((name.to_string(), value.trim().to_string()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Parses a control file: exactly one paragraph, with `Package`, `Version` and
/// `Architecture`.
pub fn parse_control(text: &str) -> Result<Paragraph, ControlError> {
    check_size(text)?;
    let mut ps = parse_paragraphs(text)?;
    if ps.len() != 1 {
        return Err(ControlError::Paragraphs(ps.len()));
    }
    let p = ps.remove(0);
    for f in ["Package", "Version", "Architecture"] {
        if p.get(f).is_none_or(str::is_empty) {
            return Err(ControlError::MissingField(f));
        }
    }
    check_debian_version(p.get("Version").unwrap_or_default())?;
    Ok(p)
}

/// Refuses a `control` or `conffiles` text over [`MAX_CONTROL_TEXT`].
pub fn check_size(text: &str) -> Result<(), ControlError> {
    if text.len() > MAX_CONTROL_TEXT {
        return Err(ControlError::TooLarge {
            size: text.len(),
            max: MAX_CONTROL_TEXT,
        });
    }
    Ok(())
}

/// A Debian version: `[epoch:]upstream[-revision]`, epoch digits, upstream starting with
/// a digit, only the characters dpkg allows.
pub fn check_debian_version(v: &str) -> Result<(), ControlError> {
    let bad = |why: &'static str| {
        Err(ControlError::BadVersion {
            version: v.to_string(),
            why,
        })
    };
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit())) {
        return bad("has an epoch that is not a number");
    }
    let upstream = rest.rsplit_once('-').map_or(rest, |(u, _)| u);
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return bad("does not start with a digit");
    }
    if rest.ends_with('-') {
        return bad("has an empty revision");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".+~-:".contains(c);
    if !rest.chars().all(allowed) {
        return bad("has characters a Debian version cannot have");
    }
    Ok(())
}

/// One line of `conffiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// The absolute path as written.
    pub path: String,
    /// The same path relative to the package root.
    pub relative: String,
    /// `remove-on-upgrade`: not shipped, only removed by dpkg on upgrade.
    pub remove_on_upgrade: bool,
}

/// Parses `conffiles`. Errors are (path, why) for [`crate::error::Unsafe::BadConffile`].
/// Linear: paths seen are kept in a set. The caller caps the text's size
/// ([`check_size`]).
pub fn parse_conffiles(text: &str) -> Result<Vec<Conffile>, (String, &'static str)> {
    let mut out: Vec<Conffile> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let (flag, path) = match line.split_once(' ') {
            Some((f, p)) if !f.starts_with('/') => (Some(f), p.trim_start()),
            _ => (None, line),
        };
        let remove_on_upgrade = match flag {
            None => false,
            Some("remove-on-upgrade") => true,
            Some(_) => return Err((line.to_string(), "has a flag dpkg does not define")),
        };
        let relative = relative_inside(path).ok_or_else(|| {
            (
                path.to_string(),
                "is not a plain absolute path inside the package",
            )
        })?;
        if !seen.insert(relative.clone()) {
            return Err((path.to_string(), "is listed twice"));
        }
        out.push(Conffile {
            path: path.to_string(),
            relative,
            remove_on_upgrade,
        });
    }
    Ok(out)
}

/// `/etc/x` as `etc/x`, or `None` for anything that is not a plain absolute path (`..`,
/// `.`, empty components, control characters, backslashes).
fn relative_inside(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let comps: Vec<&str> = rest.split('/').collect();
    let plain = |c: &&str| !c.is_empty() && *c != "." && *c != "..";
    if comps.is_empty()
        || !comps.iter().all(plain)
        || path.chars().any(|c| c.is_control() || c == '\\')
    {
        return None;
    }
    Some(comps.join("/"))
}

/// Parses `md5sums`: `<32 hex digits>  <path>` per line, paths relative to the root.
pub fn parse_md5sums(text: &str) -> Result<HashMap<String, [u8; 16]>, ControlError> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || ControlError::BadMd5Line {
            line: i + 1,
            text: line.to_string(),
        };
        let (hexd, rest) = line.split_at_checked(32).ok_or_else(bad)?;
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(bad)?;
        let mut digest = [0u8; 16];
        hex::decode_to_slice(hexd, &mut digest).map_err(|_| bad())?;
        let path = path.strip_prefix("./").unwrap_or(path);
        let rel = relative_inside(&format!("/{path}")).ok_or_else(bad)?;
        if out.insert(rel, digest).is_some() {
            return Err(ControlError::DuplicateMd5 { line: i + 1 });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_paragraph() {
        let p = parse_control(
            "Package: hello\nVersion: 1:2.0~rc1-3\nArchitecture: all\nDescription: short\n more\n .\n end\n",
        )
        .unwrap();
        assert_eq!(p.get("package"), Some("hello"));
        assert_eq!(p.get("Description"), Some("short\nmore\n.\nend"));
        assert_eq!(
            parse_control("Package: a\nPackage: b\nVersion: 1\nArchitecture: all\n"),
            Err(ControlError::DuplicateField {
                line: 2,
                name: "Package".into()
            })
        );
        assert_eq!(
            parse_control("Package: a\nVersion: 1\n"),
            Err(ControlError::MissingField("Architecture"))
        );
        assert_eq!(
            parse_control(" x\nPackage: a\n"),
            Err(ControlError::OrphanContinuation { line: 1 })
        );
        assert_eq!(
            parse_control("Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\n"),
            Err(ControlError::Paragraphs(2))
        );
        assert_eq!(
            parse_control("# c\nPackage: a\n"),
            Err(ControlError::Comment { line: 1 })
        );
        for (version, why) in [
            ("x1", "does not start with a digit"),
            ("1 2", "has characters a Debian version cannot have"),
        ] {
            assert_eq!(
                parse_control(&format!(
                    "Package: a\nVersion: {version}\nArchitecture: all\n"
                )),
                Err(ControlError::BadVersion {
                    version: version.into(),
                    why
                })
            );
        }
    }

    #[test]
    fn two_hundred_thousand_fields_parse_in_linear_time() {
        // Quadratic duplicate search made this take minutes; a set makes it one pass.
        let mut text = String::from("Package: a\nVersion: 1\nArchitecture: all\n");
        for i in 0..200_000 {
            text.push_str(&format!("X-F{i}: v\n"));
        }
        let ps = parse_paragraphs(&text).unwrap();
        assert_eq!(ps[0].fields.len(), 200_003);
        // The same text as a package's control file is over the cap, refused by size.
        assert!(text.len() > MAX_CONTROL_TEXT);
        assert_eq!(
            parse_control(&text),
            Err(ControlError::TooLarge {
                size: text.len(),
                max: MAX_CONTROL_TEXT
            })
        );
        // A duplicate far down is still found, names compared without case.
        text.push_str("x-f7: again\n");
        assert_eq!(
            parse_paragraphs(&text),
            Err(ControlError::DuplicateField {
                line: 200_004,
                name: "x-f7".into()
            })
        );
    }

    #[test]
    fn two_hundred_thousand_conffiles_parse_in_linear_time() {
        let text: String = (0..200_000).map(|i| format!("/etc/c{i}\n")).collect();
        assert_eq!(parse_conffiles(&text).unwrap().len(), 200_000);
        assert!(check_size(&text).is_err());
        let twice = format!("{text}/etc/c5\n");
        assert_eq!(
            parse_conffiles(&twice),
            Err(("/etc/c5".to_string(), "is listed twice"))
        );
    }

    #[test]
    fn conffiles() {
        let c = parse_conffiles("/etc/a.conf\nremove-on-upgrade /etc/old\n\n").unwrap();
        assert_eq!(c[0].relative, "etc/a.conf");
        assert!(c[1].remove_on_upgrade);
        for bad in [
            "/etc/../../x",
            "etc/x",
            "/etc//x",
            "/",
            "/etc/x\n/etc/x",
            "bogus /etc/x",
        ] {
            assert!(parse_conffiles(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn md5sums() {
        let m = parse_md5sums("d41d8cd98f00b204e9800998ecf8427e  usr/share/a b\n").unwrap();
        assert!(m.contains_key("usr/share/a b"));
        assert!(matches!(
            parse_md5sums("d41d8cd98f00b204e9800998ecf8427e  ../x\n"),
            Err(ControlError::BadMd5Line { line: 1, .. })
        ));
        assert!(matches!(
            parse_md5sums("xyz  a\n"),
            Err(ControlError::BadMd5Line { line: 1, .. })
        ));
        assert_eq!(
            parse_md5sums(
                "d41d8cd98f00b204e9800998ecf8427e  a\nd41d8cd98f00b204e9800998ecf8427e  ./a\n"
            ),
            Err(ControlError::DuplicateMd5 { line: 2 })
        );
    }
}
