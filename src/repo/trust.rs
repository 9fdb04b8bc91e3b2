//! What a client trusts: `repos.toml` (each repository's mirrors, pinned keys and channel),
//! `config.toml` (whether local installs need signatures), and the last good index of each
//! repository, replaced only by an index that passes every rule (signature by a pinned key,
//! channel, serial never lower nor reused, expiry neither past nor too far ahead).

use super::fetch::{self, Fetcher, Small, Validators};
use super::index::{self, Index, INDEX, SIGNATURE};
use super::keys::{self, PublicKey};
use super::{Error, Paths};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The largest index accepted.
pub const INDEX_CAP: u64 = 16 << 20;
/// The largest signature file accepted.
pub const SIGNATURE_CAP: u64 = 8 << 10;
/// Clock skew tolerated on expiry times, both ways.
pub const SKEW: Duration = Duration::from_secs(300);

/// `repos.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repos {
    /// The repositories, in the order they are searched.
    #[serde(default, rename = "repo")]
    pub repos: Vec<Repo>,
    /// Package names bound to the repository they were first installed from (or chosen
    /// with `install --from`): another repository offering the name is not used for it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pins: std::collections::BTreeMap<String, String>,
    /// Removed repositories' last-seen serials (`repo remove` without `--forget`): adding
    /// the name again starts from them, so an older index is still a rollback.
    #[serde(default, rename = "removed", skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Tombstone>,
    /// Credentials found in URLs written by an older berth, split off when read (never shown;
    /// `berth repo remove` and `repo add` move them to `repos/credentials.toml`).
    #[serde(skip)]
    pub legacy_logins: Vec<super::credentials::Login>,
}

/// The last index a repository was seen at, kept across key rotations and removals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    /// Its serial.
    pub serial: u64,
    /// The sha256 of its bytes (the same serial with other bytes is a replay).
    pub sha256: String,
    /// Its expiry.
    pub expires: String,
}

impl Seen {
    /// What `known` says.
    pub fn of(known: &Known) -> Seen {
        use sha2::Digest;
        Seen {
            serial: known.index.serial,
            sha256: hex::encode(sha2::Sha256::digest(known.state.index.as_bytes())),
            expires: known.index.expires.clone(),
        }
    }
}

/// A removed repository's last-seen index.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// The repository's name.
    pub name: String,
    /// Its serial, sha256 and expiry.
    pub seen: Seen,
}

/// One configured repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repo {
    /// Its name.
    pub name: String,
    /// Mirror URLs, tried in order.
    pub urls: Vec<String>,
    /// Pinned public keys (base64); any of them may sign the index.
    pub keys: Vec<String>,
    /// The channel its index must be for.
    pub channel: String,
    /// The last index seen before its keys changed or it was removed and added again: an
    /// index is never accepted below it (the last good index in `repos/` counts too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
}

impl Repo {
    /// The pinned keys, parsed.
    pub fn public_keys(&self) -> Result<Vec<PublicKey>> {
        self.keys.iter().map(|k| PublicKey::parse(k)).collect()
    }
}

/// Checks a repository name.
pub fn check_repo_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRepoName {
            name: name.to_string(),
        }
        .into())
    }
}

/// A fetcher that sends the root's repository credentials (`repos/credentials.toml`, and
/// those an older berth left in repos.toml). Here rather than in `fetch`, which knows
/// nothing of repos.toml.
pub fn fetcher(paths: &Paths) -> Result<Fetcher> {
    let mut c = super::credentials::Credentials::load(paths)?;
    c.logins.extend(Repos::load(paths)?.legacy_logins);
    Ok(Fetcher::with_credentials(c))
}

