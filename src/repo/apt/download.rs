//! `apt-get download` of a resolved set into a fresh directory `cache/apt/.<tmp>/` of the
//! root: apt checks each file against its own signed lists (nothing new to trust), berth
//! maps each file back to its record by apt's file-name rule. The directory goes away
//! after the install, or when the download fails (a crash leaves it for `check --repair`).

use super::error::{condense, Error};
use super::resolve::Planned;
use crate::error::Result;
use crate::fsutil::Dir;
use crate::repo::Paths;
use std::path::PathBuf;
use std::process::Command;

/// `cache/apt`: where the fresh download directories live.
pub const APT_DIR: &str = "apt";

/// The downloaded .debs, one per member of the set, in its order.
#[derive(Debug)]
pub struct Downloaded {
    parent: Dir,
    name: String,
    /// The files, aligned with the set.
    pub files: Vec<PathBuf>,
}

impl Downloaded {
    /// Removes the download directory (the store holds what it installed).
    pub fn remove(self) -> Result<()> {
        crate::fsutil::remove_tree(&self.parent, &self.name)
    }
}

/// The file name `apt-get download` gives a record (`:` of an epoch written `%3a`).
pub fn file_name(p: &Planned) -> String {
    let r = &p.record;
    format!(
        "{}_{}_{}.deb",
        r.name,
        r.version.replace(':', "%3a"),
        r.arch
    )
}

/// Downloads every member of `set` with one `apt-get download NAME=VERSION…`.
pub fn download(paths: &Paths, set: &[Planned]) -> Result<Downloaded> {
    let rel = format!("{}/{APT_DIR}", crate::repo::CACHE_DIR);
    let parent = paths.dir(&rel)?;
    let name = crate::fsutil::temp_name("download");
    let dir = parent.ensure_dir(&name, crate::root::DIR_MODE)?;
    let got = Downloaded {
        parent,
        name,
        files: set.iter().map(|p| dir.join(file_name(p))).collect(),
    };
    match fetch(&dir, set).and_then(|()| check_files(&got, set)) {
        Ok(()) => Ok(got),
        Err(e) => {
            // Nothing of a failed download stays behind; the error is what the user needs.
            if let Err(r) = got.remove() {
                tracing::warn!("cannot remove a failed apt download: {r}");
            }
            Err(e)
        }
    }
}

fn fetch(dir: &Dir, set: &[Planned]) -> Result<()> {
    let wanted: Vec<String> = set
        .iter()
        .map(|p| format!("{}={}", p.record.name, p.record.version))
        .collect();
    // Every argument was checked (`resolve::parse_spec`) or came from apt's own records;
    // `--` still keeps apt from reading any of them as an option.
    let out = Command::new("apt-get")
        .args(["download", "-q", "--"])
        .args(&wanted)
        .current_dir(dir.path())
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::NoApt {
            tool: "apt-get",
            why: e.to_string(),
        })?;
    tracing::debug!(
        "apt-get download: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(Error::Download {
            packages: wanted.join(" "),
            line: condense(&out.stderr),
        }
        .into());
    }
    Ok(())
}

fn check_files(got: &Downloaded, set: &[Planned]) -> Result<()> {
    for (file, p) in got.files.iter().zip(set) {
        if !file.is_file() {
            return Err(Error::Missing {
                package: p.reference(),
                file: file_name(p),
            }
            .into());
        }
    }
    Ok(())
}
