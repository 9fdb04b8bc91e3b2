//! The declarative profile file that `berth apply` converges a server to
//! (`profiles/site-a.toml`): which versions, which rendered config, which users and
//! directories, the data backup and the service with its health check. Parsed strictly
//! (unknown keys are an error with line and column) and validated before anything is
//! planned. Its text is recorded verbatim in each generation it makes, so a later `use` or
//! `rollback` of the profile knows its service, backup and hooks.

use super::constraint::Constraint;
use super::Error;
use crate::error::Result;
use crate::package::name::check_name;
use crate::profile::{Generation, Profiles};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::time::Duration;

/// Largest profile file berth reads.
pub const MAX_PROFILE_FILE: u64 = 1 << 20;
/// Health checks get this long unless the profile says otherwise: start-up plus
/// migrations routinely overrun short limits and cause needless rollbacks.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

/// Backups kept unless the profile says otherwise.
pub const DEFAULT_BACKUP_KEEP: u32 = 3;

/// A parsed profile file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// The profile it converges.
    pub profile: String,
    /// Package name → exact version or a Debian-style constraint (`">= 7.59, << 8"`,
    /// `"8.2.*"`, `"*"`).
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
    /// Path (relative, below `<root>/etc/<profile>/`) → how to render it.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigSpec>,
    /// System users ensured to exist (never modified or deleted).
    #[serde(default, rename = "user")]
    pub users: Vec<UserSpec>,
    /// Directories ensured inside `<root>/var/<profile>/`.
    #[serde(default, rename = "dir")]
    pub dirs: Vec<DirSpec>,
    /// Data snapshots of `<root>/var/<profile>/` before a switch.
    #[serde(default)]
    pub backup: Option<BackupSpec>,
    /// How the profile runs as a service, and how its health is checked.
    #[serde(default)]
    pub service: Option<ServiceSpec>,
    /// Commands run around a switch.
    #[serde(default)]
    pub hooks: Option<HooksSpec>,
}

/// `[config."path"]`: a file rendered from a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// The template (minijinja), relative to the profile file's directory.
    pub template: String,
    /// Variables the template sees.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// File mode, octal (`"0640"`); 0644 when absent.
    #[serde(default)]
    pub mode: Option<String>,
}

/// `[[user]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The user's name.
    pub name: String,
    /// Its home directory; none means `useradd --system`'s default (no home created).
    #[serde(default)]
    pub home: Option<String>,
}

/// `[[dir]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Relative to `<root>/var/<profile>/`.
    pub path: String,
    /// Owner (user name); the invoking user when absent.
    #[serde(default)]
    pub owner: Option<String>,
    /// Group; the owner's primary group when absent.
    #[serde(default)]
    pub group: Option<String>,
    /// Mode, octal (`"0750"`); 0755 when absent.
    #[serde(default)]
    pub mode: Option<String>,
}

/// `[backup]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSpec {
    /// Snapshot `<root>/var/<profile>/` before each switch.
    #[serde(default)]
    pub before_switch: bool,
    /// Snapshots kept (newest first).
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_keep() -> u32 {
    DEFAULT_BACKUP_KEEP
}

/// `[service]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Command line; its first word is looked up in the profile's `bin/`.
    pub exec: String,
    /// Run it with `run --isolate` (packages at their canonical paths).
    #[serde(default)]
    pub isolate: bool,
    /// User it runs as.
    #[serde(default)]
    pub user: Option<String>,
    /// Capabilities kept after privileges are dropped.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Shell command that exits 0 when the service is healthy, run after each switch.
    #[serde(default)]
    pub health: Option<String>,
    /// How long the health check may keep failing before the switch is rolled back
    /// (`"30s"`, `"2m"`); [`DEFAULT_HEALTH_TIMEOUT`] when absent.
    #[serde(default)]
    pub health_timeout: Option<String>,
    /// Shell command that restarts the service when its systemd unit is not installed or
    /// systemd does not run.
    #[serde(default)]
    pub restart: Option<String>,
}

/// `[hooks]`: shell commands that get `BERTH_PROFILE`, `BERTH_FROM_GENERATION` and
/// `BERTH_TO_GENERATION`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSpec {
    /// Before the profile link moves; a failure stops the switch.
    #[serde(default, rename = "pre-switch")]
    pub pre_switch: Option<String>,
    /// After the switch (and the restart).
    #[serde(default, rename = "post-switch")]
    pub post_switch: Option<String>,
}

impl ProfileSpec {
    /// Reads a profile file given with `use --spec` (a file of the user's, not under the
    /// root) and validates it; it must be for `profile`. Returns its text, recorded
    /// verbatim.
    pub fn read_for(path: &Path, profile: &str) -> Result<String> {
        // A regular file, capped, never waiting on a FIFO (the root's lock may be held).
        let text = crate::fsutil::read_input_text(path, MAX_PROFILE_FILE)?;
        let spec = ProfileSpec::parse(&text, path)?;
        spec.refuse_unsafe_modes(path)?;
        if spec.profile != profile {
            return Err(super::deploy_error::Error::SpecForOtherProfile {
                path: path.to_path_buf(),
                inner: spec.profile,
                profile: profile.to_string(),
            }
            .into());
        }
        Ok(text)
    }

