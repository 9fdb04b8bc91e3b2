//! The package manifest (`berth.toml` in a source directory, `.berth/manifest.toml` in an
//! entry): parsed strictly, so that a typo is an error with its line and column.

use super::name::{check_name, check_version};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name, version and description.
    pub package: PackageMeta,
    /// What the package offers to profiles.
    #[serde(default)]
    pub exports: Exports,
    /// Files the operator may edit (kept per profile, outside the store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<PathEntry>,
    /// Directories the service writes (kept per profile, outside the store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable: Vec<PathEntry>,
    /// How the package runs as a service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    /// Fields kept from an imported format (a .deb's control fields, for instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<toml::Table>,
    /// `[[user]]`: system users the package needs inside its profile's isolated view
    /// (made entries record those their package's scripts add). Never host users.
    #[serde(default, rename = "user", skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserRecord>,
    /// `[made]`: present on an entry made by running another package's maintainer scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made: Option<Made>,
}

/// `[[user]]`: a system user (and its primary group) inside a profile's isolated view;
/// ids are inside the profile's id range (or mapped to the caller without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// Login name (shadow's rules).
    pub name: String,
    /// Its uid inside.
    pub uid: u32,
    /// Its primary group's name.
    pub group: String,
    /// Its primary group's gid inside.
    pub gid: u32,
    /// Home directory inside.
    #[serde(default = "default_home")]
    pub home: String,
    /// Login shell.
    #[serde(default = "default_shell")]
    pub shell: String,
}

fn default_home() -> String {
    "/nonexistent".into()
}

fn default_shell() -> String {
    "/usr/sbin/nologin".into()
}

/// `[made]`: what ran to make this entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Made {
    /// The package whose scripts made it: its config and data live under that package's
    /// name in `etc/<profile>/` and `var/<profile>/`.
    #[serde(rename = "for")]
    pub for_package: String,
    /// Each script that ran, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptReport>,
    /// What the scripts ran against (a hash of the set's entries and of the runner), so
    /// that the same set finds its made entry in the store instead of running again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub inputs: String,
}

/// One maintainer script's run, as `berth info` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptReport {
    /// `preinst`, `postinst` …
    pub script: String,
    /// `ok`, or what went wrong (`exit status 1`, `timed out after 60 s`).
    pub status: String,
    /// What berth understood or kept, one line each (`/usr/bin/php -> php8.2 (alternative)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made: Vec<String>,
    /// What it printed (capped), for a script that failed or warned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// `[package]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMeta {
    /// Lowercase letters, digits, `-_.+`.
    pub name: String,
    /// Non-empty, without `/` or whitespace; ordered like Debian versions.
    pub version: String,
    /// One line for humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// `[exports]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exports {
    /// Directories whose executables become commands.
    #[serde(default = "default_bin")]
    pub bin: Vec<String>,
}

impl Default for Exports {
    fn default() -> Self {
        Exports { bin: default_bin() }
    }
}

fn default_bin() -> Vec<String> {
    vec!["bin".to_string()]
}

/// `[[config]]` and `[[writable]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathEntry {
    /// Relative to the package root.
    pub path: String,
    /// `user[:group]` that owns it inside the profile's view (names from the host or the
    /// profile's `[[user]]` records); root when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Its mode, in octal (`0640`, `2750`); the package's copy's mode when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

impl PathEntry {
    /// A path with no owner or mode of its own.
    pub fn plain(path: impl Into<String>) -> PathEntry {
        PathEntry {
            path: path.into(),
            owner: None,
            mode: None,
        }
    }

    /// The mode as a number, if one is given.
    pub fn mode_bits(&self) -> Option<u32> {
        self.mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
    }
}

/// `[service]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Command line, relative to the package root.
    pub exec: String,
    /// User the service runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Capabilities kept after privileges are dropped (`NET_BIND_SERVICE` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

impl Manifest {
    /// A minimal manifest, as made for plain tarballs.
    pub fn new(name: &str, version: &str) -> Result<Manifest> {
        let m = Manifest {
            package: PackageMeta {
                name: name.to_string(),
                version: version.to_string(),
                description: String::new(),
            },
            exports: Exports::default(),
            config: vec![],
            writable: vec![],
            service: None,
            origin: None,
            users: vec![],
            made: None,
        };
        m.validate(Path::new("(command line)"))?;
        Ok(m)
    }

