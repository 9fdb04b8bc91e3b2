//! Repository commands: `repo init|publish|add|list|remove|verify`, `update`, `search`, and
//! the `key` group (flattened into berth's command list).

mod key;
mod rotate;
mod update;

use super::{output, Ctx};
use crate::error::Result;
use crate::repo::fetch;
use crate::repo::inspect::Given;
use crate::repo::keys::{self, PublicKey};
use crate::repo::publish::{self, Input};
use crate::repo::trust;
use crate::repo::{resolve, Paths};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The repository commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Signing keys in minisign's format (generate, sign)
    #[command(
        subcommand,
        after_help = "Examples:
  berth key generate ./release
  berth key sign myapp-1.5.0.berth --key ./release.key"
    )]
    Key(key::Command),
    /// Static signed repositories: make and publish (init, publish, verify), use (add, list, remove)
    #[command(
        subcommand,
        after_help = "Examples:
  berth repo init ./repo --channel stable
  berth repo publish ./repo myapp-1.5.0.berth --key ./release.key
  berth repo add origin http://127.0.0.1:8080/ --key \"$(cat release.pub)\"
  berth update && berth install myapp@1.5.0"
    )]
    Repo(RepoCommand),
    /// Fetch and verify the index of every repository (or those named)
    #[command(after_help = "Examples:
  berth update                 # every repository in repos.toml
  berth update origin --json

An index is kept only when its signature verifies with a pinned key (before it is parsed),
its channel is the pinned one, its serial is not lower than the last one seen (nor equal
with other bytes), and it expires neither in the past nor more than --max-validity ahead
(5 minutes of clock skew allowed). Otherwise the previous index stays in force. Mirrors are
tried in order; If-None-Match/If-Modified-Since make an unchanged index cost one 304.")]
    Update(update::UpdateArgs),
    /// Find packages in the repositories' indexes (name or description contains WORD)
    #[command(
        after_help = "Examples:\n  berth search drupal\n  berth search --json      # everything"
    )]
    Search(update::SearchArgs),
}

/// `repo …`.
#[derive(Debug, clap::Subcommand)]
pub enum RepoCommand {
    /// Make an empty repository directory for a channel
    #[command(
        after_help = "Example:\n  berth repo init ./repo --channel stable\n\nServe the directory with any web server; `berth repo publish` adds packages and signs."
    )]
    Init(InitArgs),
    /// Copy packages into a repository and sign a new index (no files: re-sign, new expiry)
    #[command(after_help = "Examples:
  berth repo publish ./repo myapp-1.5.0.berth drupal7_7.60-1_all.deb --key ./release.key
  berth repo publish ./repo node.tar.xz --name node --version 20.11.0 --strip-components 1 --key k.key
  berth repo publish ./repo --key ./release.key --valid-for 30d     # refresh the expiry

Files are stored immutably as packages/<sha256[..2]>/<sha256>-<file name>; publishing a
name@version that is already there with other bytes is refused. Kinds are told by content:
.berth, tarballs, .deb and .rpm (for .deb/.rpm, name and version come from the file name:
NAME_VERSION_ARCH.deb, NAME-VERSION-RELEASE.ARCH.rpm, unless --name/--version are given).
A .berth's entry also gives the length and sha256 of its first frame and of its seek table
(`seek`): a client that holds an older version then fetches only the frames of the files it
lacks, by HTTP range requests. A berth older than that refuses such an index: publish with
--no-ranges until every client is upgraded.")]
    Publish(PublishArgs),
    /// Configure a repository: its URL(s), pinned public key(s) and channel
    #[command(after_help = "Examples:
  berth repo add origin http://127.0.0.1:8080/ --key \"$(cat release.pub)\" --channel stable
  berth repo add origin https://a.example/repo/ https://b.example/repo/ --key RWQ… --key RWR…
  berth repo add local file:///srv/repo/ --key ./release.pub
  berth repo add private https://user:password@repo.example/ --key ./release.pub

