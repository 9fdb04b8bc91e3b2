//! `berth completions SHELL`: the shell's completion script, generated from the same clap
//! definitions that parse the command line, so it never offers a command or flag berth lacks.

use crate::error::{Error, Result};
use clap::CommandFactory;
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
        &mut super::Cli::command(),
        "berth",
        &mut out,
    );
    out
}

/// Runs `completions`: prints the script on stdout.
pub fn run(a: Args) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    out.write_all(&script(a.shell))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write", "standard output", e))?;
    Ok(0)
}
