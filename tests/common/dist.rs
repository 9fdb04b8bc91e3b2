//! Helpers of the distribution tests: a real shell or `man` run on generated files, dpkg's
//! path excludes (minimal images drop /usr/share/man), and the installed Debian package as a
//! guard that purges it again whatever happens to the test.

use super::Run;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The name the package installs under.
pub const PACKAGE: &str = "berth";
/// The default root the package creates (and deletes on purge).
pub const VAR_LIB: &str = "/var/lib/berth";

/// Runs `shell args… -c script` in `cwd` with a clean environment (HOME = `cwd`).
pub fn shell(shell: &str, args: &[&str], script: &str, cwd: &Path) -> Run {
    Run::of(
        Command::new(shell)
            .args(args)
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", cwd)
            .env("TERM", "dumb")
            .env("LC_ALL", "C.UTF-8")
            .current_dir(cwd)
            .stdin(Stdio::null()),
    )
}

/// `MANWIDTH=80 man --warnings -l page`: what it printed and whether groff warned (stderr).
pub fn man(page: &Path) -> Run {
    Run::of(
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null()),
    )
}

/// Whether dpkg is configured to skip files under `prefix` (a `path-exclude` in
/// /etc/dpkg/dpkg.cfg or /etc/dpkg/dpkg.cfg.d/, as Docker's minimal images have for
/// /usr/share/man) — then the package's files there are checked in the .deb instead.
pub fn dpkg_excludes(prefix: &str) -> bool {
    let mut files = vec![PathBuf::from("/etc/dpkg/dpkg.cfg")];
    if let Ok(d) = std::fs::read_dir("/etc/dpkg/dpkg.cfg.d") {
        files.extend(d.flatten().map(|e| e.path()));
    }
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|l| l.trim().strip_prefix("path-exclude").map(str::to_string))
        .any(|l| {
            let glob = l.trim_start_matches(['=', ' ']).trim();
            glob.starts_with(prefix) || prefix.starts_with(glob.trim_end_matches('*'))
        })
}

/// dpkg's status of the package: `installed`, `config-files`, or `not-installed`.
pub fn status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()
        .expect("run dpkg-query");
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || s.is_empty() {
        "not-installed".to_string()
    } else {
        s
    }
}

/// The package, installed by a test: dropping it purges the package and removes what it
/// left in /var/lib/berth, also when the test panics half-way.
pub struct Installed {
    _private: (),
}

impl Installed {
    /// `dpkg -i deb`. Panics (after cleaning up) when dpkg fails.
    #[track_caller]
    pub fn install(deb: &Path) -> Installed {
        let guard = Installed { _private: () };
        let r = Run::of(Command::new("dpkg").arg("-i").arg(deb).stdin(Stdio::null()));
        assert!(r.success(), "dpkg -i {} failed:\n{r}", deb.display());
        guard
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["-P", PACKAGE])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Purge removes it; this is for a purge that failed half-way.
        let _ = std::fs::remove_dir_all(VAR_LIB);
    }
}