    /// Parses and validates manifest text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            Error::Manifest {
                path: path.to_path_buf(),
                line,
                column,
                // toml's messages run over several lines and quote the text they met:
                // one line, control characters escaped.
                message: super::printable::printable(&e.message().replace('\n', "; ")),
            }
        })?;
        m.validate(path)?;
        Ok(m)
    }

    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::InputNotFound {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("read", path, e)),
        };
        Manifest::parse(&text, path)
    }

    /// The manifest as TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Internal {
            what: "manifest",
            detail: e.to_string(),
        })
    }

    /// The parts that decide what runs (exports, config, writable, service), as canonical
    /// text: what an entry's id covers besides name, version and files.
    pub fn runtime_key(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Key<'a> {
            exports: &'a Exports,
            config: &'a [PathEntry],
            writable: &'a [PathEntry],
            service: &'a Option<Service>,
            #[serde(skip_serializing_if = "<[UserRecord]>::is_empty")]
            users: &'a [UserRecord],
            #[serde(skip_serializing_if = "Option::is_none")]
            made_for: Option<&'a str>,
            #[serde(skip_serializing_if = "str::is_empty")]
            made_inputs: &'a str,
        }
        serde_json::to_string(&Key {
            exports: &self.exports,
            config: &self.config,
            writable: &self.writable,
            service: &self.service,
            users: &self.users,
            made_for: self.made.as_ref().map(|m| m.for_package.as_str()),
            made_inputs: self.made.as_ref().map_or("", |m| m.inputs.as_str()),
        })
        .map_err(|e| Error::Internal {
            what: "manifest",
            detail: e.to_string(),
        })
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |message: String| Error::ManifestValue {
            path: path.to_path_buf(),
            message,
        };
        check_name("package name", &self.package.name).map_err(|e| bad(e.to_string()))?;
        check_version(&self.package.version).map_err(|e| bad(e.to_string()))?;
        let rel = |what: &str, p: &str| -> Result<()> {
            if p.is_empty()
                || p.starts_with('/')
                || p.split('/').any(|c| c == ".." || c == ".")
                || p.chars().any(|c| c.is_control() || c == '\\')
            {
                return Err(bad(format!(
                    "{what} `{}` must be a plain relative path inside the package",
                    super::printable::printable(p)
                )));
            }
            Ok(())
        };
        for b in &self.exports.bin {
            rel("exports.bin entry", b)?;
        }
        for c in &self.config {
            rel("config path", &c.path)?;
        }
        for w in &self.writable {
            rel("writable path", &w.path)?;
        }
        for p in self.config.iter().chain(&self.writable) {
            if let Some(m) = &p.mode {
                if p.mode_bits().is_none_or(|b| b > 0o7777) {
                    return Err(bad(format!(
                        "mode `{}` of `{}` is not an octal mode (like 0640)",
                        super::printable::printable(m),
                        p.path
                    )));
                }
            }
            if let Some(o) = &p.owner {
                let ok = |n: &str| {
                    !n.is_empty()
                        && n.len() <= 32
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                };
                let (u, g) = o.split_once(':').unwrap_or((o, "root"));
                if !ok(u) || !ok(g) {
                    return Err(bad(format!(
                        "owner `{}` of `{}` is not `user` or `user:group`",
                        super::printable::printable(o),
                        p.path
                    )));
                }
            }
        }
        for u in &self.users {
            check_user_name(&u.name).map_err(&bad)?;
            check_user_name(&u.group).map_err(&bad)?;
        }
        Ok(())
    }
}

/// A user or group name by shadow's rules: lowercase letters, digits, `-` and `_`, not
/// starting with a digit or `-`, at most 32 bytes.
pub fn check_user_name(name: &str) -> std::result::Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !first_ok || !rest_ok || name.len() > 32 {
        return Err(format!(
            "user or group name `{}` must be lowercase letters, digits, `-` or `_`, start with a letter or `_`, at most 32 bytes",
            super::printable::printable(name)
        ));
    }
    Ok(())
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_manifest() {
        let m = Manifest::parse(
            r#"
[package]
name = "myapp"
version = "1.5.0"
description = "Order service"
[exports]
bin = ["bin", "sbin"]
[[config]]
path = "etc/myapp.ini"
[[writable]]
path = "var/uploads"
[service]
exec = "bin/myapp serve"
user = "myapp"
capabilities = ["NET_BIND_SERVICE"]
"#,
            Path::new("berth.toml"),
        )
        .unwrap();
        assert_eq!(m.package.name, "myapp");
        assert_eq!(m.exports.bin, vec!["bin", "sbin"]);
        assert_eq!(m.config[0].path, "etc/myapp.ini");
        assert_eq!(m.service.unwrap().capabilities, vec!["NET_BIND_SERVICE"]);
    }

    #[test]
    fn messages_are_one_line_without_control_characters() {
        for text in [
            "[package]\nname = \"a\"\nversion = \"1\"\n\"k\\u001b[2J\" = 1\n",
            "[package\nname = \"a\"\n",
            "[package]\nname = \"a\"\nversion = \"1\"\n[exports]\nbin = [\"a\\u001bb\"]\n",
        ] {
            let e = Manifest::parse(text, Path::new("berth.toml")).unwrap_err();
            let s = e.to_string();
            assert!(!s.chars().any(char::is_control), "{s:?}");
        }
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = Manifest::parse(
            "[package]\nname = \"a\"\nversion = \"1\"\nvesion = \"2\"\n",
            Path::new("berth.toml"),
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("berth.toml:4:1:"), "{s}");
        assert!(s.contains("vesion"), "{s}");
    }
}
