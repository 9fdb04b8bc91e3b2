//! Changing the configured repositories without losing the rollback defence: `repo add`
//! (credentials split off the URLs; a removed repository's last-seen serial comes back),
//! `repo remove` (leaves that serial behind as a tombstone unless told to forget), and key
//! rotation (`repo key add|remove`), which keeps the serial and expiry last seen even when
//! the stored index can no longer be verified with the keys that remain.

use super::credentials::{self, Credentials, Login};
use super::keys::PublicKey;
use super::trust::{self, Repo, Repos, Seen, State, Tombstone};
use super::{Error, Paths};
use crate::error::Result;
use serde::Serialize;

/// What `repo add` did.
#[derive(Debug, Serialize)]
pub struct Added {
    /// The repository as configured (URLs without credentials).
    pub repo: Repo,
    /// The URLs as shown (`***` where credentials were given).
    pub shown_urls: Vec<String>,
    /// The last-seen serial carried over from the removed repository of that name.
    pub kept_serial: Option<u64>,
}

/// Adds a repository; `urls` are normalised and may hold credentials, which go to
/// `repos/credentials.toml` (0600) and nowhere else.
pub fn add(
    paths: &Paths,
    name: &str,
    urls: &[String],
    keys: &[PublicKey],
    channel: &str,
) -> Result<Added> {
    let mut repos = Repos::load(paths)?;
    if repos.repos.iter().any(|r| r.name == name) {
        return Err(Error::RepoExists {
            name: name.to_string(),
        }
        .into());
    }
    let mut creds = Credentials::load(paths)?;
    creds.forget(name);
    let mut bare_urls = Vec::new();
    for u in urls {
        let (bare, login) = credentials::split(u);
        if let Some((user, password)) = login {
            creds.logins.push(Login {
                repo: name.to_string(),
                url: bare.clone(),
                user,
                password,
            });
        }
        bare_urls.push(bare);
    }
    let seen = repos
        .removed
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.seen.clone());
    repos.removed.retain(|t| t.name != name);
    let repo = Repo {
        name: name.to_string(),
        urls: bare_urls,
        keys: keys.iter().map(|k| k.base64.clone()).collect(),
        channel: channel.to_string(),
        seen,
    };
    repos.repos.push(repo.clone());
    // Credentials first: a repository is never configured with a URL whose login is lost.
    creds.save(paths)?;
    repos.save(paths)?;
    Ok(Added {
        shown_urls: repo.urls.iter().map(|u| creds.shown(u)).collect(),
        kept_serial: repo.seen.as_ref().map(|s| s.serial),
        repo,
    })
}

/// What `repo remove` did.
#[derive(Debug, Serialize)]
pub struct Removed {
    /// The repository.
    pub removed: String,
    /// The last-seen serial kept as a tombstone (None with `--forget`, or never updated).
    pub kept_serial: Option<u64>,
}

/// Removes a repository, its last good index and its credentials; its last-seen serial
/// stays behind as a tombstone unless `forget`.
pub fn remove(paths: &Paths, name: &str, forget: bool) -> Result<Removed> {
    let mut repos = Repos::load(paths)?;
    let repo = repos.get(name)?.clone();
    let seen = if forget {
        None
    } else {
        last_seen(paths, &repo)?
    };
    repos.repos.retain(|r| r.name != name);
    repos.removed.retain(|t| t.name != name);
    repos.legacy_logins.retain(|l| l.repo != name);
    if let Some(seen) = &seen {
        repos.removed.push(Tombstone {
            name: name.to_string(),
            seen: seen.clone(),
        });
    }
    repos.save(paths)?;
    let mut creds = Credentials::load(paths)?;
    creds.forget(name);
    creds.save(paths)?;
    trust::forget(paths, name)?;
    Ok(Removed {
        removed: name.to_string(),
        kept_serial: seen.map(|s| s.serial),
    })
}

