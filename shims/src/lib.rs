//! What the shim and berth share: the environment variable names, the names of the parts of a
//! root the shim reads, and the one profile resolver used by the shim, `berth which` and
//! `berth run`. Std only, so that the shim starts in well under a millisecond.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variable names, defined once for both crates.
pub mod env {
    /// The root directory (overridden by `--root`).
    pub const BERTH_ROOT: &str = "BERTH_ROOT";
    /// The profile a shim or `berth run` uses; set for children so they agree.
    pub const BERTH_PROFILE: &str = "BERTH_PROFILE";
}

/// The file naming the profile of a directory tree (nearest one wins).
pub const PROFILE_FILE: &str = ".berth-profile";
/// `<root>/default-profile`: the profile shims use when nothing else says.
pub const DEFAULT_PROFILE_FILE: &str = "default-profile";
/// `<root>/profiles`: one link per profile.
pub const PROFILES_DIR: &str = "profiles";
/// `<profile>/bin`: the exported commands of a generation.
pub const BIN_DIR: &str = "bin";

/// Which rule chose the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `$BERTH_PROFILE`.
    Env,
    /// A `.berth-profile` file.
    File(PathBuf),
    /// `<root>/default-profile`.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env => write!(f, "${}", env::BERTH_PROFILE),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Default => write!(f, "the root's default profile"),
        }
    }
}

/// A chosen profile and the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Profile name (not yet checked to exist).
    pub profile: String,
    /// Why it was chosen.
    pub source: Source,
}

/// Why no profile could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// None of the three sources names a profile.
    NoProfile {
        /// The directory whose ancestors were searched for `.berth-profile`.
        cwd: PathBuf,
    },
    /// A source names something that is not a valid profile name.
    BadName {
        /// The name as found.
        name: String,
        /// Where it was found.
        source: Source,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NoProfile { cwd } => write!(
                f,
                "no profile chosen: ${} is unset, no {PROFILE_FILE} in {} or its parents, and the root has no default profile; run `berth default PROFILE` (or set {} or write a {PROFILE_FILE} file)",
                env::BERTH_PROFILE,
                cwd.display(),
                env::BERTH_PROFILE,
            ),
            ResolveError::BadName { name, source } => {
                write!(f, "invalid profile name `{name}` in {source}")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Package and profile names: lowercase letters, digits, `-_.+`, starting with a letter or
/// digit, at most 128 bytes. (Keeps `$BERTH_PROFILE=../x` from escaping `profiles/`.)
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.+".contains(c))
}

/// Chooses the profile: `env_profile` (the value of `$BERTH_PROFILE`) > the nearest
/// `.berth-profile` in `cwd` or a parent > `<root>/default-profile`.
pub fn resolve(
    root: &Path,
    env_profile: Option<&OsStr>,
    cwd: &Path,
) -> Result<Choice, ResolveError> {
    let checked = |name: String, source: Source| {
        if valid_name(&name) {
            Ok(Choice {
                profile: name,
                source,
            })
        } else {
            Err(ResolveError::BadName { name, source })
        }
    };
    if let Some(p) = env_profile.filter(|p| !p.is_empty()) {
        return checked(p.to_string_lossy().into_owned(), Source::Env);
    }
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        let file = d.join(PROFILE_FILE);
        if let Some(name) = first_line(&file) {
            return checked(name, Source::File(file));
        }
        dir = d.parent();
    }
    if let Some(name) = default_profile(root) {
        return checked(name, Source::Default);
    }
    Err(ResolveError::NoProfile {
        cwd: cwd.to_path_buf(),
    })
}

/// The root's default profile (`<root>/default-profile`), if one is set.
pub fn default_profile(root: &Path) -> Option<String> {
    first_line(&root.join(DEFAULT_PROFILE_FILE))
}

/// The first non-empty line of a small file, trimmed; `None` if unreadable or empty.
fn first_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// `<root>/profiles/<profile>`.
pub fn profile_link(root: &Path, profile: &str) -> PathBuf {
    root.join(PROFILES_DIR).join(profile)
}

/// `<root>/profiles/<profile>/bin/<command>`: what a shim runs.
pub fn command_path(root: &Path, profile: &str, command: &OsStr) -> PathBuf {
    profile_link(root, profile).join(BIN_DIR).join(command)
}

/// Profiles (sorted) whose current generation provides `command`.
pub fn profiles_with(root: &Path, command: &OsStr) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root.join(PROFILES_DIR)) {
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if valid_name(name) && command_path(root, name, command).exists() {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    out
}

/// "profile P (from WHY) has no command C; profiles that have it: …", for the shim and `which`.
pub fn missing_command(
    root: &Path,
    profile: &str,
    why: &dyn fmt::Display,
    command: &OsStr,
) -> String {
    let others = profiles_with(root, command);
    let have = if others.is_empty() {
        "no profile provides it".to_string()
    } else {
        format!("profiles that have it: {}", others.join(", "))
    };
    format!(
        "profile {profile} (from {why}) has no command {}; {have}",
        command.to_string_lossy()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-shim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn env_beats_file_beats_default() {
        let d = tmp("order");
        let root = d.join("root");
        let work = d.join("a/b/c");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let none = resolve(&root, None, &work).unwrap_err();
        assert!(matches!(none, ResolveError::NoProfile { .. }));
        std::fs::write(root.join(DEFAULT_PROFILE_FILE), "dflt\n").unwrap();
        assert_eq!(resolve(&root, None, &work).unwrap().source, Source::Default);
        std::fs::write(d.join("a/.berth-profile"), "\n site-a \n").unwrap();
        let c = resolve(&root, None, &work).unwrap();
        assert_eq!(c.profile, "site-a");
        assert_eq!(c.source, Source::File(d.join("a/.berth-profile")));
        let c = resolve(&root, Some(OsStr::new("site-b")), &work).unwrap();
        assert_eq!((c.profile.as_str(), c.source), ("site-b", Source::Env));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn names_that_escape_are_refused() {
        let d = tmp("bad");
        for bad in ["../x", "a/b", "", ".hidden", "UP"] {
            let r = resolve(&d, Some(OsStr::new(bad)), &d);
            if bad.is_empty() {
                assert!(matches!(r, Err(ResolveError::NoProfile { .. })));
            } else {
                assert!(matches!(r, Err(ResolveError::BadName { .. })), "{bad}");
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
