//! berth's entry point: parse, set up logging, run, map errors to documented exit codes.

use clap::Parser;
use std::io::IsTerminal;

fn main() {
    // berth re-executed to supervise a hook, restart or health command.
    if let Some(code) = berth::apply::supervise_if_asked() {
        std::process::exit(code);
    }
    // A closed pipe (`berth list | head`) ends the program quietly, as for any Unix tool.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = berth::cli::Cli::parse();
    let color = match cli.global.color {
        berth::cli::ColorChoice::Always => true,
        berth::cli::ColorChoice::Never => false,
        berth::cli::ColorChoice::Auto => {
            std::env::var_os(berth::env::NO_COLOR).is_none() && std::io::stderr().is_terminal()
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet, color);
    let code = match berth::cli::run(cli) {
        Ok(()) => 0,
        Err(e) => {
            let prefix = if color {
                "\x1b[1;31merror\x1b[0m"
            } else {
                "error"
            };
            eprintln!("{prefix}: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn init_tracing(verbose: u8, quiet: bool, color: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(berth::env::RUST_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .with_target(false)
        .init();
}