/// What `repo key add|remove` did.
#[derive(Debug, Serialize)]
pub struct KeyChange {
    /// The repository.
    pub repository: String,
    /// The key added or removed.
    pub key_id: String,
    /// `added`, `removed` or `unchanged` (the key was already pinned).
    pub status: &'static str,
    /// The keys pinned now.
    pub pinned: Vec<String>,
    /// The last-seen serial every later index is held to.
    pub serial: Option<u64>,
    /// Whether the last good index was dropped (signed by the removed key: it can no longer
    /// be verified; `berth update` fetches one signed by a remaining key).
    pub index_dropped: bool,
}

/// Pins one more key for `name` (both sign until the old one is removed).
pub fn add_key(paths: &Paths, name: &str, key: &PublicKey) -> Result<KeyChange> {
    let mut repos = Repos::load(paths)?;
    let repo = repos.get(name)?.clone();
    let pinned = repo.public_keys()?;
    let status = if pinned.iter().any(|k| k.id == key.id) {
        "unchanged"
    } else {
        let r = repos
            .repos
            .iter_mut()
            .find(|r| r.name == name)
            .expect("found above");
        r.keys.push(key.base64.clone());
        repos.save(paths)?;
        "added"
    };
    let repo = repos.get(name)?;
    Ok(KeyChange {
        repository: name.to_string(),
        key_id: key.id.clone(),
        status,
        pinned: repo.public_keys()?.into_iter().map(|k| k.id).collect(),
        serial: last_seen(paths, repo)?.map(|s| s.serial),
        index_dropped: false,
    })
}

/// Unpins the key `key_id` of `name` (never the last one), keeping the last-seen serial and
/// expiry in `repos.toml` so that no older index is accepted with the keys that remain.
pub fn remove_key(paths: &Paths, name: &str, key_id: &str) -> Result<KeyChange> {
    let mut repos = Repos::load(paths)?;
    let repo = repos.get(name)?.clone();
    let pinned = repo.public_keys()?;
    let wanted = key_id.trim().to_ascii_uppercase();
    let Some(i) = pinned.iter().position(|k| k.id == wanted) else {
        return Err(Error::KeyNotPinned {
            repo: name.to_string(),
            key_id: key_id.to_string(),
            pinned: pinned.iter().map(|k| k.id.clone()).collect(),
        }
        .into());
    };
    if pinned.len() == 1 {
        return Err(Error::LastKey {
            repo: name.to_string(),
            key_id: wanted,
        }
        .into());
    }
    let seen = last_seen(paths, &repo)?;
    let r = repos
        .repos
        .iter_mut()
        .find(|r| r.name == name)
        .expect("found above");
    r.keys.remove(i);
    r.seen = seen.clone();
    let remaining = r.clone();
    repos.save(paths)?;
    // An index only the removed key signed cannot be re-verified: drop it (its serial and
    // expiry are kept above), so that nothing unverifiable is ever read again.
    let index_dropped = trust::load_known(paths, &remaining).is_err();
    if index_dropped {
        trust::forget(paths, name)?;
    }
    Ok(KeyChange {
        repository: name.to_string(),
        key_id: wanted,
        status: "removed",
        pinned: remaining.public_keys()?.into_iter().map(|k| k.id).collect(),
        serial: seen.map(|s| s.serial),
        index_dropped,
    })
}

/// The newest of what `repos/<name>.json` holds and the floor in `repos.toml`. The stored
/// index is read as this module wrote it (it was verified when it was kept).
pub fn last_seen(paths: &Paths, repo: &Repo) -> Result<Option<Seen>> {
    let stored = match paths.read(&Paths::state_rel(&repo.name))? {
        Some(text) => serde_json::from_str::<State>(&text).ok().and_then(|state| {
            let index = super::index::parse(state.index.as_bytes(), "").ok()?;
            Some(Seen::of(&trust::Known { state, index }))
        }),
        None => None,
    };
    Ok(match (stored, repo.seen.clone()) {
        (Some(a), Some(b)) => Some(if a.serial >= b.serial { a } else { b }),
        (a, b) => a.or(b),
    })
}
