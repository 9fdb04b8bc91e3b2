//! `berth install`.

use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::package::extract::Limits;
use crate::package::ReadOptions;
use crate::store::install::{Outcome, Request};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Install packages (.berth, .deb, .rpm, tarballs) into the store.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth install myapp-1.4.2.berth myapp-1.5.0.berth
  berth install prettier-3.3.3.tgz --name prettier --version 3.3.3 --strip-components 1 \\
      --sha256 <hex>
  berth install node-v20.tar.xz --name node --version 20.11.0 --strip-components 1
  berth install --repair myapp-1.5.0.berth     # rebuild a damaged entry of the same content
  berth install drupal7_7.59-1_all.deb drupal7_7.60-1_all.deb   # side by side
  berth install myapp-2.1-1.x86_64.rpm

The format is told from the content: .berth, .deb, .rpm, or a tarball (plain, gzip, xz,
zstd, bzip2, lzma). A .deb or .rpm brings its own name and version (a Debian version with
epoch and revision is kept exactly: hello@1:2.0~rc1-3), its conffiles or %config files
become config files, its control or header fields are kept (`berth info`), and its
maintainer scripts are never run (a warning says which there were). A .deb's files are
checked against its md5sums, an .rpm's against its header's digests. Tarballs need --name and --version unless the file is named NAME-VERSION.tar.*.
Installing the same content again changes nothing. Archives with unsafe members (absolute
paths, `..`, links out of the package, devices …), corrupt compressed data, trailing
garbage, decompression bombs and archives that hold no files are refused whole.

