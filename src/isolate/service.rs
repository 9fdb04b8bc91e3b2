//! The profile's service: the one package with a `[service]` section, and its `exec` line
//! split into words (single and double quotes, backslash escapes; no other shell syntax).

use super::error::Error;
use crate::store::Entry;

/// The service of a profile: which package, and its command line.
#[derive(Debug, Clone)]
pub struct ServiceCommand {
    /// Index of the package in the entries given to [`find`].
    pub package: usize,
    /// The words of `exec`; the first is the program (relative to the package root when
    /// it contains a `/` and does not start with one).
    pub argv: Vec<String>,
    /// `[service] user`.
    pub user: Option<String>,
    /// `[service] capabilities`.
    pub capabilities: Vec<String>,
}

/// The one service among `entries`; none or several is an error naming the packages.
pub fn find(profile: &str, entries: &[Entry]) -> Result<ServiceCommand, Error> {
    let with: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].manifest.service.is_some())
        .collect();
    let i = match with.as_slice() {
        [i] => *i,
        [] => {
            return Err(Error::NoService {
                profile: profile.to_string(),
                packages: entries.iter().map(Entry::spec).collect(),
            })
        }
        _ => {
            return Err(Error::ManyServices {
                profile: profile.to_string(),
                packages: with.iter().map(|&i| entries[i].spec()).collect(),
            })
        }
    };
    let e = &entries[i];
    let Some(s) = e.manifest.service.as_ref() else {
        unreachable!("filtered on service above")
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
        user: s.user.clone(),
        capabilities: s.capabilities.clone(),
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
