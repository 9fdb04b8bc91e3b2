//! `berth install`.

use super::{output, Ctx};
use crate::error::Result;
use crate::package::extract::Limits;
use crate::store::install::{Outcome, Request};
use serde::Serialize;
use std::path::PathBuf;

/// Install .berth packages and tarballs into the store.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth install myapp-1.4.2.berth myapp-1.5.0.berth
  berth install prettier-3.3.3.tgz --name prettier --version 3.3.3 --strip-components 1 \\
      --sha256 <hex>
  berth install node-v20.tar.xz --name node --version 20.11.0 --strip-components 1

Tarballs (.tar, .tar.gz/.tgz, .tar.xz, .tar.zst) need --name and --version unless the file
is named NAME-VERSION.tar.*. Installing the same content again changes nothing. Archives
with unsafe members (absolute paths, `..`, links out of the package, devices …) are
refused whole.")]
pub struct Args {
    /// Package files to install
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Package name (tarballs)
    #[arg(long)]
    pub name: Option<String>,
    /// Package version (tarballs)
    #[arg(long = "version", value_name = "VERSION")]
    pub pkg_version: Option<String>,
    /// Drop this many leading path components from tarball members
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub strip_components: usize,
    /// Refuse the file unless its sha256 is this (checked before anything is committed)
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Refuse archives that unpack to more than this many bytes
    #[arg(long, default_value_t = 32 << 30, value_name = "BYTES")]
    pub max_unpacked_size: u64,
    /// Refuse archives with more members than this
    #[arg(long, default_value_t = 2_000_000, value_name = "N")]
    pub max_entries: u64,
}

#[derive(Serialize)]
struct Row {
    file: PathBuf,
    name: String,
    version: String,
    id: String,
    status: &'static str,
    files: u64,
    bytes: u64,
    new_objects: usize,
    setuid_setgid_dropped: Vec<String>,
}

/// Runs `install`.
pub fn run(ctx: &Ctx, a: Args) -> Result<i32> {
    if a.files.len() > 1 && (a.name.is_some() || a.pkg_version.is_some() || a.sha256.is_some()) {
        return Err(crate::Error::Usage(
            "--name, --version and --sha256 apply to one file; install the files one at a time"
                .into(),
        ));
    }
    let lock = ctx.lock()?;
    let mut rows = Vec::new();
    for file in &a.files {
        let req = Request {
            path: file.clone(),
            name: a.name.clone(),
            version: a.pkg_version.clone(),
            strip_components: a.strip_components,
            sha256: a.sha256.clone(),
            limits: Limits {
                max_unpacked: a.max_unpacked_size,
                max_entries: a.max_entries,
                ..Limits::default()
            },
        };
        let outcome = ctx.store.install(&lock, &req, &ctx.progress)?;
        let e = outcome.entry();
        let (status, new_objects, dropped) = match &outcome {
            Outcome::Installed {
                new_objects,
                special_bits_dropped,
                ..
            } => ("installed", *new_objects, special_bits_dropped.clone()),
            Outcome::AlreadyInstalled(_) => ("unchanged", 0, vec![]),
        };
        for f in &dropped {
            eprintln!(
                "warning: {}: dropped setuid/setgid/sticky bits from `{f}`",
                file.display()
            );
        }
        let row = Row {
            file: file.clone(),
            name: e.name().to_string(),
            version: e.version().to_string(),
            id: e.id().to_string(),
            status,
            files: e.origin.files,
            bytes: e.origin.bytes,
            new_objects,
            setuid_setgid_dropped: dropped,
        };
        if !ctx.json && !ctx.quiet {
            match status {
                "installed" => println!(
                    "installed {}@{} ({}, {} files, {}, {} new objects)",
                    row.name,
                    row.version,
                    &row.id[..12],
                    row.files,
                    output::size(row.bytes),
                    row.new_objects
                ),
                _ => println!(
                    "unchanged {}@{} ({}): already installed with the same content",
                    row.name,
                    row.version,
                    &row.id[..12]
                ),
            }
        }
        rows.push(row);
    }
    // Shims link to libexec/berth-shim: keep it equal to the shim built with this berth.
    crate::profile::shims::ensure_shim_binary(&ctx.root, &lock)?;
    if ctx.json {
        output::json(&rows);
    }
    Ok(0)
}
