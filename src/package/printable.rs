//! Untrusted text (member names, versions, parser messages) made safe to print on one
//! line: a leaf every part of `package` may use, so that names, manifests and the
//! extraction rules share it without importing each other.

/// Characters of a member name shown in an error; the rest is elided.
const PRINTABLE_MAX: usize = 512;

/// A name safe to print on one line, and of bounded length: control characters (terminal
/// escape sequences among them) become `?`.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(PRINTABLE_MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(PRINTABLE_MAX).is_some() {
        out.push_str(&format!("… ({} bytes in all)", s.len()));
    }
    out
}

/// Characters that are not controls but still change how a terminal shows the text around
/// them: bidi overrides and isolates, zero-width joiners and spaces, the BOM, line and
/// paragraph separators, invisible operators, interlinear annotations, tag characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

/// Package-supplied text made safe for one line of human output, whole (no length cap):
/// control characters (escape sequences, NUL, newlines, C1 controls) and invisible or
/// bidi characters are shown as `\u{…}` escapes (`\n`, `\t`, `\r` as themselves), so what
/// a package wrote can neither drive the terminal nor hide or reorder the text around it.
/// `--json` output keeps the exact text (JSON escapes what it must).
pub fn escaped(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() || is_invisible(c)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_invisible(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// [`escaped`] for a path.
pub fn escaped_path(p: &std::path::Path) -> String {
    escaped(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_shows_controls_and_invisible_characters() {
        assert_eq!(escaped("plain ä"), "plain ä");
        assert_eq!(
            escaped("a\u{1b}]0;pwned\u{7}b\0c\u{9b}"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{0}c\\u{9b}"
        );
        assert_eq!(
            escaped("x\u{202e}y\u{200b}z\u{2066}"),
            "x\\u{202e}y\\u{200b}z\\u{2066}"
        );
        assert_eq!(escaped("l1\nl2\t"), "l1\\nl2\\t");
    }
}