impl Repos {
    /// Reads `repos.toml` (none configured when it does not exist).
    pub fn load(paths: &Paths) -> Result<Repos> {
        let path = paths.repos_toml();
        let Some(text) = paths.read(super::REPOS_TOML)? else {
            return Ok(Repos::default());
        };
        let mut repos: Repos = toml::from_str(&text).map_err(|e| Error::BadConfig {
            path: path.clone(),
            why: e.message().to_string(),
            hint: "fix the file, or remove and re-add the repository",
        })?;
        for r in &mut repos.repos {
            for u in &mut r.urls {
                if let (bare, Some((user, password))) = super::credentials::split(u) {
                    repos.legacy_logins.push(super::credentials::Login {
                        repo: r.name.clone(),
                        url: bare.clone(),
                        user,
                        password,
                    });
                    *u = bare;
                }
            }
        }
        Ok(repos)
    }

    /// Writes `repos.toml` durably (credentials read from an old one go to
    /// `repos/credentials.toml`).
    pub fn save(&self, paths: &Paths) -> Result<()> {
        if !self.legacy_logins.is_empty() {
            let mut c = super::credentials::Credentials::load(paths)?;
            for l in &self.legacy_logins {
                if c.for_url(&l.url).is_none() && self.repos.iter().any(|r| r.name == l.repo) {
                    c.logins.push(l.clone());
                }
            }
            c.save(paths)?;
        }
        let text = toml::to_string(self).map_err(|e| crate::Error::Internal {
            what: "repos.toml",
            detail: e.to_string(),
        })?;
        paths.write(super::REPOS_TOML, text.as_bytes())
    }

    /// The repository called `name`.
    pub fn get(&self, name: &str) -> Result<&Repo> {
        self.repos.iter().find(|r| r.name == name).ok_or_else(|| {
            Error::UnknownRepo {
                name: name.to_string(),
                existing: self.names(),
            }
            .into()
        })
    }

    /// Names, in order.
    pub fn names(&self) -> Vec<String> {
        self.repos.iter().map(|r| r.name.clone()).collect()
    }
}

/// `config.toml`: root-wide policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Refuse local installs without `--signature` (unless `--insecure`).
    #[serde(default)]
    pub require_signatures: bool,
}

impl Config {
    /// Reads `config.toml` (defaults when it does not exist).
    pub fn load(paths: &Paths) -> Result<Config> {
        let path = paths.config_toml();
        let Some(text) = paths.read(super::CONFIG_TOML)? else {
            return Ok(Config::default());
        };
        toml::from_str(&text).map_err(|e| {
            Error::BadConfig {
                path,
                why: e.message().to_string(),
                hint: "the only setting is `require_signatures = true|false`",
            }
            .into()
        })
    }
}

/// Every key trusted for `install --signature`: those pinned for any repository, and the
/// `.pub` files in `keys/`.
pub fn all_keys(paths: &Paths) -> Result<Vec<PublicKey>> {
    let mut out = Vec::new();
    for r in Repos::load(paths)?.repos {
        out.extend(r.public_keys()?);
    }
    for name in paths.list(super::KEYS_DIR)? {
        if name.ends_with(".pub") {
            let rel = format!("{}/{name}", super::KEYS_DIR);
            let text = paths.read(&rel)?.unwrap_or_default();
            out.push(PublicKey::parse(&text)?);
        }
    }
    Ok(out)
}

/// The last good index of a repository, as stored in `repos/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The mirror it came from.
    pub url: String,
    /// When it was fetched.
    pub fetched: String,
    /// Validators for the next conditional request to `url`.
    #[serde(default)]
    pub validators: Validators,
    /// The index, byte for byte.
    pub index: String,
    /// Its signature file.
    pub signature: String,
}

/// A verified last good index.
#[derive(Debug, Clone)]
pub struct Known {
    /// What is stored.
    pub state: State,
    /// The parsed index.
    pub index: Index,
}

/// Loads and re-verifies the last good index of `repo` (None before the first update).
pub fn load_known(paths: &Paths, repo: &Repo) -> Result<Option<Known>> {
    let path = paths.state(&repo.name);
    let Some(text) = paths.read(&Paths::state_rel(&repo.name))? else {
        return Ok(None);
    };
    let bad = |why: String| {
        Error::BadConfig {
        path: path.clone(),
        why,
        hint: "remove the file and run `berth update` (rollback protection restarts from the fetched index)",
    }
    };
    let state: State = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let url = path.display().to_string();
    keys::verify(
        state.index.as_bytes(),
        &state.signature,
        &repo.public_keys()?,
        &url,
        &repo.name,
    )?;
    let index = index::parse(state.index.as_bytes(), &url)?;
    Ok(Some(Known { state, index }))
}

