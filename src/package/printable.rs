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
