//! Package references: `name@version`, `name` (highest installed version, Debian order),
//! and `name@<id prefix>`.

use super::{Entry, Store};
use crate::error::{Error, Result};
use crate::package::version;

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
        reference: reference.to_string(),
        installed: entries.iter().map(|e| e.spec()).collect(),
    };
    match rest {
        None => same_name
            .into_iter()
            .max_by(|a, b| version::compare(a.version(), b.version()))
            .ok_or_else(unknown),
        Some(v) => {
            if let Some(e) = same_name.iter().find(|e| e.version() == v) {
                return Ok(e);
            }
            let by_id: Vec<&Entry> = same_name
                .into_iter()
                .filter(|e| !v.is_empty() && e.id().starts_with(v))
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
    }
}
