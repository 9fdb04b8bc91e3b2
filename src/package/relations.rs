//! Debian package relations (`Depends: a (>= 1.0) | b, c:any`), parsed, and evaluated
//! against a set of available packages (name, version, what they provide). Pure: where the
//! available packages come from (a profile, the host's dpkg) is the caller's business.
//! berth checks dependencies; it never solves or installs them.

pub use crate::package::version::Op;
use std::fmt;

/// One relation: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Package name.
    pub name: String,
    /// Architecture qualifier (`any`, `native`, `amd64` …).
    pub arch: Option<String>,
    /// Version restriction.
    pub version: Option<(Op, String)>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.text())?;
        }
        Ok(())
    }
}

/// Alternatives: any one of them satisfies the dependency (`a | b`).
pub type Alternatives = Vec<Relation>;

/// A relation that does not parse, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{relation}`: {why}")]
pub struct RelationError {
    /// The relation as written.
    pub relation: String,
    /// What is wrong with it.
    pub why: Fault,
}

/// What is wrong with a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("unclosed `(`")]
    Unclosed,
    #[error("unknown version operator")]
    UnknownOperator,
    #[error("bad version")]
    BadVersion,
    #[error("architecture and profile restrictions belong to source packages")]
    Restriction,
    #[error("not a package name")]
    BadName,
    #[error("bad architecture qualifier")]
    BadArch,
    #[error("alternatives in Provides")]
    ProvidesAlternatives,
    #[error("Provides only takes `=`")]
    ProvidesOperator,
}

/// Shows alternatives the way a control file writes them.
pub fn show(alts: &[Relation]) -> String {
    alts.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Parses a relation field (`Depends`, `Pre-Depends`, `Provides` …).
pub fn parse(field: &str) -> Result<Vec<Alternatives>, RelationError> {
    let mut out = Vec::new();
    let flat = field.replace('\n', " ");
    for group in flat.split(',') {
        let group = group.trim();
        if group.is_empty() {
            // A trailing comma is tolerated by dpkg; an empty group in the middle is not.
            continue;
        }
        let alts = group
            .split('|')
            .map(|r| parse_one(r.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(alts);
    }
    Ok(out)
}

fn parse_one(s: &str) -> Result<Relation, RelationError> {
    let bad = |why| {
        Err(RelationError {
            relation: s.to_string(),
            why,
        })
    };
    let (head, version) = match s.split_once('(') {
        Some((h, rest)) => {
            let Some(inner) = rest.trim_end().strip_suffix(')') else {
                return bad(Fault::Unclosed);
            };
            let inner = inner.trim();
            let split = inner
                .find(|c: char| !"<>=".contains(c))
                .unwrap_or(inner.len());
            let (op, ver) = inner.split_at(split);
            let Some(op) = Op::parse(op.trim()) else {
                return bad(Fault::UnknownOperator);
            };
            let ver = ver.trim();
            if ver.is_empty() || ver.contains(char::is_whitespace) {
                return bad(Fault::BadVersion);
            }
            (h.trim(), Some((op, ver.to_string())))
        }
        None => (s, None),
    };
    if head.contains(['[', '<', ')']) {
        return bad(Fault::Restriction);
    }
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (head, None),
    };
    let name_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return bad(Fault::BadName);
    }
    if arch
        .as_deref()
        .is_some_and(|a| a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return bad(Fault::BadArch);
    }
    Ok(Relation {
        name: name.to_string(),
        arch,
        version,
    })
}

/// A package a dependency may be satisfied by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture (`all`, `amd64` …), when known.
    pub arch: Option<String>,
    /// Virtual packages it provides, with the version of each when given (`= v`).
    pub provides: Vec<(String, Option<String>)>,
    /// Where it is (`profile`, `host`, `store` …), for messages.
    pub place: &'static str,
}

impl Available {
    /// `name version (place)`.
    pub fn describe(&self) -> String {
        format!("{} {} ({})", self.name, self.version, self.place)
    }
}

/// Parses a `Provides` field into (name, version) pairs.
pub fn parse_provides(field: &str) -> Result<Vec<(String, Option<String>)>, RelationError> {
    let mut out = Vec::new();
    for alts in parse(field)? {
        let [r] = alts.as_slice() else {
            return Err(RelationError {
                relation: show(&alts),
                why: Fault::ProvidesAlternatives,
            });
        };
        match &r.version {
            None => out.push((r.name.clone(), None)),
            Some((Op::Eq, v)) => out.push((r.name.clone(), Some(v.clone()))),
            Some(_) => {
                return Err(RelationError {
                    relation: r.to_string(),
                    why: Fault::ProvidesOperator,
                })
            }
        }
    }
    Ok(out)
}

