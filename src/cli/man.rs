//! `berth man [COMMAND]`: manual pages in roff, one per command, generated (clap_mangen) from
//! the same clap definitions as `--help`, so a page can never describe a flag berth lacks.
//! `--dir` writes every page at once, for packaging.

use super::{output, Ctx};
use crate::error::{Error, Result};
use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::io::Write;
use std::path::PathBuf;

/// `man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth man | man -l -                   # berth(1), without installing anything
  berth man install | man -l -           # the page of one command
  berth man repo publish | man -l -      # a nested command
  berth man --dir ~/.local/share/man/man1  # every page: berth.1, berth-install.1 …

The Debian package installs every page (gzipped) in /usr/share/man/man1, so `man berth`
and `man berth-install` work there.")]
pub struct Args {
    /// The command whose page to print; several words for a nested one [default: berth(1)]
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Vec<String>,
    /// Write every page into this directory (created if missing) instead of printing one
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// What `man --dir --json` reports.
#[derive(serde::Serialize)]
struct Written {
    dir: PathBuf,
    pages: Vec<String>,
}

/// Runs `man`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    if let Some(dir) = a.dir {
        crate::fsutil::create_user_dirs(&dir)?;
        let mut names = Vec::new();
        for (name, roff) in all_pages()? {
            crate::fsutil::write_user_file(&dir.join(&name), &roff, 0o644)?;
            names.push(name);
        }
        if ctx.json {
            output::json(&Written { dir, pages: names });
        } else if !ctx.quiet {
            println!("wrote {} pages to {}", names.len(), dir.display());
        }
        return Ok(());
    }
    let tree = tree();
    let mut cmd = &tree;
    let mut parent = None;
    for (i, word) in a.command.iter().enumerate() {
        let next = visible(cmd).find(|c| c.get_name() == word.as_str());
        let Some(next) = next else {
            return Err(Error::UnknownCommand {
                name: a.command[..=i].join(" "),
                known: visible(cmd).map(|c| c.get_name().to_string()).collect(),
            });
        };
        parent = Some(cmd);
        cmd = next;
    }
    let page = render(cmd, parent)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write", "standard output", e))?;
    Ok(())
}

/// Every page as (file name, roff): berth(1), one per visible command (nested ones included,
/// named berth-repo-publish.1 and so on), and berth-shim(1).
pub fn all_pages() -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(
        cmd: &clap::Command,
        parent: Option<&clap::Command>,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        out.push((format!("{}.1", display_name(cmd)), render(cmd, parent)?));
        for sub in visible(cmd) {
            walk(sub, Some(cmd), out)?;
        }
        Ok(())
    }
    let tree = tree();
    let mut out = Vec::new();
    walk(&tree, None, &mut out)?;
    out.push(("berth-shim.1".to_string(), shim_page()?));
    Ok(out)
}

/// berth's commands, built (so every subcommand knows its full name and the global flags).
fn tree() -> clap::Command {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|c| !c.is_hide_set())
}

fn display_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

fn io_err(e: std::io::Error) -> Error {
    Error::io("render manual page", "memory", e)
}

/// One command's page: clap_mangen's sections, then the command's after-help text split into
/// EXIT STATUS / EXAMPLES / NOTES, then the top page's ENVIRONMENT and FILES, then SEE ALSO.
fn render(cmd: &clap::Command, parent: Option<&clap::Command>) -> Result<Vec<u8>> {
    let man = Man::new(cmd.clone())
        .source(format!("berth {}", env!("CARGO_PKG_VERSION")))
        .manual("berth manual");
    let mut out = Vec::new();
    man.render_title(&mut out).map_err(io_err)?;
    man.render_name_section(&mut out).map_err(io_err)?;
    man.render_synopsis_section(&mut out).map_err(io_err)?;
    man.render_description_section(&mut out).map_err(io_err)?;
    man.render_options_section(&mut out).map_err(io_err)?;
    if visible(cmd).next().is_some() {
        man.render_subcommands_section(&mut out).map_err(io_err)?;
    }
    let mut roff = Roff::new();
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        after_help_sections(&mut roff, &text.to_string());
    }
    if parent.is_none() {
        top_page_sections(&mut roff);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = Vec::new();
    // berth(1) lists the pages of its commands under SUBCOMMANDS already.
    if let Some(p) = parent {
        if p.get_name() != "berth" {
            see.push("berth(1)".to_string());
        }
        see.push(format!("{}(1)", display_name(p)));
    }
    if cmd.get_name() != "berth-shim" {
        see.push("berth-shim(1)".to_string());
    }
    roff.text([roman(see.join(", "))]);
    roff.to_writer(&mut out).map_err(io_err)?;
    Ok(out)
}

