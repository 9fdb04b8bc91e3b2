//! `berth install`.

use super::{output, Ctx};
use crate::error::{Error, Result};
use crate::package::extract::Limits;
use crate::package::ReadOptions;
use crate::repo::install::{install_arg, Notice, Origin, Signature};
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
become config files, its control or header fields are kept (`berth info`), and a
.deb's preinst and postinst run confined (a sandbox of the profile's view, no network) when
a profile uses it, and what they made becomes the entry NAME+scripts; other maintainer
scripts and .rpm scriptlets never run (a warning says which there were). A .deb's files are
checked against its md5sums, an .rpm's against its header's digests. Tarballs need --name and --version unless the file is named NAME-VERSION.tar.*.
Installing the same content again changes nothing. Archives with unsafe members (absolute
paths, `..`, links out of the package, devices …), corrupt compressed data, trailing
garbage, decompression bombs and archives that hold no files are refused whole.

A NAME or NAME@VERSION that is not an existing file is looked up in the last good indexes
of the configured repositories: the file is downloaded into the root's cache/ (reused when
a cached copy still has the signed sha256), cut off at the size the index gives, and
extracted as it arrives (one pass over the bytes); nothing is committed to the store
unless its sha256 is the one the signed index gives. When a mirror serves other bytes, the
next mirror is tried (the error, when all fail, names the mirror that lied). A name comes
from one repository: the one it was first installed from (it is bound there, in
repos.toml's [pins]), else the first in repos.toml that offers it; another repository
offering the same name is named in a warning, never used silently. `--from REPO` installs
from REPO and binds the name to it:
  berth install --from origin myapp@1.5.0
With `require_signatures = true` in <root>/config.toml, local files need --signature
(checked against every key pinned in repos.toml and <root>/keys/*.pub) or --insecure.

With --apt the arguments are Debian packages, NAME or NAME=VERSION (apt's candidate when
no version is given):
  berth install --apt redis-tools=5:7.0.15-1~deb12u10 --dry-run
  berth install --apt nginx=1.22.1-9+deb12u12 nginx-common=1.22.1-9+deb12u12
berth asks the host's apt (apt-cache) for each, adds every Pre-Depends/Depends that
neither the host's dpkg, the named set nor what was added already meets (the first
alternative apt can provide, at apt's candidate when it satisfies the relation, else the
newest version that does; a virtual package through its one provider), downloads them all
with `apt-get download` (apt checks them against its own signed lists; it needs no
privilege, so this works as any user) into a fresh directory under <root>/cache/apt/, then
installs each (held to the SHA256 of apt's record) and removes the download. --dry-run
lists the set with why each is there and changes nothing. Exit codes: 2 a name or
version that is not a Debian one (refused before apt runs) or a virtual package several
packages provide; 3 apt or its lists are missing, an unknown package or version, or a
dependency apt cannot provide; 1 the download failed. In each of these cases nothing is
installed.")]
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
    /// Install NAME[@VERSION] from this repository (and bind the name to it: later installs
    /// of the name use it, whatever other repositories offer)
    #[arg(long, value_name = "REPO")]
    pub from: Option<String>,
    /// The arguments are Debian packages, NAME or NAME=VERSION: download them and the
    /// dependencies the host does not meet through the host's apt, then install them all
    #[arg(long, conflicts_with_all = ["name", "pkg_version", "sha256", "signature", "repair", "insecure", "from"])]
    pub apt: bool,
    /// With --apt: list what would be downloaded and installed (and why); change nothing
    #[arg(long, requires = "apt")]
    pub dry_run: bool,
}

#[derive(Serialize)]
pub(super) struct Row {
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
    source: Origin,
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
        let row = report(ctx, file, &outcome, source, "");
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

/// Tells the user what installing `file` did (`note`, when not empty, ends the line) and
/// returns its `--json` row.
pub(super) fn report(ctx: &Ctx, file: &Path, outcome: &Outcome, source: Origin, note: &str) -> Row {
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
    // Advice about the package rather than a failure of the install: `-q` silences it.
    if !scripts.is_empty() && status != "unchanged" && !ctx.quiet {
        eprintln!(
            "warning: {}@{}: maintainer scripts ({}): a .deb's preinst and postinst run \
             confined when a profile uses it, as a fresh install; no others run \
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
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(" [{note}]")
        };
        match status {
            "unchanged" => println!(
                "unchanged {}@{} ({}): already installed with the same content{note}",
                row.name,
                row.version,
                &row.id[..12]
            ),
            _ => println!(
                "{status} {}@{} ({}, {} files, {}, {} new objects){note}",
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

/// Installs one argument (the policy and the local-or-repository decision are the
/// repository module's) and says what it was told to.
fn install_one(ctx: &Ctx, l: &super::Locked, a: &Args, arg: &Path) -> Result<(Origin, Outcome)> {
    let req = Request {
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
            rebuilt_of: None,
        },
        repair: a.repair,
    };
    let sig = Signature {
        file: a.signature.as_deref(),
        insecure: a.insecure,
    };
    let got = install_arg(
        &l.store,
        &l.lock,
        req,
        sig,
        a.from.as_deref(),
        &ctx.progress,
    )?;
    match &got.notice {
        Some(Notice::Unsigned { file }) => eprintln!(
            "warning: installing {} WITHOUT a signature (--insecure; config.toml requires signatures)",
            file.display()
        ),
        Some(_) if ctx.json || ctx.quiet => {}
        Some(Notice::Downloaded {
            reference,
            url,
            size,
        }) => eprintln!(
            "downloaded {reference} from {url} ({}, sha256 verified)",
            output::size(*size)
        ),
        Some(Notice::Ranges {
            reference,
            url,
            fetched,
            size,
            requests,
        }) => eprintln!(
            "fetched {} of {} of {reference} from {url} by {requests} range requests (each file's sha256 verified)",
            output::size(*fetched),
            output::size(*size)
        ),
        Some(Notice::Cached { reference }) => {
            eprintln!("using cached {reference} (sha256 verified)");
        }
        None => {}
    }
    Ok((got.origin, got.outcome))
}