Several URLs are mirrors, tried in order. Several keys may sign (key rotation; `berth repo
key add|remove` changes them later). Credentials in a URL are moved to
<root>/repos/credentials.toml (mode 0600), sent as HTTP Basic authentication to that URL only,
and shown as *** everywhere. A key file with more than one key line is refused.")]
    Add(AddArgs),
    /// List configured repositories and the serial and expiry of their last good index
    #[command(after_help = "Examples:\n  berth repo list\n  berth repo list --json")]
    List,
    /// Remove a repository (its last-seen serial stays, unless --forget)
    #[command(after_help = "Examples:
  berth repo remove origin
  berth repo remove origin --forget     # also forget its last-seen serial

Without --forget, the serial and expiry of its last good index stay in repos.toml (a
tombstone): adding a repository of that name again refuses an index older than them
(rollback), whatever key signed it. Its credentials are removed in both cases.")]
    Remove(RemoveArgs),
    /// Rotate a repository's pinned keys (add, remove), keeping its last-seen serial
    #[command(
        subcommand,
        after_help = "Examples:
  berth repo key add origin ./release-2027.pub
  berth update origin                      # the publisher now signs with the new key
  berth repo key remove origin 8A1B2C3D4E5F6071"
    )]
    Key(rotate::KeyCommand),
    /// Check a repository directory offline: signature, index, every package's size and hash
    #[command(after_help = "Example:\n  berth repo verify ./repo --key ./release.pub")]
    Verify(VerifyArgs),
}

/// `repo init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory (created when missing)
    pub dir: PathBuf,
    /// The channel the index is for
    #[arg(long, default_value = "stable")]
    pub channel: String,
}

/// `repo publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The repository directory
    pub dir: PathBuf,
    /// Package files (.berth, tarballs, .deb, .rpm)
    pub files: Vec<PathBuf>,
    /// Secret key file (encrypted keys read $BERTH_KEY_PASSWORD)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// How long the index stays valid (e.g. 30d, 12h)
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub valid_for: Duration,
    /// Package name (one tarball, .deb or .rpm)
    #[arg(long)]
    pub name: Option<String>,
    /// Package version (one tarball, .deb or .rpm)
    #[arg(long = "version", value_name = "VERSION")]
    pub pkg_version: Option<String>,
    /// Description shown by `search` (one file)
    #[arg(long)]
    pub description: Option<String>,
    /// Leading path components clients drop on install (tarballs)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub strip_components: usize,
    /// Sign the current index even though another key signed it (after a key rotation)
    #[arg(long)]
    pub accept_existing: bool,
    /// Leave out (and take off every entry) what range installs need (`seek`): for clients
    /// older than range installs, which refuse an index that has it
    #[arg(long)]
    pub no_ranges: bool,
}

/// `repo add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Repository name
    pub name: String,
    /// URLs (http://, https://, file://), tried in order
    #[arg(required = true)]
    pub urls: Vec<String>,
    /// Pinned public key: base64, a .pub file's text, or its path (repeat for several)
    #[arg(long, required = true, value_name = "KEY")]
    pub key: Vec<String>,
    /// The channel the index must be for
    #[arg(long, default_value = "stable")]
    pub channel: String,
}

/// `repo remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Repository name
    pub name: String,
    /// Also forget its last-seen serial (no tombstone)
    #[arg(long)]
    pub forget: bool,
}

/// `repo verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The repository directory
    pub dir: PathBuf,
    /// Public key(s) the index must be signed by (without: the signature is not checked)
    #[arg(long, value_name = "KEY")]
    pub key: Vec<String>,
}