A NAME or NAME@VERSION that is not an existing file is looked up in the last good indexes
of the configured repositories: the file is downloaded into the root's cache/ (reused when
a cached copy still has the signed sha256), cut off at the size the index gives, and
extracted as it arrives (one pass over the bytes); nothing is committed to the store
unless its sha256 is the one the signed index gives.
With `require_signatures = true` in <root>/config.toml, local files need --signature
(checked against every key pinned in repos.toml and <root>/keys/*.pub) or --insecure.")]
pub struct Args {
    /// Package files to install, or NAME[@VERSION] from the repositories
    #[arg(required = true, value_name = "FILE|NAME[@VERSION]")]
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
    /// Refuse compressed archives that expand more than this many times
    #[arg(long, default_value_t = 1000, value_name = "RATIO")]
    pub max_ratio: u64,
    /// Accept a package that holds no files
    #[arg(long)]
    pub allow_empty: bool,
    /// Rebuild the installed entry of the same content from this file (a damaged entry
    /// in use is replaced in one atomic exchange)
    #[arg(long)]
    pub repair: bool,
    /// Detached minisign signature of the (one) local file, checked against pinned keys
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// Install local files without a signature although config.toml requires one
    #[arg(long)]
    pub insecure: bool,
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
    /// Maintainer scripts (.deb) or scriptlets (.rpm) the package carries; never run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scripts_not_run: Vec<String>,
    #[serde(flatten)]
    source: Source,
}

/// Runs `install`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let per_file =
        a.name.is_some() || a.pkg_version.is_some() || a.sha256.is_some() || a.signature.is_some();
    if a.files.len() > 1 && per_file {
        return Err(Error::BadFlag {
            flag: "--name/--version/--sha256/--signature",
            why: "they apply to one file; install the files one at a time".into(),
        });
    }
    let l = ctx.lock()?;
    let mut rows = Vec::new();
    for file in &a.files {
        let (source, outcome) = install_one(ctx, &l, &a, file)?;
        let e = outcome.entry();
        if let Some(want) = source.store_id.as_ref().filter(|w| *w != e.id()) {
            eprintln!(
                "warning: {}@{}: the index gives store id {want}, this berth computed {} (different berth versions?)",
                e.name(),
                e.version(),
                e.id()
            );
        }
        let row = report(ctx, file, &outcome, source);
        rows.push(row);
    }
    // Shims link to libexec/berth-shim: keep it equal to the shim built with this berth.
    // The entries are committed whatever happens here: say so.
    if let Err(e) = crate::profile::shims::ensure_shim_binary(l.store.root(), &l.lock) {
        if ctx.json {
            output::json(&rows);
        }
        return Err(Error::InstalledButFailed {
            entry: rows
                .iter()
                .map(|r| format!("{}@{}", r.name, r.version))
                .collect::<Vec<_>>()
                .join(", "),
            what: "updating libexec/berth-shim",
            source: Box::new(e),
        });
    }
    if ctx.json {
        output::json(&rows);
    }
    Ok(())
}

fn report(ctx: &Ctx, file: &Path, outcome: &Outcome, source: Source) -> Row {
    let e = outcome.entry();
    let (status, new_objects, dropped) = match outcome {
        Outcome::Installed {
            new_objects,
            special_bits_dropped,
            repaired,
            ..
        } => (
            if *repaired { "repaired" } else { "installed" },
            *new_objects,
            special_bits_dropped.clone(),
        ),
        Outcome::AlreadyInstalled(_) => ("unchanged", 0, vec![]),
    };
    for f in &dropped {
        eprintln!(
            "warning: {}: dropped setuid/setgid/sticky bits from `{}`",
            file.display(),
            crate::package::extract::printable(f)
        );
    }
    let scripts = crate::package::native::NativeOrigin::of(&e.manifest)
        .map(|n| n.scripts)
        .unwrap_or_default();
    if !scripts.is_empty() && status != "unchanged" {
        eprintln!(
            "warning: {}@{}: not running its maintainer scripts ({}); berth never runs them \
             (`berth info {}@{}` lists them)",
            e.name(),
            e.version(),
            scripts.join(", "),
            e.name(),
            e.version()
        );
    }
    let row = Row {
        file: file.to_path_buf(),
        name: e.name().to_string(),
        version: e.version().to_string(),
        id: e.id().to_string(),
        status,
        files: e.origin.files,
        bytes: e.origin.bytes,
        new_objects,
        setuid_setgid_dropped: dropped,
        scripts_not_run: scripts,
        source,
    };
    if !ctx.json && !ctx.quiet {
        match status {
            "unchanged" => println!(
                "unchanged {}@{} ({}): already installed with the same content",
                row.name,
                row.version,
                &row.id[..12]
            ),
            _ => println!(
                "{status} {}@{} ({}, {} files, {}, {} new objects)",
                row.name,
                row.version,
                &row.id[..12],
                row.files,
                output::size(row.bytes),
                row.new_objects
            ),
        }
    }
    row
}

/// Where one argument's bytes came from (part of the --json row).
#[derive(Serialize, Default)]
struct Source {
    /// The repository it was resolved in.
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<String>,
    /// Whether it was downloaded (false: a verified cached copy was reused).
    #[serde(skip_serializing_if = "Option::is_none")]
    downloaded: Option<bool>,
    /// The key id that signed a local file (`--signature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_by: Option<String>,
    /// The store id the index gives.
    #[serde(skip)]
    store_id: Option<String>,
}

/// Installs one argument: an existing file (held to the signature policy), or a repository
/// reference (resolved in the last good indexes, downloaded into the cache and installed as
/// it arrives, size- and sha256-verified). Nothing reaches the store unless its sha256 is the
/// one the signed index gives.
fn install_one(ctx: &Ctx, l: &super::Locked, a: &Args, arg: &Path) -> Result<(Source, Outcome)> {
    let files = crate::repo::Paths::new(l.store.root());
    let by_name = !arg.is_file()
        && crate::repo::resolve::looks_like_reference(&arg.to_string_lossy())
        && !crate::repo::trust::Repos::load(&files)?.repos.is_empty();
    let mut req = Request {
        path: arg.to_path_buf(),
        read: ReadOptions {
            name: a.name.clone(),
            version: a.pkg_version.clone(),
            strip_components: a.strip_components,
            sha256: a.sha256.clone(),
            limits: Limits {
                max_unpacked: a.max_unpacked_size,
                max_entries: a.max_entries,
                max_ratio: a.max_ratio,
                ..Limits::default()
            },
            allow_empty: a.allow_empty,
        },
        repair: a.repair,
    };
    if !by_name {
        use crate::repo::policy::{check_local, Verdict};
        let verdict = check_local(&files, arg, a.signature.as_deref(), a.insecure)?;
        if verdict == Verdict::Insecure {
            eprintln!(
                "warning: installing {} WITHOUT a signature (--insecure; config.toml requires signatures)",
                arg.display()
            );
        }
        let signed_by = match verdict {
            Verdict::Signed { key_id, sha256 } => {
                // The store refuses the file if it changed since it was verified.
                req.read.sha256 = req.read.sha256.or(Some(sha256));
                Some(key_id)
            }
            _ => None,
        };
        let outcome = l.store.install(&l.lock, &req, &ctx.progress)?;
        return Ok((
            Source {
                signed_by,
                ..Source::default()
            },
            outcome,
        ));
    }
    if a.signature.is_some() || a.sha256.is_some() || a.name.is_some() || a.pkg_version.is_some() {
        return Err(Error::BadFlag {
            flag: "--signature/--sha256/--name/--version",
            why: "they apply to local files; a repository's index already says them".into(),
        });
    }
    let (got, outcome) = crate::repo::install::by_name(
        &l.store,
        &l.lock,
        &arg.to_string_lossy(),
        req,
        &ctx.progress,
    )?;
    let p = &got.package;
    if !ctx.json && !ctx.quiet {
        match &got.fetched.url {
            Some(url) => eprintln!(
                "downloaded {} from {url} ({}, sha256 verified)",
                p.reference(),
                output::size(p.size)
            ),
            None => eprintln!("using cached {} (sha256 verified)", p.reference()),
        }
    }
    let source = Source {
        repository: Some(got.repo.clone()),
        downloaded: Some(got.fetched.downloaded),
        signed_by: None,
        store_id: p.store_id.clone(),
    };
    Ok((source, outcome))
}
