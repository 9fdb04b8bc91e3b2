//! Version constraints of a profile file's `[packages]`: an exact version (`7.59-1`), any
//! (`*`), a prefix (`8.2.*`), or Debian-style relations joined by commas
//! (`>= 7.59, << 8`; `<<`, `<=`, `=`, `>=`, `>>`), compared in Debian version order.

pub use crate::package::version::Op;

/// One parsed constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `*`.
    Any,
    /// `8.2.*`: the version is `8.2` or starts with `8.2.`.
    Prefix(String),
    /// Every relation holds (a bare version is `= version`).
    Relations(Vec<(Op, String)>),
}

impl Constraint {
    /// Parses a constraint; the error says why in a few words.
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(Constraint::Any);
        }
        if let Some(prefix) = s.strip_suffix(".*") {
            check_version(prefix)?;
            return Ok(Constraint::Prefix(prefix.to_string()));
        }
        let mut rels = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err("empty relation between commas".into());
            }
            let (op, rest) = [
                ("<<", Op::Lt),
                ("<=", Op::Le),
                (">=", Op::Ge),
                (">>", Op::Gt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(t, op)| part.strip_prefix(t).map(|r| (*op, r.trim())))
            .unwrap_or((Op::Eq, part));
            if rest.starts_with(['<', '>', '=']) {
                return Err(format!(
                    "unknown relation in `{part}` (use <<, <=, =, >=, >>)"
                ));
            }
            check_version(rest)?;
            rels.push((op, rest.to_string()));
        }
        Ok(Constraint::Relations(rels))
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &str) -> bool {
        match self {
            Constraint::Any => true,
            Constraint::Prefix(p) => {
                version == p
                    || version
                        .strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            }
            Constraint::Relations(rels) => rels.iter().all(|(op, v)| op.holds(version, v)),
        }
    }
}

fn check_version(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("a relation needs a version".into());
    }
    crate::package::name::check_version(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_match_like_debian() {
        let c = |s: &str| Constraint::parse(s).unwrap();
        assert!(c("7.59-1").matches("7.59-1"));
        assert!(!c("7.59-1").matches("7.59-2"));
        assert!(c("*").matches("0"));
        assert!(c("8.2.*").matches("8.2.7"));
        assert!(c("8.2.*").matches("8.2"));
        assert!(!c("8.2.*").matches("8.20.1"));
        let r = c(">= 7.59, << 8");
        assert!(r.matches("7.59") && r.matches("7.100") && r.matches("7.99-3"));
        assert!(!r.matches("8.0") && !r.matches("7.58") && r.matches("8~rc1"));
        assert!(c(">> 1.0").matches("1.0.1") && !c(">> 1.0").matches("1.0"));
        assert!(!c("<= 2").matches("1:0"));
    }

    #[test]
    fn bad_forms_are_refused() {
        for s in ["", ">=", ">= 1,", "=> 1", "> 1", "1 2", ">=1,,<<2", "a/b"] {
            assert!(Constraint::parse(s).is_err(), "{s}");
        }
    }
}
