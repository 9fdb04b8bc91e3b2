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
    /// How many shims deep this process is (a command calling its own shim would loop).
    pub const BERTH_SHIM_DEPTH: &str = "BERTH_SHIM_DEPTH";
}

/// The most `.berth-profile` bytes read: a profile name is at most 128.
pub const MAX_PROFILE_FILE: u64 = 256;
/// Shims nested deeper than this are taken for a loop.
pub const MAX_SHIM_DEPTH: u32 = 16;

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
            Source::File(p) => write!(f, "{}", printable(&p.to_string_lossy())),
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
    /// `.berth-profile` files passed over (owned by another user), one line each.
    pub warnings: Vec<String>,
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
    /// A `.berth-profile` (or the default-profile file) that cannot be used.
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
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
            ResolveError::BadName { name, source } => write!(
                f,
                "invalid profile name `{}` in {}: use lowercase letters, digits and - _ . + only",
                printable(name),
                printable(&source.to_string())
            ),
            ResolveError::BadFile { path, why } => {
                write!(f, "{}: {why}", printable(&path.to_string_lossy()))
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Why `name` is not a valid package or profile name, or `None` when it is: lowercase
/// letters, digits, `-_.+`, starting with a letter or digit, at most 128 bytes. (Keeps
/// `$BERTH_PROFILE=../x` from escaping `profiles/`.) The one rule, shared by berth and the
/// shim.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 128 {
        Some("it is longer than 128 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.+".contains(c))
    {
        Some("use lowercase letters, digits and - _ . + only")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or a digit")
    } else {
        None
    }
}

/// Whether `name` is a valid package or profile name (see [`name_problem`]).
pub fn valid_name(name: &str) -> bool {
    name_problem(name).is_none()
}

/// Chooses the profile: `env_profile` (the value of `$BERTH_PROFILE`) > the nearest
/// `.berth-profile` in `cwd` or a parent > `<root>/default-profile`. A `.berth-profile`
/// owned by someone other than the invoking user or root is passed over (with a warning):
/// in a shared directory such as `/tmp` it would let another user choose the profile.
pub fn resolve(
    root: &Path,
    env_profile: Option<&OsStr>,
    cwd: &Path,
) -> Result<Choice, ResolveError> {
    let mut warnings = Vec::new();
    let checked = |name: String, source: Source, warnings: &mut Vec<String>| {
        if valid_name(&name) {
            Ok(Choice {
                profile: name,
                source,
                warnings: std::mem::take(warnings),
            })
        } else {
            Err(ResolveError::BadName { name, source })
        }
    };
    if let Some(p) = env_profile.filter(|p| !p.is_empty()) {
        return checked(p.to_string_lossy().into_owned(), Source::Env, &mut warnings);
    }
    let me = unsafe { libc_geteuid() };
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        let file = d.join(PROFILE_FILE);
        match read_profile_file(&file, me)? {
            Read::Name(name) => return checked(name, Source::File(file), &mut warnings),
            Read::Foreign(uid) => warnings.push(format!(
                "ignoring {} (owned by uid {uid}, not by you or root)",
                printable(&file.to_string_lossy())
            )),
            Read::Missing => {}
        }
        dir = d.parent();
    }
    let file = root.join(DEFAULT_PROFILE_FILE);
    match read_profile_file(&file, me)? {
        Read::Name(name) => checked(name, Source::Default, &mut warnings),
        Read::Foreign(uid) => Err(ResolveError::BadFile {
            path: file,
            why: format!("owned by uid {uid}, not by you or root; berth ignores it"),
        }),
        Read::Missing => Err(ResolveError::NoProfile {
            cwd: cwd.to_path_buf(),
        }),
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

enum Read {
    Name(String),
    Foreign(u32),
    Missing,
}

/// Reads a profile file safely: never through a symlink, never blocking (a fifo), never
/// more than [`MAX_PROFILE_FILE`] bytes (a link to `/dev/zero`), regular files only.
fn read_profile_file(path: &Path, me: u32) -> Result<Read, ResolveError> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    const O_NOFOLLOW: i32 = 0o400000;
    const O_NONBLOCK: i32 = 0o4000;
    const O_CLOEXEC: i32 = 0o2000000;
    let bad = |why: &str| ResolveError::BadFile {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
        Err(e) if e.raw_os_error() == Some(40) => {
            // ELOOP: a symlink. Owned by whom? The link itself decides nothing; refuse it.
            return Err(bad(
                "is a symlink; write the profile name into a regular file",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(Read::Missing),
        Err(e) if e.raw_os_error() == Some(20) => return Ok(Read::Missing), // ENOTDIR
        Err(e) => return Err(bad(&format!("cannot be read: {e}"))),
    };
    let meta = f
        .metadata()
        .map_err(|e| bad(&format!("cannot be read: {e}")))?;
    if meta.uid() != me && meta.uid() != 0 {
        return Ok(Read::Foreign(meta.uid()));
    }
    if !meta.is_file() {
        return Err(bad("is not a regular file"));
    }
    if meta.len() > MAX_PROFILE_FILE {
        return Err(bad(&format!(
            "is larger than {MAX_PROFILE_FILE} bytes; it should hold one profile name"
        )));
    }
    let mut buf = Vec::new();
    f.take(MAX_PROFILE_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| bad(&format!("cannot be read: {e}")))?;
    let text = String::from_utf8_lossy(&buf);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(name) => Ok(Read::Name(name.to_string())),
        None => Err(bad("is empty; it should hold one profile name")),
    }
}

/// The root's default profile (`<root>/default-profile`), if one is set and readable.
pub fn default_profile(root: &Path) -> Option<String> {
    let me = unsafe { libc_geteuid() };
    match read_profile_file(&root.join(DEFAULT_PROFILE_FILE), me) {
        Ok(Read::Name(n)) => Some(n),
        _ => None,
    }
}

/// Text safe to show on a terminal: control characters (escape sequences among them)
/// are written as escapes, and the length is bounded.
pub fn printable(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(512) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().count() > 512 {
        out.push('…');
    }
    out
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
        printable(&command.to_string_lossy())
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
