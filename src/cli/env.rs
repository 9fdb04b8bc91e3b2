//! `berth env` (a profile's environment for scripts and systemd), `berth activate` (a shell
//! hook that puts the current directory's profile first on PATH: no shim in between) and the
//! hidden `berth hook-env` that hook calls.

use super::{output, Ctx};
use crate::error::Result;
use crate::profile::activate::{self, Shell};

/// `env`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth env site-a                         # PATH=… and BERTH_PROFILE=… lines
  berth env site-a > /etc/berth/site-a.env # systemd: EnvironmentFile=/etc/berth/site-a.env
  eval \"$(berth env site-a --shell bash)\"  # this shell, from now on
  berth env --json                         # the profile a shim would choose here

PATH is the profile's bin/ (through its link, so a switch takes effect at once) followed by
the PATH berth was started with. Without PROFILE, the profile is chosen like a shim does:
$BERTH_PROFILE, the nearest .berth-profile, the default profile.")]
pub struct EnvArgs {
    /// Profile [default: chosen like a shim]
    pub profile: Option<String>,
    /// Print `export` statements for this shell instead of KEY=VALUE lines
    #[arg(long, value_enum)]
    pub shell: Option<Shell>,
}

/// `activate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  eval \"$(berth activate bash)\"            # in ~/.bashrc
  eval \"$(berth activate zsh)\"             # in ~/.zshrc
  berth activate fish | source             # in ~/.config/fish/config.fish

Whenever the working directory (or $BERTH_PROFILE) changes, the hook chooses the profile
the way a shim does ($BERTH_PROFILE, the nearest .berth-profile, the default profile) and
puts <root>/profiles/<profile>/bin first on PATH, replacing the entry it put there before:
commands run directly, with no shim in between. It calls berth only when the directory
changed. The root is the one in effect when `activate` runs (--root or $BERTH_ROOT).")]
pub struct ActivateArgs {
    /// The shell to print the hook for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `hook-env` (called by the activation hook).
#[derive(Debug, clap::Args)]
pub struct HookArgs {
    /// The shell to print code for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Runs `env`.
pub fn env(ctx: &Ctx, a: EnvArgs) -> Result<()> {
    let (profile, why) = super::pick::choose(ctx.root_path(), a.profile.as_deref())?;
    let (view, _) = super::pick::view_with_profile(ctx, &profile)?;
    let path = view
        .profiles
        .path_env(&profile, std::env::var_os(crate::env::PATH).as_deref())?;
    let path = path.to_string_lossy().into_owned();
    let vars = [
        (crate::env::BERTH_PROFILE, profile.as_str()),
        (crate::env::PATH, path.as_str()),
    ];
    if ctx.json {
        output::json(&serde_json::json!({
            "profile": profile,
            "chosen_by": why,
            "env": { crate::env::BERTH_PROFILE: profile, crate::env::PATH: path },
        }));
        return Ok(());
    }
    for (k, v) in vars {
        match a.shell {
            Some(Shell::Fish) => println!("set -gx {k} {};", activate::quote(Shell::Fish, v)),
            Some(s) => println!("export {k}={};", activate::quote(s, v)),
            None => println!("{k}={}", env_file_value(v)),
        }
    }
    Ok(())
}

/// A value for a systemd `EnvironmentFile=` (and `sh` alike): bare when it holds only safe
/// characters, else double-quoted with `\` and `"` escaped.
fn env_file_value(v: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/:._-+,@%=".contains(c);
    if v.chars().all(safe) {
        v.to_string()
    } else {
        let escaped: String = v
            .chars()
            .flat_map(|c| match c {
                '\\' | '"' | '$' | '`' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

/// Runs `activate`.
pub fn activate(ctx: &Ctx, a: ActivateArgs) -> Result<()> {
    let berth = std::env::current_exe().map_err(|e| crate::Error::io("find", "berth", e))?;
    let root = std::path::absolute(ctx.root_path())
        .map_err(|e| crate::Error::io("resolve", ctx.root_path(), e))?;
    print!("{}", activate::hook_script(a.shell, &berth, &root));
    Ok(())
}

/// Runs `hook-env`: never fails (a broken hook must not break the shell); problems are
/// one-line warnings on stderr.
pub fn hook_env(ctx: &Ctx, a: HookArgs) -> Result<()> {
    let root = ctx.root_path();
    let cwd = std::env::current_dir().unwrap_or_default();
    let env_profile = std::env::var_os(crate::env::BERTH_PROFILE);
    let bin = match berth_shim::resolve(root, env_profile.as_deref(), &cwd) {
        Ok(choice) => {
            for w in &choice.warnings {
                eprintln!("berth: {w}");
            }
            let bin = activate::profile_bin(root, &choice.profile);
            if bin.is_none() {
                eprintln!(
                    "berth: profile {} ({}) does not exist; `berth use {} PACKAGE` makes it",
                    choice.profile, choice.source, choice.profile
                );
            }
            bin
        }
        Err(berth_shim::ResolveError::NoProfile { .. }) => None,
        Err(e) => {
            eprintln!("berth: {e}");
            None
        }
    };
    let path = std::env::var_os(crate::env::PATH).unwrap_or_default();
    let previous = std::env::var_os(activate::ADDED_VAR);
    let change = activate::change_path(&path, previous.as_deref(), bin.as_deref());
    print!("{}", activate::apply_code(a.shell, &change));
    Ok(())
}
