//! What changed between two generations: packages added, removed, and changed version.

use super::generation::{GenPackage, Generation};
use serde::Serialize;

/// A package whose version (or build) differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// Package name.
    pub name: String,
    /// Version in the older generation.
    pub from: String,
    /// Version in the newer generation.
    pub to: String,
}

/// The difference between two generations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Packages only in `to`.
    pub added: Vec<GenPackage>,
    /// Packages only in `from`.
    pub removed: Vec<GenPackage>,
    /// Packages in both with a different entry.
    pub changed: Vec<Changed>,
}

/// Compares the package sets of two generations.
pub fn diff(from: &Generation, to: &Generation) -> Diff {
    let mut d = Diff::default();
    for p in &to.packages {
        match from.packages.iter().find(|q| q.name == p.name) {
            None => d.added.push(p.clone()),
            Some(q) if q.id != p.id || q.version != p.version => d.changed.push(Changed {
                name: p.name.clone(),
                from: q.version.clone(),
                to: p.version.clone(),
            }),
            Some(_) => {}
        }
    }
    for q in &from.packages {
        if !to.packages.iter().any(|p| p.name == q.name) {
            d.removed.push(q.clone());
        }
    }
    d
}

impl Diff {
    /// One line per change: `+ php 8.2.7`, `- php 8.2.7`, `~ drupal 7.59 -> 7.60`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.added {
            out.push(format!("+ {} {}", p.name, p.version));
        }
        for p in &self.removed {
            out.push(format!("- {} {}", p.name, p.version));
        }
        for c in &self.changed {
            out.push(format!("~ {} {} -> {}", c.name, c.from, c.to));
        }
        out
    }
}
