//! The store entries an isolated run mounts: loaded by name (one gc took is an error of its
//! own) and put in the profile's precedence.

use super::error::Error;
use crate::store::Entry;

/// Orders a profile's entries as its merged tree does: the `prefer` list first (in its
/// order), then the others in the generation's order.
pub fn order(entries: Vec<Entry>, prefer: &[String]) -> Vec<Entry> {
    let mut rest = entries;
    let mut out = Vec::with_capacity(rest.len());
    for p in prefer {
        if let Some(i) = rest.iter().position(|e| e.name() == p) {
            out.push(rest.remove(i));
        }
    }
    out.extend(rest);
    out
}

/// Loads the entries named (directory names) from the store, in the profile's precedence.
/// One that vanished (gc, remove) is [`Error::EntryGone`].
pub fn load_entries(
    store: &crate::store::Store,
    names: &[String],
    prefer: &[String],
) -> crate::Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(names.len());
    let Some(dir) = store.dir() else {
        return match names.first() {
            Some(n) => Err(Error::EntryGone { entry: n.clone() }.into()),
            None => Ok(out),
        };
    };
    for n in names {
        if dir.stat(n)?.is_none() {
            return Err(Error::EntryGone { entry: n.clone() }.into());
        }
        out.push(Entry::load(dir, n)?);
    }
    Ok(order(out, prefer))
}
