//! Package references: `name` (highest installed version, Debian order), `name@version`,
//! and an entry id prefix: `name@id:PREFIX`, or `name@PREFIX` with at least
//! [`MIN_BARE_ID_PREFIX`] hex digits (so `big@8` can never mean big@2's id `8…`).

use super::{Entry, Store};
use crate::error::{Error, Result};
use crate::package::version;

/// Hex digits an id prefix needs when written without `id:`.
pub const MIN_BARE_ID_PREFIX: usize = 6;

impl Store {
    /// The one entry a reference names; unknown or ambiguous references list what exists.
    pub fn resolve(&self, reference: &str) -> Result<Entry> {
        let entries = self.entries()?;
        resolve_in(&entries, reference).cloned()
    }
}

/// Resolves a reference among `entries`.
pub fn resolve_in<'a>(entries: &'a [Entry], reference: &str) -> Result<&'a Entry> {
    let (name, rest) = match reference.split_once('@') {
        Some((n, r)) => (n, Some(r)),
        None => (reference, None),
    };
    let same_name: Vec<&Entry> = entries.iter().filter(|e| e.name() == name).collect();
    let unknown = || Error::UnknownPackage {
        reference: crate::package::extract::printable(reference),
        installed: entries.iter().map(|e| e.spec()).collect(),
    };
    let Some(v) = rest else {
        return same_name
            .into_iter()
            .max_by(|a, b| version::compare(a.version(), b.version()))
            .ok_or_else(unknown);
    };
    let prefix = match v.strip_prefix("id:") {
        Some(p) => p,
        None => {
            if let Some(e) = same_name.iter().find(|e| e.version() == v) {
                return Ok(e);
            }
            if v.len() < MIN_BARE_ID_PREFIX {
                return Err(unknown());
            }
            v
        }
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let prefix = prefix.to_ascii_lowercase();
    let by_id: Vec<&Entry> = same_name
        .into_iter()
        .filter(|e| e.id().starts_with(&prefix))
        .collect();
    match by_id.len() {
        0 => Err(unknown()),
        1 => Ok(by_id[0]),
        _ => Err(Error::AmbiguousPackage {
            reference: reference.to_string(),
            matches: by_id
                .iter()
                .map(|e| format!("{}@{} (id {})", e.name(), e.version(), e.id()))
                .collect(),
        }),
    }
}

/// Resolves several references, refusing two that name the same package (`tool@1 tool@2`
/// would otherwise let the last one win silently).
pub fn resolve_all<'a>(entries: &'a [Entry], references: &[String]) -> Result<Vec<&'a Entry>> {
    let mut out: Vec<(&String, &Entry)> = Vec::new();
    for r in references {
        let e = resolve_in(entries, r)?;
        if let Some((first, _)) = out.iter().find(|(_, o)| o.name() == e.name()) {
            return Err(Error::DuplicateReference {
                first: (*first).clone(),
                second: r.clone(),
            });
        }
        out.push((r, e));
    }
    Ok(out.into_iter().map(|(_, e)| e).collect())
}
