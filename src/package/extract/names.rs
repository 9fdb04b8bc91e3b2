//! What a member name or link target may be: normalised components, no `..`, no
//! backslashes or control characters, case folding as a case-insensitive filesystem would,
//! link targets that stay inside the package (made safe to print by `package::printable`).

use crate::error::Unsafe;
use crate::fsutil::NAME_MAX;

// Kept reachable here, where the extraction rules' callers have always found it.
pub use crate::package::printable::printable;

fn refuse<T>(why: Unsafe) -> Result<T, Unsafe> {
    Err(why)
}

/// Splits a raw member name into normalised components, refusing what is unsafe.
pub fn split_path(raw: &[u8]) -> Result<Vec<&str>, Unsafe> {
    let s = std::str::from_utf8(raw).or(refuse(Unsafe::NonUtf8))?;
    if s.is_empty() {
        return refuse(Unsafe::EmptyName);
    }
    check_chars(s)?;
    if s.starts_with('/') {
        return refuse(Unsafe::AbsolutePath);
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return refuse(Unsafe::DotDot),
            c if c.len() > NAME_MAX => return refuse(Unsafe::ComponentTooLong { limit: NAME_MAX }),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A key under which names that a case-insensitive filesystem would confuse are equal.
/// Lowercasing alone is not enough: `to_lowercase` turns a final `Σ` into `ς`, so `ΑΣ`
/// would fold to `ας` and miss `ασ`; uppercasing the result folds `ς`, `σ` and `Σ` (and
/// the Kelvin sign and `K`) together.
pub fn fold_case(path: &str) -> String {
    path.to_lowercase().to_uppercase()
}

/// Whether a top-level component names the entry's metadata directory, case folded.
pub fn is_reserved(component: &str) -> bool {
    fold_case(component) == fold_case(".berth")
}

pub fn check_chars(s: &str) -> Result<(), Unsafe> {
    if s.contains('\\') {
        return refuse(Unsafe::Backslash);
    }
    if s.chars().any(|c| c.is_control()) {
        return refuse(Unsafe::ControlChar);
    }
    Ok(())
}

/// A symlink target must be relative and must stay inside the package. It may climb out of
/// the link's own directory with leading `..` (those parents are real directories: no member
/// passes through a symlink), but never climb after descending, because a descended
/// component may itself be a symlink and `..` would then be resolved from wherever it leads.
pub fn check_symlink_target(path: &str, target: &str) -> Result<(), Unsafe> {
    if target.starts_with('/') {
        return refuse(Unsafe::SymlinkAbsolute(target.to_string()));
    }
    check_chars(target)?;
    let depth = path.split('/').count() - 1;
    let mut climbs = 0usize;
    let mut descended = false;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if descended {
                    return refuse(Unsafe::SymlinkEscapes(target.to_string()));
                }
                climbs += 1;
                if climbs > depth {
                    return refuse(Unsafe::SymlinkEscapes(target.to_string()));
                }
            }
            _ => descended = true,
        }
    }
    Ok(())
}
