//! Shell activation: a hook that, whenever the working directory (or `$BERTH_PROFILE`)
//! changes, chooses the profile the way a shim does and puts that profile's `bin/` first on
//! PATH, so interactive commands run with no shim in between. The hook itself is a few lines
//! of shell that only call berth when the directory changed; berth computes the new PATH
//! (removing the entry it added before) and prints it as shell code.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The shells berth can print code for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// GNU bash (PROMPT_COMMAND)
    Bash,
    /// zsh (chpwd and precmd hooks)
    Zsh,
    /// fish (a function on PWD and BERTH_PROFILE)
    Fish,
}

/// Quotes `s` as one word for `shell`.
pub fn quote(shell: Shell, s: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh => format!("'{}'", s.replace('\'', r"'\''")),
        Shell::Fish => format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'")),
    }
}

/// The hook script `berth activate SHELL` prints: it runs `berth --root ROOT hook-env SHELL`
/// (with this berth's absolute path) when the directory or `$BERTH_PROFILE` changed since
/// the last prompt, and evaluates what it prints.
pub fn hook_script(shell: Shell, berth: &Path, root: &Path) -> String {
    let call = format!(
        "{} --root {} hook-env {}",
        quote(shell, &berth.to_string_lossy()),
        quote(shell, &root.to_string_lossy()),
        shell_name(shell)
    );
    match shell {
        Shell::Bash => format!(
            r#"# berth activate bash: put the profile of the current directory first on PATH.
__berth_hook() {{
  local status=$?
  if [ "$PWD" != "${{__BERTH_PWD-}}" ] || [ "${{BERTH_PROFILE-}}" != "${{__BERTH_ENV-}}" ]; then
    __BERTH_PWD=$PWD
    __BERTH_ENV=${{BERTH_PROFILE-}}
    eval "$({call})"
  fi
  return $status
}}
case ";${{PROMPT_COMMAND:-}};" in
  *";__berth_hook;"*) ;;
  *) PROMPT_COMMAND="__berth_hook${{PROMPT_COMMAND:+;$PROMPT_COMMAND}}" ;;
esac
__berth_hook
"#
        ),
        Shell::Zsh => format!(
            r#"# berth activate zsh: put the profile of the current directory first on PATH.
__berth_hook() {{
  if [[ "$PWD" != "${{__BERTH_PWD-}}" || "${{BERTH_PROFILE-}}" != "${{__BERTH_ENV-}}" ]]; then
    __BERTH_PWD=$PWD
    __BERTH_ENV=${{BERTH_PROFILE-}}
    eval "$({call})"
  fi
}}
autoload -Uz add-zsh-hook
add-zsh-hook chpwd __berth_hook
add-zsh-hook precmd __berth_hook
__berth_hook
"#
        ),
        Shell::Fish => format!(
            r#"# berth activate fish: put the profile of the current directory first on PATH.
function __berth_hook --on-variable PWD --on-variable BERTH_PROFILE
  {call} | source
end
__berth_hook
"#
        ),
    }
}

fn shell_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "bash",
        Shell::Zsh => "zsh",
        Shell::Fish => "fish",
    }
}

/// The variable that remembers the PATH entry the hook added (to remove it on the next
/// change, whatever else changed PATH meanwhile).
pub const ADDED_VAR: &str = "__BERTH_BIN";

/// What the hook should do: the new PATH entries, and the entry it added (if any).
#[derive(Debug, PartialEq, Eq)]
pub struct PathChange {
    /// The whole new PATH, entry by entry.
    pub entries: Vec<String>,
    /// The entry berth put first (`<root>/profiles/<profile>/bin`), if a profile is active.
    pub added: Option<String>,
}

/// PATH with `previous` (the entry added last time) removed and `bin` put first.
pub fn change_path(path: &OsStr, previous: Option<&OsStr>, bin: Option<&Path>) -> PathChange {
    let previous = previous.map(|p| p.to_string_lossy().into_owned());
    let bin = bin.map(|b| b.to_string_lossy().into_owned());
    let mut entries: Vec<String> = std::env::split_paths(path)
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty() && Some(p) != previous.as_ref() && Some(p) != bin.as_ref())
        .collect();
    if let Some(b) = &bin {
        entries.insert(0, b.clone());
    }
    PathChange {
        entries,
        added: bin,
    }
}

/// Shell code that sets PATH and the remembered entry, and says which profile is active.
pub fn apply_code(shell: Shell, change: &PathChange) -> String {
    let mut out = String::new();
    match shell {
        Shell::Bash | Shell::Zsh => {
            let joined = change.entries.join(":");
            out.push_str(&format!("export PATH={};\n", quote(shell, &joined)));
            match &change.added {
                Some(a) => out.push_str(&format!("export {ADDED_VAR}={};\n", quote(shell, a))),
                None => out.push_str(&format!("unset {ADDED_VAR};\n")),
            }
        }
        Shell::Fish => {
            let words: Vec<String> = change.entries.iter().map(|e| quote(shell, e)).collect();
            out.push_str(&format!("set -gx PATH {};\n", words.join(" ")));
            match &change.added {
                Some(a) => out.push_str(&format!("set -gx {ADDED_VAR} {};\n", quote(shell, a))),
                None => out.push_str(&format!("set -e {ADDED_VAR};\n")),
            }
        }
    }
    out
}

/// The `bin/` of `profile` through its link, when the profile exists (a link in
/// `<root>/profiles/`); `None` otherwise.
pub fn profile_bin(root: &Path, profile: &str) -> Option<PathBuf> {
    use crate::fsutil::{dir::kind_of, Dir, Kind};
    // Through the root's dir handle: a link planted at `profiles/` (or a profile name with
    // `..`) must not make the check look outside the root.
    let rel = format!("{}/{profile}", berth_shim::PROFILES_DIR);
    let st = Dir::open_path(root).ok()?.stat(&rel).ok()??;
    (kind_of(&st) == Kind::Symlink)
        .then(|| berth_shim::profile_link(root, profile).join(berth_shim::BIN_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_entry_goes_and_the_new_one_comes_first_once() {
        let c = change_path(
            OsStr::new("/r/profiles/a/bin:/usr/bin:/r/profiles/b/bin:/bin"),
            Some(OsStr::new("/r/profiles/a/bin")),
            Some(Path::new("/r/profiles/b/bin")),
        );
        assert_eq!(c.entries, ["/r/profiles/b/bin", "/usr/bin", "/bin"]);
        let off = change_path(
            OsStr::new("/r/profiles/b/bin:/usr/bin"),
            Some(OsStr::new("/r/profiles/b/bin")),
            None,
        );
        assert_eq!(off.entries, ["/usr/bin"]);
        assert_eq!(off.added, None);
    }

    #[test]
    fn quoting_survives_quotes_and_backslashes() {
        assert_eq!(quote(Shell::Bash, "a'b"), r"'a'\''b'");
        assert_eq!(quote(Shell::Fish, r"a'b\c"), r"'a\'b\\c'");
    }
}
