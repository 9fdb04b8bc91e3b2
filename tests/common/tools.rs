//! What the tests need from the machine, and the one rule when it is not there: a missing
//! tool fails the test that needs it, naming the tool and its package (the list is
//! `tests/tools.txt`, the same one `./test.sh` installs from), unless the run opts out with
//! `BERTH_TEST_ALLOW_MISSING=1`. Every skip (root-only tests run unprivileged, a tool
//! missing under the opt-out) is also appended to the file `BERTH_TEST_SKIP_LOG` names, so
//! `./test.sh` ends with a count of them: a skip is never silent.
//!
//! Also the one way to run an outside program (tar, dpkg-deb, chown …) and insist that it
//! works: [`tool`].

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/tools.txt`: `<tool> <Debian package> <why>` per line.
const LIST: &str = include_str!("../tools.txt");

/// The environment variable that lets a run skip tests whose tool is missing.
pub const ALLOW_MISSING: &str = "BERTH_TEST_ALLOW_MISSING";

/// The environment variable naming the file every skip is appended to.
pub const SKIP_LOG: &str = "BERTH_TEST_SKIP_LOG";

/// The skip reason of root-only tests run unprivileged (`./test.sh` counts it by this text).
pub const NEED_ROOT: &str = "need root";

/// The Debian package that has `tool`, from `tests/tools.txt`.
pub fn package_of(tool: &str) -> Option<&'static str> {
    LIST.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace())
        .find_map(|mut w| (w.next() == Some(tool)).then(|| w.next()).flatten())
}

/// Where `tool` is: on PATH, or in /usr/sbin or /sbin (Debian puts nginx, useradd …
/// there, and not every user has them on PATH).
pub fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether this run lets tests whose tool is missing skip (`BERTH_TEST_ALLOW_MISSING=1`).
pub fn missing_allowed() -> bool {
    std::env::var(ALLOW_MISSING).is_ok_and(|v| v == "1")
}

/// True when `tool` is installed. When it is not, the test fails naming the tool and its
/// package; only under `BERTH_TEST_ALLOW_MISSING=1` does it say SKIP, log the skip and
/// return false (the caller returns).
#[track_caller]
pub fn have(tool: &str, test: &str) -> bool {
    if find(tool).is_some() {
        return true;
    }
    let install = match package_of(tool) {
        Some(p) => format!("apt-get install {p}"),
        None => format!("install {tool}"),
    };
    unavailable(test, &format!("`{tool}` is not installed ({install})"));
    false
}

/// `test` cannot run because of `why` (a tool, a download): a failure naming it, or under
/// `BERTH_TEST_ALLOW_MISSING=1` a loud, logged skip.
#[track_caller]
pub fn unavailable(test: &str, why: &str) {
    assert!(
        missing_allowed(),
        "{test}: {why}; ./test.sh installs what the tests need, or set {ALLOW_MISSING}=1 to skip"
    );
    eprintln!("SKIP ({why}): {test}");
    log_skip(why, test);
}

/// Appends one skip to the file `BERTH_TEST_SKIP_LOG` names: the reason, the test (its
/// thread's name, which libtest sets to the test's path) and what was skipped, tab-separated.
/// Nothing when the variable is unset (a bare `cargo test`).
pub fn log_skip(reason: &str, what: &str) {
    let Some(path) = std::env::var_os(SKIP_LOG) else {
        return;
    };
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let line = format!("{reason}\t{test}\t{}\n", what.replace(['\t', '\n'], " "));
    // One write with O_APPEND: lines from tests running side by side do not interleave.
    // Not created here: ./test.sh makes it (and gives it to the unprivileged pass's user).
    let written = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("{SKIP_LOG}={}: {e}", Path::new(&path).display());
    }
}

/// Runs `program args` in `cwd` and panics unless it exits 0, showing what it printed;
/// returns its stdout.
#[track_caller]
pub fn tool(cwd: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`tool`]'s stdout as text.
#[track_caller]
pub fn tool_text(cwd: &Path, program: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&tool(cwd, program, args)).into_owned()
}