    /// The profile file generation `gen` of `profile` records, parsed (none when it records
    /// none): the one place a recorded file is read back.
    pub fn recorded(profiles: &Profiles, profile: &str, gen: &Generation) -> Result<Option<Self>> {
        profiles
            .recorded_spec(profile, gen)
            .map(|(text, origin)| ProfileSpec::parse(text, &origin))
            .transpose()
    }

    /// Parses and validates profile file text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<ProfileSpec> {
        let spec: ProfileSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| crate::package::manifest::line_col(text, s.start))
                .unwrap_or((1, 1));
            Error::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: crate::package::extract::printable(&e.message().replace('\n', "; ")),
            }
        })?;
        spec.validate(path)?;
        Ok(spec)
    }

    /// The health timeout in force.
    pub fn health_timeout(&self) -> Duration {
        self.service
            .as_ref()
            .and_then(|s| s.health_timeout.as_deref())
            .and_then(|t| humantime::parse_duration(t).ok())
            .unwrap_or(DEFAULT_HEALTH_TIMEOUT)
    }

    /// Refuses modes that put the service's files in every local user's hands: a config
    /// file writable by others, a directory writable by others without the sticky bit.
    /// Checked when a profile file is applied, not when a generation's recorded file is
    /// read, so a rollback to a generation made before this rule still works.
    pub fn refuse_unsafe_modes(&self, path: &Path) -> Result<()> {
        let bad = |message: String| Error::Value {
            path: path.to_path_buf(),
            message,
        };
        for (p, c) in &self.config {
            let Some(m) = &c.mode else { continue };
            if mode(m).is_ok_and(|bits| bits & 0o002 != 0) {
                return Err(bad(format!(
                    "config.\"{p}\".mode: `{m}` lets every local user write the file; \
                     use 0644, 0640 or 0600"
                ))
                .into());
            }
        }
        for d in &self.dirs {
            let Some(m) = &d.mode else { continue };
            if let Ok(bits) = mode(m) {
                if bits & 0o002 != 0 && bits & 0o1000 == 0 {
                    return Err(bad(format!(
                        "dir \"{}\".mode: `{m}` lets every local user delete and replace \
                         the files in it; write `{:04o}` (with the sticky bit) if that is meant",
                        d.path,
                        bits | 0o1000
                    ))
                    .into());
                }
            }
        }
        Ok(())
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |message: String| -> crate::Error {
            Error::Value {
                path: path.to_path_buf(),
                message,
            }
            .into()
        };
        let named =
            |what: &'static str, v: &str| check_name(what, v).map_err(|e| bad(e.to_string()));
        named("profile name", &self.profile)?;
        for (name, constraint) in &self.packages {
            named("package name", name)?;
            if constraint.trim().is_empty() {
                return Err(bad(format!(
                    "packages.{name}: empty version (write \"*\" for any version)"
                )));
            }
            Constraint::parse(constraint).map_err(|why| Error::BadConstraint {
                path: path.to_path_buf(),
                package: name.clone(),
                constraint: crate::package::extract::printable(constraint),
                why,
            })?;
        }
        for (p, c) in &self.config {
            relative("config", p).map_err(&bad)?;
            if p.starts_with(".berth") || p.ends_with(".berth-dist") || p.ends_with(".berth-old") {
                return Err(bad(format!(
                    "config path `{p}`: names starting with .berth and ending in .berth-dist or .berth-old are berth's own"
                )));
            }
            if let Some(first) = p
                .split('/')
                .next()
                .filter(|f| self.packages.contains_key(*f))
            {
                return Err(bad(format!(
                    "config path `{p}`: `{first}/` holds the config files of package {first}; choose another directory"
                )));
            }
            relative("template", &c.template).map_err(&bad)?;
            if let Some(m) = &c.mode {
                mode(m).map_err(|why| bad(format!("config.\"{p}\".mode: {why}")))?;
            }
        }
        for u in &self.users {
            crate::package::manifest::check_user_name(&u.name)
                .map_err(|why| bad(format!("user: {why}")))?;
        }
        for d in &self.dirs {
            relative("dir", &d.path).map_err(&bad)?;
            for (what, v, prefix) in [("owner", &d.owner, "uid"), ("group", &d.group, "gid")] {
                if let Some(v) = v {
                    account(v, prefix)
                        .map_err(|why| bad(format!("dir \"{}\".{what}: {why}", d.path)))?;
                }
            }
            if let Some(m) = &d.mode {
                mode(m).map_err(|why| bad(format!("dir \"{}\".mode: {why}", d.path)))?;
            }
        }
        if let Some(s) = &self.service {
            if s.exec.trim().is_empty() {
                return Err(bad("service.exec: empty command".into()));
            }
            if let Some(u) = &s.user {
                let (user, group) = u
                    .split_once(':')
                    .map_or((u.as_str(), None), |(a, b)| (a, Some(b)));
                account(user, "uid").map_err(|why| bad(format!("service.user: {why}")))?;
                if let Some(g) = group {
                    account(g, "gid").map_err(|why| bad(format!("service.user: {why}")))?;
                }
            }
            if let Some(t) = &s.health_timeout {
                humantime::parse_duration(t)
                    .map_err(|e| bad(format!("service.health_timeout `{t}`: {e}")))?;
            }
        }
        Ok(())
    }
}

