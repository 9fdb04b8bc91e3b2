//! The environment a profile's commands run in: its `bin/` first on PATH (an absolute
//! entry, through the profile link, so a switch takes effect for the next command) and
//! `BERTH_PROFILE` set so that children agree.

use super::generation::Profiles;
use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::process::Command;

/// What a shim would run for a command: the path through the profile link, and the file
/// it ends at.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    /// `<root>/profiles/<profile>/bin/<command>`.
    pub path: std::path::PathBuf,
    /// The file that path ends at (in the store).
    pub file: std::path::PathBuf,
}

impl Profiles {
    /// The file `command` runs in `profile`'s current generation, resolved without leaving
    /// the root; `None` when the profile does not provide it.
    pub fn resolve_command(
        &self,
        profile: &str,
        n: u64,
        command: &OsStr,
    ) -> Result<Option<Resolved>> {
        let name = command.to_string_lossy();
        if name.is_empty() || name.contains('/') {
            return Ok(None);
        }
        let rel = format!("generations/{profile}/{n}/{}/{name}", berth_shim::BIN_DIR);
        let Some(fd) = self.root().dir().open_path_beneath(&rel) else {
            return Ok(None);
        };
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let file = std::fs::read_link(&proc).map_err(|e| Error::io("resolve", &proc, e))?;
        Ok(Some(Resolved {
            path: berth_shim::command_path(self.root().path(), profile, command),
            file,
        }))
    }

    /// The `PATH` for `profile`: its `bin/`, then `old`.
    pub fn path_env(&self, profile: &str, old: Option<&OsStr>) -> Result<OsString> {
        let bin = self.link_path(profile).join(berth_shim::BIN_DIR);
        // A PATH entry cannot contain `:`; such a root cannot be put on PATH at all.
        if bin.as_os_str().as_encoded_bytes().contains(&b':') {
            return Err(Error::BadFlag {
                flag: "--root",
                why: format!(
                    "{} contains `:`, which cannot be put on PATH; move the root",
                    self.root().path().display()
                ),
            });
        }
        let mut path = OsString::from(bin.as_os_str());
        if let Some(old) = old.filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(old);
        }
        Ok(path)
    }

    /// A package's root through the profile link (`<root>/profiles/<profile>/pkgs/<name>`),
    /// so a switch takes effect for the next command.
    pub fn package_path(&self, profile: &str, package: &str) -> std::path::PathBuf {
        self.link_path(profile)
            .join(super::build::PKGS)
            .join(package)
    }

    /// A command that runs `program` in `profile`'s environment.
    pub fn command(&self, profile: &str, program: &OsStr) -> Result<Command> {
        let old = std::env::var_os(crate::env::PATH);
        let mut c = Command::new(program);
        c.env(crate::env::PATH, self.path_env(profile, old.as_deref())?)
            .env(crate::env::BERTH_PROFILE, profile);
        Ok(c)
    }
}
