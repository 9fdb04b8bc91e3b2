//! Credentials of repository URLs (`https://user:password@host/…`), kept apart from the URLs
//! the way apt's auth.conf.d does: `repos.toml`, `repos/<name>.json`, every message and
//! every `--json` answer hold the URL without them, and only `repos/credentials.toml`
//! (mode 0600) holds the user and password, sent as HTTP Basic authentication to URLs
//! under that repository's base.

use super::Paths;
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// `repos/credentials.toml`, relative to the root.
pub const CREDENTIALS: &str = "repos/credentials.toml";
/// What a URL's credentials are shown as.
pub const HIDDEN: &str = "***";

/// `repos/credentials.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// One login per repository URL that has one.
    #[serde(default, rename = "login")]
    pub logins: Vec<Login>,
}

/// The user and password of one repository URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The repository it belongs to.
    pub repo: String,
    /// The URL without credentials (a base: requests under it get them).
    pub url: String,
    /// The user (as written in the URL, percent-encoded).
    pub user: String,
    /// The password (as written in the URL, percent-encoded).
    pub password: String,
}

impl Login {
    /// The `Authorization` header's value.
    pub fn header(&self) -> String {
        use ct_codecs::Encoder;
        let plain = format!("{}:{}", decode(&self.user), decode(&self.password));
        let b64 = ct_codecs::Base64::encode_to_string(plain.as_bytes()).unwrap_or_default();
        format!("Basic {b64}")
    }
}

impl Credentials {
    /// Reads `repos/credentials.toml` (none when it does not exist).
    pub fn load(paths: &Paths) -> Result<Credentials> {
        let Some(text) = paths.read(CREDENTIALS)? else {
            return Ok(Credentials::default());
        };
        toml::from_str(&text).map_err(|e| {
            super::Error::BadConfig {
                path: paths.root_path(CREDENTIALS),
                why: e.message().to_string(),
                hint: "fix the file, or remove the repository and add it again with its URL",
            }
            .into()
        })
    }

    /// Writes it durably, readable by its owner only (0600); removes it when empty.
    pub fn save(&self, paths: &Paths) -> Result<()> {
        if self.logins.is_empty() {
            return paths.remove(CREDENTIALS);
        }
        let text = toml::to_string(self).map_err(|e| crate::Error::Internal {
            what: "repos/credentials.toml",
            detail: e.to_string(),
        })?;
        paths.write_private(CREDENTIALS, text.as_bytes())
    }

    /// The login whose base `url` is under, if any.
    pub fn for_url(&self, url: &str) -> Option<&Login> {
        self.logins.iter().find(|l| url.starts_with(&l.url))
    }

    /// `url` as shown to people: `scheme://***@host/…` when it has a login.
    pub fn shown(&self, url: &str) -> String {
        match self.for_url(url) {
            Some(_) => with_hidden(url),
            None => url.to_string(),
        }
    }

    /// Forgets the logins of repository `repo`.
    pub fn forget(&mut self, repo: &str) {
        self.logins.retain(|l| l.repo != repo);
    }
}

/// Splits the credentials off a URL: the URL without them, and `(user, password)`.
pub fn split(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &rest[..at];
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    (
        format!("{scheme}://{}", &rest[at + 1..]),
        Some((user.to_string(), password.to_string())),
    )
}

/// A URL with whatever credentials it holds replaced by `***` (for text that may hold one).
pub fn redact(url: &str) -> String {
    match split(url) {
        (bare, Some(_)) => with_hidden(&bare),
        (bare, None) => bare,
    }
}

fn with_hidden(bare: &str) -> String {
    match bare.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{HIDDEN}@{rest}"),
        None => bare.to_string(),
    }
}

/// Percent-decoding of a URL's user or password (`%40` is `@`).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_split_off_and_hidden() {
        let (bare, c) = split("https://bob:s%40cret@h.example:8443/repo/");
        assert_eq!(bare, "https://h.example:8443/repo/");
        assert_eq!(c, Some(("bob".into(), "s%40cret".into())));
        assert_eq!(
            redact("http://u:p@h/x/"),
            "http://***@h/x/",
            "credentials never shown"
        );
        assert_eq!(
            redact("http://h/a@b/"),
            "http://h/a@b/",
            "an @ in the path is no login"
        );
        let l = Login {
            repo: "r".into(),
            url: bare,
            user: "bob".into(),
            password: "s%40cret".into(),
        };
        assert_eq!(l.header(), "Basic Ym9iOnNAY3JldA==");
    }
}