/// Runs a repository command.
pub fn run(ctx: &Ctx, c: Command) -> Result<()> {
    // Commands that change the root's repository files hold its lock; reading ones open it
    // as it is (no root yet: no repositories).
    let locked = || -> Result<(crate::cli::Locked, Paths)> {
        let l = ctx.lock()?;
        let p = Paths::new(l.store.root());
        Ok((l, p))
    };
    let viewed = || -> Result<Option<Paths>> { Ok(ctx.view()?.map(|v| Paths::new(&v.root))) };
    match c {
        Command::Key(k) => key::run(ctx, k),
        Command::Repo(RepoCommand::Init(a)) => {
            publish::init(&a.dir, &a.channel)?;
            report(
                ctx,
                &serde_json::json!({"path": a.dir, "channel": a.channel}),
                || {
                    format!(
                        "initialised {} (channel {}); `berth repo publish` adds packages and signs",
                        a.dir.display(),
                        a.channel
                    )
                },
            );
            Ok(())
        }
        Command::Repo(RepoCommand::Publish(a)) => publish_cmd(ctx, a),
        Command::Repo(RepoCommand::Add(a)) => {
            let (_l, paths) = locked()?;
            add(ctx, &paths, a)
        }
        Command::Repo(RepoCommand::List) => list(ctx, viewed()?.as_ref()),
        Command::Repo(RepoCommand::Remove(a)) => {
            let (_l, paths) = locked()?;
            let r = crate::repo::manage::remove(&paths, &a.name, a.forget)?;
            report(ctx, &r, || {
                match r.kept_serial {
                Some(s) => format!(
                    "removed repository {} (its last-seen serial {s} is kept: adding it again refuses older indexes; --forget forgets it)",
                    a.name
                ),
                None => format!("removed repository {}", a.name),
            }
            });
            Ok(())
        }
        Command::Repo(RepoCommand::Key(k)) => {
            let (_l, paths) = locked()?;
            rotate::run(ctx, &paths, k)
        }
        Command::Repo(RepoCommand::Verify(a)) => verify(ctx, a),
        Command::Update(a) => {
            let (_l, paths) = locked()?;
            update::update(ctx, &paths, a)
        }
        Command::Search(a) => update::search(ctx, viewed()?.as_ref(), a),
    }
}

/// Prints `json` with --json, else the human line (unless --quiet).
fn report<T: Serialize>(ctx: &Ctx, json: &T, human: impl FnOnce() -> String) {
    if ctx.json {
        output::json(json);
    } else if !ctx.quiet {
        println!("{}", human());
    }
}

fn publish_cmd(ctx: &Ctx, a: PublishArgs) -> Result<()> {
    let one_file_flags = a.name.is_some() || a.pkg_version.is_some() || a.description.is_some();
    if a.files.len() > 1 && one_file_flags {
        return Err(crate::Error::BadFlag {
            flag: "--name/--version/--description",
            why: "they apply to one file; publish the files one at a time".into(),
        });
    }
    if a.valid_for.is_zero() {
        return Err(crate::Error::BadFlag {
            flag: "--valid-for",
            why: "must be more than 0".into(),
        });
    }
    let key = keys::load_secret(&a.key, key::password())?;
    let given = Given {
        name: a.name,
        version: a.pkg_version,
        description: a.description,
        strip_components: a.strip_components,
    };
    let inputs: Vec<Input> = a
        .files
        .iter()
        .map(|f| Input {
            path: f.clone(),
            given: given.clone(),
        })
        .collect();
    let p = publish::publish(
        &a.dir,
        &inputs,
        &key,
        a.valid_for,
        a.accept_existing,
        !a.no_ranges,
    )?;
    if ctx.json {
        output::json(&p);
    } else if !ctx.quiet {
        for r in &p.packages {
            println!(
                "{:<9} {} ({}, {}) {}",
                r.status,
                r.package,
                r.kind,
                output::size(r.size),
                r.path
            );
        }
        println!(
            "signed index serial {} of channel {} with key {}, expires {}",
            p.serial, p.channel, p.key_id, p.expires
        );
    }
    Ok(())
}