/// What evaluating one dependency found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Satisfied, by this package.
    Satisfied(String),
    /// Not satisfied; what was found instead, for the message.
    Unmet(String),
}

fn arch_fits(want: Option<&str>, have: Option<&str>) -> bool {
    match (want, have) {
        (None | Some("any" | "native"), _) | (_, None | Some("all")) => true,
        (Some(w), Some(h)) => w == h,
    }
}

fn satisfies(r: &Relation, a: &Available) -> bool {
    if !arch_fits(r.arch.as_deref(), a.arch.as_deref()) {
        return false;
    }
    if a.name == r.name {
        return r
            .version
            .as_ref()
            .is_none_or(|(op, v)| op.holds(&a.version, v));
    }
    a.provides.iter().any(|(p, pv)| {
        p == &r.name
            && match (&r.version, pv) {
                (None, _) => true,
                (Some((op, v)), Some(pv)) => op.holds(pv, v),
                (Some(_), None) => false,
            }
    })
}

/// Evaluates one dependency (its alternatives) against what is available.
pub fn evaluate(alts: &[Relation], available: &[Available]) -> Verdict {
    for r in alts {
        if let Some(a) = available.iter().find(|a| satisfies(r, a)) {
            return Verdict::Satisfied(a.describe());
        }
    }
    let mut found: Vec<String> = Vec::new();
    for r in alts {
        for a in available {
            let named = a.name == r.name || a.provides.iter().any(|(p, _)| p == &r.name);
            if named && !found.contains(&a.describe()) {
                found.push(a.describe());
            }
        }
    }
    Verdict::Unmet(if found.is_empty() {
        "nothing provides it".to_string()
    } else {
        format!("only {}", found.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avail(name: &str, version: &str, provides: &[(&str, Option<&str>)]) -> Available {
        Available {
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            provides: provides
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect(),
            place: "host",
        }
    }

    #[test]
    fn parses_relations() {
        let r = parse("a (>= 1.0) | b, c:any,\n d (<< 2:1.0~rc1-3),").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(show(&r[0]), "a (>= 1.0) | b");
        assert_eq!(r[1][0].arch.as_deref(), Some("any"));
        assert_eq!(r[2][0].version, Some((Op::Lt, "2:1.0~rc1-3".into())));
        for (bad, why) in [
            ("a (>= 1", Fault::Unclosed),
            ("a (~ 1)", Fault::UnknownOperator),
            ("A", Fault::BadName),
            ("a [amd64]", Fault::Restriction),
            ("a (>= )", Fault::BadVersion),
            ("a:", Fault::BadArch),
        ] {
            assert_eq!(
                parse(bad),
                Err(RelationError {
                    relation: bad.into(),
                    why
                }),
                "{bad}"
            );
        }
        assert_eq!(
            parse_provides("a | b").map_err(|e| e.why),
            Err(Fault::ProvidesAlternatives)
        );
        assert_eq!(
            parse_provides("a (>= 1)").map_err(|e| e.why),
            Err(Fault::ProvidesOperator)
        );
    }

    #[test]
    fn evaluates() {
        let set = vec![
            avail("libc6", "2.36-9", &[]),
            avail("mawk", "1.3.4", &[("awk", None)]),
            avail("php8.2", "8.2.7", &[("php", Some("8.2.7"))]),
        ];
        let ev = |s: &str| evaluate(&parse(s).unwrap()[0], &set);
        assert!(matches!(ev("libc6 (>= 2.34)"), Verdict::Satisfied(_)));
        assert!(matches!(ev("libc6 (>> 2.36-9)"), Verdict::Unmet(_)));
        assert!(matches!(ev("gawk | awk"), Verdict::Satisfied(_)));
        assert!(matches!(ev("awk (>= 1)"), Verdict::Unmet(_)));
        assert!(matches!(ev("php (>= 8)"), Verdict::Satisfied(_)));
        assert!(matches!(ev("libc6:i386"), Verdict::Unmet(_)));
        assert!(matches!(ev("libc6:any"), Verdict::Satisfied(_)));
        assert_eq!(
            ev("libc6 (>= 3)"),
            Verdict::Unmet("only libc6 2.36-9 (host)".into())
        );
        assert_eq!(ev("nope"), Verdict::Unmet("nothing provides it".into()));
    }
}