/// The after-help text (examples, notes, exit codes) as man sections. A short unindented line
/// ending in `:` heads a section; a block with indented lines keeps its layout; prose is
/// filled.
fn after_help_sections(roff: &mut Roff, text: &str) {
    let mut current: Option<String> = None;
    for para in text.split("\n\n") {
        let mut lines: Vec<&str> = para.lines().collect();
        let Some(first) = lines.first().copied() else {
            continue;
        };
        let heading =
            (!first.starts_with(' ') && first.ends_with(':') && first.len() < 30).then(|| {
                match first.trim_end_matches(':') {
                    "Example" | "Examples" => "EXAMPLES".to_string(),
                    "Exit codes" => "EXIT STATUS".to_string(),
                    other => other.to_uppercase(),
                }
            });
        if let Some(h) = heading {
            lines.remove(0);
            section(roff, &mut current, &h);
        }
        // Examples and tables are indented (some of their lines at least, like the exit
        // codes 126 and 127); prose never is.
        if lines.iter().any(|l| l.starts_with(' ')) {
            if current.is_none() {
                section(roff, &mut current, "NOTES");
            }
            roff.control("PP", []);
            roff.control("nf", []);
            for l in lines {
                roff.text([roman(l)]);
            }
            roff.control("fi", []);
        } else {
            section(roff, &mut current, "NOTES");
            roff.control("PP", []);
            roff.text([roman(lines.join(" "))]);
        }
    }
}

fn section(roff: &mut Roff, current: &mut Option<String>, heading: &str) {
    if current.as_deref() != Some(heading) {
        roff.control("SH", [heading]);
        *current = Some(heading.to_string());
    }
}

/// ENVIRONMENT and FILES of berth(1).
fn top_page_sections(roff: &mut Roff) {
    use crate::env;
    let item = |roff: &mut Roff, name: &str, text: &str| {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(text)]);
    };
    roff.control("SH", ["ENVIRONMENT"]);
    item(roff, env::BERTH_ROOT, "The root when --root is not given.");
    item(
        roff,
        env::BERTH_PROFILE,
        "The profile shims, run, env and which use; set by shims for the programs they start.",
    );
    item(
        roff,
        env::XDG_DATA_HOME,
        "A user's default root is $XDG_DATA_HOME/berth (else ~/.local/share/berth).",
    );
    item(
        roff,
        env::BERTH_KEY_PASSWORD,
        "Password of an encrypted signing key (key generate, key sign, repo publish).",
    );
    item(roff, env::NO_COLOR, "No colour in messages when set.");
    item(roff, env::RUST_LOG, "Log filter, as with -v.");
    roff.control("SH", ["FILES"]);
    item(
        roff,
        "/var/lib/berth",
        "The default root for root: store/, generations/, profiles/, shims/, libexec/berth-shim, etc/, var/.",
    );
    item(
        roff,
        "ROOT/shims",
        "One link per command the profiles provide; put it on PATH.",
    );
    item(
        roff,
        "ROOT/profiles/PROFILE",
        "The current generation of PROFILE; its bin/ holds the profile's commands.",
    );
    item(
        roff,
        ".berth-profile",
        "In a directory or one of its parents: the profile shims use there.",
    );
}

/// berth-shim(1): the program every shim links to. It has no options of its own.
fn shim_page() -> Result<Vec<u8>> {
    let cmd = clap::Command::new("berth-shim")
        .about("run a command from the berth profile in force")
        .long_about(
            "berth-shim is not run by name: every ROOT/shims/COMMAND is a link to \
             ROOT/libexec/berth-shim, a copy of this program. It takes the command from the name \
             it was started as, chooses the profile ($BERTH_PROFILE, else the nearest \
             .berth-profile file in the working directory or its parents, else the root's \
             default profile) and executes ROOT/profiles/PROFILE/bin/COMMAND in its place, with \
             BERTH_PROFILE set so that the programs it starts agree.",
        )
        .disable_help_flag(true)
        .arg(
            clap::Arg::new("args")
                .value_name("ARGS")
                .num_args(0..)
                .help("Passed on to the command unchanged"),
        )
        .after_help(
            "Exit codes:\n  127  no profile, or the profile has no such command\n  \
             126  the command cannot be executed\n\n\
             Otherwise the exit status is the command's own.",
        );
    render(&cmd, Some(&tree()))
}