fn add(ctx: &Ctx, paths: &Paths, a: AddArgs) -> Result<()> {
    trust::check_repo_name(&a.name)?;
    crate::repo::index::check_channel(&a.channel).map_err(|why| {
        crate::repo::Error::BadChannel {
            channel: a.channel.clone(),
            why: why.to_string(),
        }
    })?;
    let urls = a
        .urls
        .iter()
        .map(|u| fetch::normalise_url(u))
        .collect::<Result<Vec<_>>>()?;
    let keys = a
        .key
        .iter()
        .map(|k| PublicKey::parse(k))
        .collect::<Result<Vec<_>>>()?;
    let added = crate::repo::manage::add(paths, &a.name, &urls, &keys, &a.channel)?;
    let ids: Vec<String> = keys.iter().map(|k| k.id.clone()).collect();
    let json = serde_json::json!({
        "name": added.repo.name,
        "urls": added.shown_urls,
        "keys": ids,
        "channel": added.repo.channel,
        "kept_serial": added.kept_serial,
    });
    report(ctx, &json, || {
        let kept = added.kept_serial.map_or(String::new(), |s| {
            format!("\nits last-seen serial {s} is kept from when it was removed: older indexes are refused")
        });
        format!(
            "added repository {} ({}; keys {}; channel {}){kept}\nhint: `berth update` fetches its index",
            added.repo.name,
            added.shown_urls.join(", "),
            ids.join(", "),
            added.repo.channel
        )
    });
    Ok(())
}

#[derive(Serialize)]
struct ListRow {
    name: String,
    urls: Vec<String>,
    channel: String,
    keys: Vec<String>,
    serial: Option<u64>,
    expires: Option<String>,
    packages: usize,
}

fn list(ctx: &Ctx, paths: Option<&Paths>) -> Result<()> {
    let mut rows = Vec::new();
    let (known, creds) = match paths {
        Some(p) => (
            resolve::known(p)?,
            crate::repo::credentials::Credentials::load(p).unwrap_or_default(),
        ),
        None => (vec![], Default::default()),
    };
    for (r, k) in known {
        let ids = r.public_keys()?.into_iter().map(|k| k.id).collect();
        rows.push(ListRow {
            serial: k.as_ref().map(|k| k.index.serial),
            expires: k.as_ref().map(|k| k.index.expires.clone()),
            packages: k.as_ref().map_or(0, |k| k.index.packages.len()),
            name: r.name,
            urls: r.urls.iter().map(|u| creds.shown(u)).collect(),
            channel: r.channel,
            keys: ids,
        });
    }
    if ctx.json {
        output::json(&rows);
    } else if !ctx.quiet {
        let cells = rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.channel.clone(),
                    r.serial.map_or("-".into(), |s| s.to_string()),
                    r.packages.to_string(),
                    r.expires.clone().unwrap_or_else(|| "(not updated)".into()),
                    r.keys.join(","),
                    r.urls.join(" "),
                ]
            })
            .collect::<Vec<_>>();
        output::table(
            &[
                "NAME", "CHANNEL", "SERIAL", "PACKAGES", "EXPIRES", "KEYS", "URLS",
            ],
            &cells,
        );
    }
    Ok(())
}

fn verify(ctx: &Ctx, a: VerifyArgs) -> Result<()> {
    let keys = a
        .key
        .iter()
        .map(|k| PublicKey::parse(k))
        .collect::<Result<Vec<_>>>()?;
    let r = publish::verify(&a.dir, &keys)?;
    if ctx.json {
        output::json(&r);
    } else if !ctx.quiet {
        for p in &r.problems {
            println!("problem: {p}");
        }
        let signed = match (&r.signed_by, keys.is_empty()) {
            (Some(id), _) => format!("signed by {id}"),
            (None, true) => "signature not checked (no --key)".into(),
            (None, false) => "signature BAD".into(),
        };
        println!(
            "{}: channel {}, serial {}, {} packages, expires {}, {signed}",
            r.path.display(),
            r.channel.as_deref().unwrap_or("?"),
            r.serial.map_or("?".into(), |s| s.to_string()),
            r.packages,
            r.expires.as_deref().unwrap_or("?"),
        );
    }
    if r.problems.is_empty() {
        Ok(())
    } else {
        Err(crate::repo::Error::RepoDamaged {
            path: r.path,
            problems: r.problems.len(),
        }
        .into())
    }
}
