//! The profile's service: the package with a `[service]` section, else a systemd unit its
//! native packages ship (`--service` picks one of several), and its command line split
//! into words (single and double quotes, backslash escapes; no other shell syntax).

use super::error::Error;
use crate::package::unit::Unit;
use crate::store::Entry;

/// The service of a profile: which package, and its command line.
#[derive(Debug, Clone)]
pub struct ServiceCommand {
    /// Index of the package in the entries given to [`find`].
    pub package: usize,
    /// The words of `exec`; the first is the program (relative to the package root when
    /// it contains a `/` and does not start with one).
    pub argv: Vec<String>,
    /// Commands run before it, in order (a unit's `ExecStartPre=`): words, and whether a
    /// failure is ignored (`-`).
    pub pre: Vec<(Vec<String>, bool)>,
    /// `[service] user`, or a unit's `User=[:Group=]`.
    pub user: Option<String>,
    /// `[service] capabilities`, or a unit's `AmbientCapabilities=`.
    pub capabilities: Vec<String>,
    /// Its name (the unit's without `.service`, or the package's).
    pub name: String,
    /// Where it comes from, for `-v` (`unit nginx.service of nginx-common@1.22`).
    pub from: String,
}

/// The service to run among `entries` (with `units[i]` the units entry i ships): the
/// manifests' `[service]` sections, else the units; `pick` (`--service`) chooses by the
/// unit's or the package's name. None, several without `pick`, or an unknown `pick` is an
/// error naming them. `provided` says whether a package of the profile ships an absolute
/// path: a unit's `ExecStart=` must run a program of the profile, not of the host.
pub fn find(
    profile: &str,
    entries: &[Entry],
    units: &[Vec<Unit>],
    pick: Option<&str>,
    provided: &dyn Fn(&str) -> bool,
) -> Result<ServiceCommand, Error> {
    let mut all: Vec<(usize, Option<&Unit>)> = (0..entries.len())
        .filter(|&i| entries[i].manifest.service.is_some())
        .map(|i| (i, None))
        .collect();
    if all.is_empty() {
        for (i, list) in units.iter().enumerate().take(entries.len()) {
            all.extend(list.iter().map(|u| (i, Some(u))));
        }
    }
    let name_of = |(i, u): &(usize, Option<&Unit>)| match u {
        Some(u) => u.name().to_string(),
        None => entries[*i].name().to_string(),
    };
    let describe = |c: &(usize, Option<&Unit>)| match c.1 {
        Some(u) => format!(
            "{} (unit {} of {})",
            name_of(c),
            u.file,
            entries[c.0].spec()
        ),
        None => format!("{} ([service] of {})", name_of(c), entries[c.0].spec()),
    };
    let chosen: Vec<&(usize, Option<&Unit>)> = match pick {
        Some(p) => all
            .iter()
            .filter(|c| name_of(c) == p || entries[c.0].name() == p)
            .collect(),
        None => all.iter().collect(),
    };
    let c = match chosen.as_slice() {
        [c] => *c,
        [] if pick.is_some() && !all.is_empty() => {
            return Err(Error::NoSuchService {
                profile: profile.to_string(),
                name: pick.unwrap_or_default().to_string(),
                known: all.iter().map(describe).collect(),
            })
        }
        [] => {
            return Err(Error::NoService {
                profile: profile.to_string(),
                packages: entries.iter().map(Entry::spec).collect(),
            })
        }
        many => {
            return Err(Error::ManyServices {
                profile: profile.to_string(),
                packages: many.iter().map(|c| describe(c)).collect(),
            })
        }
    };
    match c.1 {
        Some(u) => from_unit(c.0, &entries[c.0], u, provided, describe(c)),
        None => from_manifest(c.0, &entries[c.0], describe(c)),
    }
}

fn from_manifest(i: usize, e: &Entry, from: String) -> Result<ServiceCommand, Error> {
    let Some(s) = e.manifest.service.as_ref() else {
        unreachable!("chosen among entries with a [service]")
    };
    let bad = |why| Error::BadServiceExec {
        package: e.spec(),
        exec: s.exec.clone(),
        why,
    };
    let argv = split(&s.exec).map_err(bad)?;
    let Some(prog) = argv.first() else {
        return Err(bad("is empty"));
    };
    if prog.split('/').any(|c| c == "..") {
        return Err(bad("leaves the package with `..`"));
    }
    Ok(ServiceCommand {
        package: i,
        argv,
        pre: Vec::new(),
        user: s.user.clone(),
        capabilities: s.capabilities.clone(),
        name: e.name().to_string(),
        from,
    })
}

fn from_unit(
    i: usize,
    e: &Entry,
    u: &Unit,
    provided: &dyn Fn(&str) -> bool,
    from: String,
) -> Result<ServiceCommand, Error> {
    let Some(start) = &u.exec_start else {
        unreachable!("units without ExecStart= are not services")
    };
    if !provided(&start.argv[0]) {
        return Err(Error::UnitPath {
            package: e.spec(),
            file: format!("{}:{}", u.file, start.line),
            what: "ExecStart",
            path: start.argv[0].clone(),
            why: "is not a program of the profile's packages (berth runs the package's service, not the host's programs)",
        });
    }
    for l in u.exec_start_pre.iter().chain([start]) {
        if l.privileged {
            tracing::info!(
                "{}:{}: `+`/`!` asks for full privileges; berth runs it as the service runs",
                u.file,
                l.line
            );
        }
    }
    let user = match (&u.user, &u.group) {
        (Some(us), Some(g)) => Some(format!("{us}:{g}")),
        (Some(us), None) => Some(us.clone()),
        (None, Some(g)) => Some(format!("root:{g}")),
        (None, None) => None,
    };
    Ok(ServiceCommand {
        package: i,
        argv: start.argv.clone(),
        pre: u
            .exec_start_pre
            .iter()
            .map(|l| (l.argv.clone(), l.ignore_failure))
            .collect(),
        user,
        capabilities: u.ambient_caps.clone(),
        name: u.name().to_string(),
        from,
    })
}

/// Splits a command line into words like a shell does for quotes and backslashes.
pub fn split(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => w.push(ch),
                        None => return Err("has an unclosed single quote"),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => w.push(ch),
                            None => return Err("ends with a backslash"),
                        },
                        Some(ch) => w.push(ch),
                        None => return Err("has an unclosed double quote"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(ch) => word.get_or_insert_with(String::new).push(ch),
                None => return Err("ends with a backslash"),
            },
            ch => word.get_or_insert_with(String::new).push(ch),
        }
    }
    if let Some(w) = word {
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_handles_quotes_and_escapes() {
        assert_eq!(
            split(r#"usr/bin/app serve --name "my site" 'a b' c\ d"#).unwrap(),
            vec!["usr/bin/app", "serve", "--name", "my site", "a b", "c d"]
        );
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split("''").unwrap(), vec![""]);
        assert!(split("a 'b").is_err());
        assert!(split("a \"b").is_err());
        assert!(split("a\\").is_err());
    }
}
