//! The shim: `<root>/shims/<exe>` links here. It picks the profile in force and `exec`s that
//! profile's `bin/<exe>` in place (same pid, signals, stdin/tty and exit code), keeping
//! `argv[0]` as typed and setting `BERTH_PROFILE` so that children agree.
//!
//! `no_main`: the C `main` below skips std's runtime set-up (reading /proc/self/maps for the
//! stack guard, an alternate signal stack, ignoring SIGPIPE), which the shim does not need
//! and which is a good part of its start-up time. Arguments still come from std (glibc hands
//! them to std before `main`).
#![no_main]

use berth_shim::{
    command_path, env, missing_command, printable, profile_link, resolve, MAX_SHIM_DEPTH,
};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit code of every shim error (as a shell's "command not found").
const NOT_FOUND: i32 = 127;
/// Exit code when the target exists but cannot be executed (as a shell's).
const CANNOT_EXECUTE: i32 = 126;

/// The C entry point (see the module comment for why not `fn main`).
#[no_mangle]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    run()
}

/// Prints `berth-shim: <command>: <msg>` and exits with `code`.
fn fail(name: &str, code: i32, msg: String) -> ! {
    eprintln!("berth-shim: {name}: {msg}");
    std::process::exit(code)
}

fn run() -> ! {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let command: OsString = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| argv0.clone());
    let name = printable(&command.to_string_lossy());
    let (exe, root) = locate(&name);
    let depth = depth(&name);
    let cwd = std::env::current_dir().unwrap_or_default();
    let env_profile = std::env::var_os(env::BERTH_PROFILE);
    let choice = resolve(&root, env_profile.as_deref(), &cwd)
        .unwrap_or_else(|e| fail(&name, NOT_FOUND, e.to_string()));
    for w in &choice.warnings {
        eprintln!("berth-shim: {name}: warning: {w}");
    }
    let target = command_path(&root, &choice.profile, &command);
    check_target(&name, &exe, &root, &target, &choice, &command);
    let err = Command::new(&target)
        .arg0(&argv0)
        .args(args)
        .env(env::BERTH_PROFILE, &choice.profile)
        .env(env::BERTH_SHIM_DEPTH, (depth + 1).to_string())
        .exec();
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => NOT_FOUND,
        _ => CANNOT_EXECUTE,
    };
    fail(
        &name,
        code,
        format!(
            "cannot execute {}: {err}",
            printable(&target.to_string_lossy())
        ),
    );
}

/// The shim's own path and its root: it lives at `<root>/libexec/berth-shim`, and the
/// kernel resolved the `shims/<exe>` link to get here.
fn locate(name: &str) -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap_or_else(|e| {
        fail(
            name,
            NOT_FOUND,
            format!("cannot find the shim's own location: {e}"),
        )
    });
    let root: PathBuf = match exe.parent().and_then(Path::parent) {
        Some(r) => r.to_path_buf(),
        None => fail(
            name,
            NOT_FOUND,
            format!("{} is not inside a berth root", exe.display()),
        ),
    };
    if name == "berth-shim" {
        fail(
            name,
            NOT_FOUND,
            format!(
                "run a command through its link in {}, not the shim itself",
                root.join("shims").display()
            ),
        );
    }
    (exe, root)
}

/// How many shims deep this process is; a command that calls its own shim (directly or
/// through others) would otherwise exec forever.
fn depth(name: &str) -> u32 {
    let depth: u32 = std::env::var(env::BERTH_SHIM_DEPTH)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    if depth >= MAX_SHIM_DEPTH {
        fail(
            name,
            NOT_FOUND,
            format!(
                "shims are nested {depth} deep (${} = {depth}); a command is calling its own shim in a loop",
                env::BERTH_SHIM_DEPTH
            ),
        );
    }
    depth
}

/// The command must exist in the profile, and must not be this very binary.
fn check_target(
    name: &str,
    exe: &Path,
    root: &Path,
    target: &Path,
    choice: &berth_shim::Choice,
    command: &OsString,
) {
    let profile = &choice.profile;
    match std::fs::metadata(target) {
        Ok(m) => {
            if let Ok(me) = std::fs::metadata(exe) {
                if (me.dev(), me.ino()) == (m.dev(), m.ino()) {
                    fail(
                        name,
                        NOT_FOUND,
                        format!(
                            "{} is itself a berth shim (recursion); profile {profile} (from {}) must provide the real command",
                            target.display(),
                            choice.source
                        ),
                    );
                }
            }
        }
        Err(_) => {
            if std::fs::metadata(profile_link(root, profile)).is_err() {
                fail(
                    name,
                    NOT_FOUND,
                    format!(
                        "profile {profile} (from {}) does not exist; `berth profiles` lists the profiles, `berth use {profile} PACKAGE` creates it",
                        choice.source
                    ),
                );
            }
            fail(
                name,
                NOT_FOUND,
                missing_command(root, profile, &choice.source, command),
            );
        }
    }
}