/// Limits an update applies.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The furthest ahead an expiry may be.
    pub max_validity: Duration,
    /// Now.
    pub now: SystemTime,
}

/// What one repository's update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A newer index is now in force.
    Updated,
    /// The index did not change (304, or the same bytes).
    Unchanged,
}

/// Fetches `repo`'s index from its mirrors in order and keeps it if it passes every rule.
/// On failure the previous index stays in force; the most serious mirror error is returned.
pub fn update(
    paths: &Paths,
    repo: &Repo,
    fetcher: &Fetcher,
    policy: &Policy,
) -> Result<(Outcome, Known)> {
    let keys = repo.public_keys()?;
    let prev = load_known(paths, repo)?;
    let mut errors: Vec<crate::Error> = Vec::new();
    for base in &repo.urls {
        match update_from(paths, repo, &keys, prev.as_ref(), base, fetcher, policy) {
            Ok(r) => return Ok(r),
            Err(e) => {
                if repo.urls.len() > 1 {
                    tracing::warn!("{}: {e}; trying the next mirror", repo.name);
                }
                errors.push(e);
            }
        }
    }
    Err(most_serious(errors))
}

/// Of several mirrors' errors, the one to report: integrity first, then not found, then
/// anything else (the first of equals).
pub fn most_serious(errors: Vec<crate::Error>) -> crate::Error {
    let rank = |e: &crate::Error| match e.exit_code() {
        crate::error::exit::INTEGRITY => 0,
        crate::error::exit::REFUSED => 1,
        crate::error::exit::NOT_FOUND => 2,
        _ => 3,
    };
    errors
        .into_iter()
        .min_by_key(rank)
        .unwrap_or_else(|| Error::NoRepos.into())
}

fn update_from(
    paths: &Paths,
    repo: &Repo,
    keys: &[PublicKey],
    prev: Option<&Known>,
    base: &str,
    fetcher: &Fetcher,
    policy: &Policy,
) -> Result<(Outcome, Known)> {
    let url = fetch::join(base, INDEX);
    let cond = prev
        .filter(|p| p.state.url == base)
        .map(|p| &p.state.validators);
    let (bytes, validators) = match fetcher.small(&url, INDEX_CAP, "the index", cond)? {
        Small::NotModified => {
            let p = prev.expect("a conditional request needs a previous index");
            check_expiry(&p.index, &url, policy)?;
            return Ok((Outcome::Unchanged, p.clone()));
        }
        Small::Fetched(b, v) => (b, v),
    };
    let sig_url = fetch::join(base, SIGNATURE);
    let sig = match fetcher.small(&sig_url, SIGNATURE_CAP, "the signature", None)? {
        Small::Fetched(s, _) => s,
        Small::NotModified => unreachable!("no conditional request was made"),
    };
    let sig = String::from_utf8(sig).map_err(|_| Error::BadSignature {
        url: sig_url.clone(),
        why: "not text".into(),
    })?;
    // Verify before parsing: nothing unsigned is ever interpreted.
    keys::verify(&bytes, &sig, keys, &sig_url, &repo.name)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::BadIndex {
        url: url.clone(),
        why: "not UTF-8".into(),
    })?;
    let index = index::parse(text.as_bytes(), &url)?;
    check_rules(repo, prev, &index, &text, &url, policy)?;
    let same = prev.filter(|p| p.state.index == text);
    if same.is_some_and(|p| p.state.url == base && p.state.validators == validators) {
        return Ok((Outcome::Unchanged, same.cloned().expect("checked")));
    }
    let state = State {
        url: base.to_string(),
        fetched: index::format_time(policy.now),
        validators,
        index: text,
        // The same bytes under a new signature: keep the one already trusted.
        signature: same.map(|p| p.state.signature.clone()).unwrap_or(sig),
    };
    save_state(paths, &repo.name, &state)?;
    let outcome = if same.is_some() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    };
    Ok((outcome, Known { state, index }))
}