/// A user or group as a profile file may name it: a name by shadow's rules, or a number
/// said explicitly (`uid:993`, `gid:4`). A bare number is refused: `"0"` could be the login
/// named 0 or root, and the two must never be confused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// A name, looked up on the host.
    Name(String),
    /// An explicit id.
    Id(u32),
}

/// Parses `v` as an [`Account`]; `prefix` is `uid` or `gid`.
pub fn account(v: &str, prefix: &str) -> std::result::Result<Account, String> {
    let shown = crate::package::extract::printable(v);
    if let Some(n) = v.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')) {
        return n
            .parse::<u32>()
            .ok()
            .filter(|&n| n != u32::MAX)
            .map(Account::Id)
            .ok_or_else(|| format!("`{shown}` is not {prefix}:NUMBER with a valid id"));
    }
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{shown}` is a number: write `{prefix}:{shown}` for an id, or a name"
        ));
    }
    crate::package::manifest::check_user_name(v)?;
    Ok(Account::Name(v.to_string()))
}

/// Parses an octal mode string (`"0750"`), at most 0o7777 and without setuid/setgid.
pub fn mode(s: &str) -> std::result::Result<u32, String> {
    let shown = crate::package::printable::escaped(s);
    let m = u32::from_str_radix(s, 8).map_err(|_| format!("`{shown}` is not an octal mode"))?;
    if m > 0o1777 {
        return Err(format!("`{shown}`: setuid/setgid bits are not allowed"));
    }
    Ok(m)
}

/// A relative path that stays below its directory: no `/` at the start, no `..`, and no
/// control or invisible characters (they would be written into file names and echoed to
/// terminals; the message shows them escaped, never raw).
fn relative(what: &str, p: &str) -> std::result::Result<(), String> {
    let shown = crate::package::printable::escaped(p);
    if shown != p {
        return Err(format!(
            "{what} path `{shown}` has control or invisible characters (shown escaped); \
             file names in a profile are plain text"
        ));
    }
    let path = Path::new(p);
    if p.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "{what} path `{}` must be relative and stay below its directory",
            crate::package::extract::printable(p)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
profile = "site-a"
[packages]
drupal7 = "7.59-1"
php = "8.2.*"
[config."sites/default/settings.php"]
template = "templates/settings.php.j2"
vars = { db_host = "127.0.0.1", db_name = "site_a" }
[[user]]
name = "site-a"
[[dir]]
path = "files"
owner = "site-a"
mode = "0750"
[backup]
before_switch = true
keep = 3
[service]
exec = "php-fpm8.2 -F"
isolate = true
user = "site-a"
capabilities = []
health = "curl -fsS http://127.0.0.1:8081/health"
health_timeout = "30s"
[hooks]
post-switch = "echo switched"
"#;

    #[test]
    fn the_issue_example_parses() {
        let s = ProfileSpec::parse(EXAMPLE, Path::new("site-a.toml")).unwrap();
        assert_eq!(s.profile, "site-a");
        assert_eq!(s.packages["php"], "8.2.*");
        assert_eq!(s.dirs[0].mode.as_deref(), Some("0750"));
        assert_eq!(s.health_timeout(), Duration::from_secs(30));
        assert_eq!(s.backup.unwrap().keep, 3);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = ProfileSpec::parse("profile = \"a\"\n[servise]\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:2:"), "{e}");
    }

    #[test]
    fn escaping_paths_and_bad_modes_are_refused() {
        for text in [
            "profile = \"a\"\n[[dir]]\npath = \"../x\"\n",
            "profile = \"a\"\n[[dir]]\npath = \"/x\"\n",
            "profile = \"a\"\n[[dir]]\npath = \"x\"\nmode = \"4755\"\n",
            "profile = \"a\"\n[[dir]]\npath = \"x\"\nmode = \"rwx\"\n",
            "profile = \"../a\"\n",
        ] {
            assert!(
                ProfileSpec::parse(text, Path::new("p.toml")).is_err(),
                "{text}"
            );
        }
    }
}
