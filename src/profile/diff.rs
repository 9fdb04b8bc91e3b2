//! What changed between two generations: packages added, removed, and changed version,
//! and the lines of the profile file (`berth apply`) that changed.

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
    /// Lines of the recorded profile file removed (`- …`) and added (`+ …`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile_file: Vec<String>,
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
    if from.spec != to.spec {
        let (a, b) = (
            from.spec.as_deref().unwrap_or(""),
            to.spec.as_deref().unwrap_or(""),
        );
        for change in similar::TextDiff::from_lines(a, b).iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => continue,
            };
            d.profile_file
                .push(format!("{sign} {}", change.value().trim_end_matches('\n')));
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
        for l in &self.profile_file {
            out.push(format!("profile file: {l}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(spec: Option<&str>) -> Generation {
        Generation {
            number: 1,
            created: String::new(),
            command: String::new(),
            packages: vec![],
            prefer: vec![],
            spec: spec.map(str::to_string),
            config: Default::default(),
        }
    }

    #[test]
    fn changed_lines_of_the_profile_file_are_listed() {
        let a = gen(Some("profile = \"p\"\n[packages]\napp = \"1.0\"\n"));
        let b = gen(Some("profile = \"p\"\n[packages]\napp = \"2.0\"\n"));
        assert_eq!(
            diff(&a, &b).lines(),
            vec![
                "profile file: - app = \"1.0\"",
                "profile file: + app = \"2.0\""
            ]
        );
        assert!(diff(&a, &a).lines().is_empty());
        assert!(diff(&gen(None), &gen(None)).profile_file.is_empty());
    }
}