/// The rules a verified index passes before it replaces the previous one: the pinned
/// channel, a serial never lower and never reused for other bytes, and its expiry.
fn check_rules(
    repo: &Repo,
    prev: Option<&Known>,
    index: &Index,
    text: &str,
    url: &str,
    policy: &Policy,
) -> Result<()> {
    if index.channel != repo.channel {
        return Err(Error::WrongChannel {
            url: url.to_string(),
            repo: repo.name.clone(),
            expected: repo.channel.clone(),
            actual: index.channel.clone(),
        }
        .into());
    }
    if let Some(p) = prev {
        if index.serial < p.index.serial {
            return Err(Error::Rollback {
                url: url.to_string(),
                serial: index.serial,
                last: p.index.serial,
            }
            .into());
        }
        if index.serial == p.index.serial && text != p.state.index {
            return Err(Error::SerialReused {
                url: url.to_string(),
                serial: index.serial,
            }
            .into());
        }
    }
    if let Some(seen) = &repo.seen {
        // The floor kept across key rotations and removals (`repo key remove`, `repo remove`).
        if index.serial < seen.serial {
            return Err(Error::Rollback {
                url: url.to_string(),
                serial: index.serial,
                last: seen.serial,
            }
            .into());
        }
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        };
        if index.serial == seen.serial && sha != seen.sha256 {
            return Err(Error::SerialReused {
                url: url.to_string(),
                serial: index.serial,
            }
            .into());
        }
    }
    check_expiry(index, url, policy)
}

/// Refuses an index past its expiry, or one that expires further ahead than allowed.
pub fn check_expiry(index: &Index, url: &str, policy: &Policy) -> Result<()> {
    let expires = index.expires_at();
    if expires + SKEW < policy.now {
        return Err(Error::Expired {
            url: url.to_string(),
            expires: index.expires.clone(),
        }
        .into());
    }
    if expires > policy.now + policy.max_validity + SKEW {
        return Err(Error::TooFarAhead {
            url: url.to_string(),
            expires: index.expires.clone(),
            max: days(policy.max_validity),
        }
        .into());
    }
    Ok(())
}

fn save_state(paths: &Paths, name: &str, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state).map_err(|e| crate::Error::Internal {
        what: "a repository's state",
        detail: format!("{name}: {e}"),
    })?;
    paths.write(&Paths::state_rel(name), text.as_bytes())
}

/// Forgets a repository's last good index.
pub fn forget(paths: &Paths, name: &str) -> Result<()> {
    paths.remove(&Paths::state_rel(name))
}

/// A duration for messages: whole days when it is whole days.
fn days(d: Duration) -> String {
    match d.as_secs() {
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        _ => humantime::format_duration(d).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_toml_round_trips_with_pins_tombstones_and_floors() {
        let seen = Seen {
            serial: 7,
            sha256: "ab".repeat(32),
            expires: "2026-06-01T00:00:00Z".into(),
        };
        let mut r = Repos::default();
        r.repos.push(Repo {
            name: "origin".into(),
            urls: vec!["http://h/".into()],
            keys: vec![],
            channel: "stable".into(),
            seen: Some(seen.clone()),
        });
        r.pins.insert("myapp".into(), "origin".into());
        r.removed.push(Tombstone {
            name: "old".into(),
            seen: seen.clone(),
        });
        let text = toml::to_string(&r).unwrap();
        let back: Repos = toml::from_str(&text).unwrap();
        assert_eq!(back.repos[0].seen.as_ref(), Some(&seen));
        assert_eq!(back.pins.get("myapp").map(String::as_str), Some("origin"));
        assert_eq!(back.removed[0].seen, seen);
    }
}
