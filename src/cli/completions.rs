//! `berth completions SHELL`: the shell's completion script, generated from the same clap
//! definitions that parse the command line, so it never offers a command or flag berth lacks.

use crate::error::{Error, Result};
use clap::{Command, CommandFactory};
use std::io::Write;

/// `completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  source <(berth completions bash)          # this bash session only
  berth completions bash > ~/.local/share/bash-completion/completions/berth
  berth completions zsh > ~/.zfunc/_berth   # with fpath+=(~/.zfunc) before compinit in ~/.zshrc
  berth completions fish > ~/.config/fish/completions/berth.fish

Commands, flags and fixed values (shells, --color) complete; package and profile names do
not. The Debian package installs all three scripts where the shells look for them:
/usr/share/bash-completion/completions/berth, /usr/share/zsh/vendor-completions/_berth and
/usr/share/fish/vendor_completions.d/berth.fish.")]
pub struct Args {
    /// The shell to print the completion script for
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells berth prints completion scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    /// GNU bash (needs the bash-completion package for `complete -F` loading on demand)
    Bash,
    /// zsh (a `_berth` function for compinit)
    Zsh,
    /// fish
    Fish,
}

impl From<CompletionShell> for clap_complete::Shell {
    fn from(s: CompletionShell) -> Self {
        match s {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// The completion script for `shell`, as bytes.
pub fn script(shell: CompletionShell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::from(shell),
        &mut without_hidden(&super::Cli::command()),
        "berth",
        &mut out,
    );
    out
}

/// `cmd` without its hidden subcommands, at any depth (`hook-env` is berth's own plumbing):
/// clap_complete offers every subcommand it is given, hidden or not, and clap has no way to
/// remove one, so a command with a hidden child is rebuilt from its parts; the others are
/// kept whole.
fn without_hidden(cmd: &Command) -> Command {
    fn has_hidden(cmd: &Command) -> bool {
        cmd.get_subcommands()
            .any(|s| s.is_hide_set() || has_hidden(s))
    }
    if !has_hidden(cmd) {
        return cmd.clone();
    }
    let mut out = Command::new(cmd.get_name().to_owned())
        .visible_aliases(cmd.get_visible_aliases().map(str::to_owned))
        .args(cmd.get_arguments().cloned())
        .groups(cmd.get_groups().cloned())
        .hide(cmd.is_hide_set())
        .subcommand_required(cmd.is_subcommand_required_set())
        .arg_required_else_help(cmd.is_arg_required_else_help_set())
        .disable_help_flag(cmd.is_disable_help_flag_set())
        .disable_help_subcommand(cmd.is_disable_help_subcommand_set())
        .disable_version_flag(cmd.is_disable_version_flag_set())
        .propagate_version(cmd.is_propagate_version_set())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(without_hidden),
        );
    if let Some(a) = cmd.get_about() {
        out = out.about(a.clone());
    }
    if let Some(a) = cmd.get_long_about() {
        out = out.long_about(a.clone());
    }
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_owned());
    }
    if let Some(v) = cmd.get_long_version() {
        out = out.long_version(v.to_owned());
    }
    out
}

/// Runs `completions`: prints the script on stdout.
pub fn run(a: Args) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(&script(a.shell))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write", "standard output", e))?;
    Ok(())
}
