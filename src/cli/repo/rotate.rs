//! `berth repo key add|remove`: key rotation of a configured repository, with the serial and
//! expiry last seen kept (both keys may be pinned at once while the publisher switches).

use crate::cli::{output, Ctx};
use crate::error::Result;
use crate::repo::keys::PublicKey;
use crate::repo::{manage, Paths};

/// `repo key …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Pin one more key for a repository (the old one keeps signing until it is removed)
    #[command(after_help = "Examples:
  berth repo key add origin ./release-2027.pub
  berth repo key add origin RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3 --json

The key is a .pub file's path, its text, or its base64 line; a file with more than one key
line is refused. The last-seen serial and expiry stay in force: an older index is still a
rollback, whichever pinned key signed it.")]
    Add(KeyAddArgs),
    /// Unpin a key of a repository (never its last one), keeping the last-seen serial
    #[command(after_help = "Examples:
  berth repo key remove origin 8A1B2C3D4E5F6071
  berth repo key remove origin 8A1B2C3D4E5F6071 --json

KEYID is the 16 hex digits `berth repo list` and `minisign` show. The serial and expiry of
the last good index are kept in repos.toml; if that index was signed by the removed key it
is dropped (it can no longer be verified) and `berth update` fetches one signed by a key
still pinned, never older than the one seen.")]
    Remove(KeyRemoveArgs),
}

/// `repo key add`.
#[derive(Debug, clap::Args)]
pub struct KeyAddArgs {
    /// Repository name
    pub name: String,
    /// Public key: a .pub file's path, its text, or its base64 line
    pub key: String,
}

/// `repo key remove`.
#[derive(Debug, clap::Args)]
pub struct KeyRemoveArgs {
    /// Repository name
    pub name: String,
    /// Key id (16 hex digits)
    pub key_id: String,
}

/// Runs a `repo key` command; the caller holds the root's lock.
pub fn run(ctx: &Ctx, paths: &Paths, c: KeyCommand) -> Result<()> {
    let change = match c {
        KeyCommand::Add(a) => manage::add_key(paths, &a.name, &PublicKey::parse(&a.key)?)?,
        KeyCommand::Remove(a) => manage::remove_key(paths, &a.name, &a.key_id)?,
    };
    if ctx.json {
        output::json(&change);
    } else if !ctx.quiet {
        let serial = change
            .serial
            .map_or(String::new(), |s| format!("; serial {s} or newer required"));
        let what = match change.status {
            "unchanged" => "is already pinned for",
            "added" => "pinned for",
            _ => "unpinned from",
        };
        println!(
            "key {} {what} {} (pinned: {}){serial}",
            change.key_id,
            change.repository,
            change.pinned.join(", ")
        );
        if change.index_dropped {
            println!(
                "hint: the last good index was signed by the removed key; `berth update {}` fetches one",
                change.repository
            );
        }
    }
    Ok(())
}
