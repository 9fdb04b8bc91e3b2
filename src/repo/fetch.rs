//! Getting bytes from a repository URL (`file://`, `http://`, `https://` with rustls): with
//! timeouts, hard size caps (a server that never stops sending is cut off), conditional
//! requests for the index, and one clear error per failure that names the URL.

use super::Error;
use crate::error::Result;
use std::io::{Read, Write};
use std::time::Duration;

/// Time to connect, and the longest silence tolerated while reading.
const IDLE: Duration = Duration::from_secs(30);
/// A whole index or signature request.
const SMALL_TOTAL: Duration = Duration::from_secs(120);
/// A package download may take 2 minutes plus one second per 64 KiB (a trickling server is
/// cut off; a slow but honest link is not).
const MIN_RATE: u64 = 64 << 10;

/// HTTP validators of a fetched file, sent back to ask "only if changed".
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    /// `ETag` of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Last-Modified` of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// The answer to a small (capped) request.
pub enum Small {
    /// `304 Not Modified`.
    NotModified,
    /// The body, and the validators to send next time.
    Fetched(Vec<u8>, Validators),
}

/// Fetches from repository URLs.
pub struct Fetcher {
    agent: ureq::Agent,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new()
    }
}

impl Fetcher {
    /// A fetcher with berth's timeouts; proxies come from the usual environment variables.
    pub fn new() -> Fetcher {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(IDLE))
            .timeout_recv_response(Some(IDLE))
            .timeout_per_read(Some(IDLE))
            .max_redirects(5)
            .build();
        Fetcher {
            agent: config.into(),
        }
    }

    /// Gets at most `cap` bytes of `url` (`what` names it in errors); with `cond`, a
    /// `304` comes back as [`Small::NotModified`].
    pub fn small(
        &self,
        url: &str,
        cap: u64,
        what: &'static str,
        cond: Option<&Validators>,
    ) -> Result<Small> {
        if let Some(path) = file_path(url) {
            let f = open_file(path, url)?;
            let mut bytes = Vec::new();
            f.take(cap + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| io_error(url, &e))?;
            if bytes.len() as u64 > cap {
                return Err(too_large(url, what, cap));
            }
            return Ok(Small::Fetched(bytes, Validators::default()));
        }
        let mut req = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(SMALL_TOTAL))
            .build();
        if let Some(v) = cond {
            if let Some(e) = &v.etag {
                req = req.header("If-None-Match", e);
            }
            if let Some(m) = &v.last_modified {
                req = req.header("If-Modified-Since", m);
            }
        }
        let mut resp = req.call().map_err(|e| net_error(url, e))?;
        match resp.status().as_u16() {
            304 if cond.is_some() => return Ok(Small::NotModified),
            _ => check_status(url, resp.status().as_u16())?,
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        if resp.body().content_length().is_some_and(|n| n > cap) {
            return Err(too_large(url, what, cap));
        }
        let mut bytes = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(url, &e))?;
        if bytes.len() as u64 > cap {
            return Err(too_large(url, what, cap));
        }
        Ok(Small::Fetched(bytes, validators))
    }

    /// Writes exactly `size` bytes of `url` to `out`: a longer body is refused as soon as it
    /// shows (by its Content-Length, or by one byte too many), a shorter one too.
    pub fn exact(&self, url: &str, size: u64, out: &mut dyn Write) -> Result<()> {
        if let Some(path) = file_path(url) {
            let f = open_file(path, url)?;
            let actual = f.metadata().map_err(|e| io_error(url, &e))?.len();
            if actual != size {
                return Err(Error::SizeMismatch {
                    url: url.into(),
                    expected: size,
                    actual,
                }
                .into());
            }
            return copy_exact(f, url, size, out);
        }
        let total = Duration::from_secs(120 + size / MIN_RATE);
        let resp = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(total))
            .build()
            .call()
            .map_err(|e| net_error(url, e))?;
        check_status(url, resp.status().as_u16())?;
        if let Some(n) = resp.body().content_length().filter(|n| *n != size) {
            return Err(Error::SizeMismatch {
                url: url.into(),
                expected: size,
                actual: n,
            }
            .into());
        }
        copy_exact(resp.into_body().into_reader(), url, size, out)
    }
}

/// Copies `size` bytes, then checks that nothing follows.
fn copy_exact(mut r: impl Read, url: &str, size: u64, out: &mut dyn Write) -> Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    while got < size {
        let want = buf.len().min((size - got) as usize);
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Error::Truncated {
                    url: url.into(),
                    got,
                    expected: size,
                }
                .into())
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if is_cut(&e) => {
                return Err(Error::Truncated {
                    url: url.into(),
                    got,
                    expected: size,
                }
                .into())
            }
            Err(e) => return Err(io_error(url, &e)),
        };
        out.write_all(&buf[..n]).map_err(|e| crate::Error::Io {
            op: "store the download of",
            path: url.into(),
            source: e,
        })?;
        got += n as u64;
    }
    let mut one = [0u8; 1];
    match r.read(&mut one) {
        Ok(0) => Ok(()),
        Ok(_) => Err(too_large(url, "the package", size)),
        // The bytes are all here; a connection that ends badly after them lost nothing.
        Err(_) => Ok(()),
    }
}

/// Whether a read failed because the connection ended early: by the error's kind, also
/// where ureq wraps its own error (holding the I/O error) in an I/O error.
fn is_cut(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    if let Some(ureq::Error::Io(inner)) = e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>())
    {
        return is_cut(inner);
    }
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

fn too_large(url: &str, what: &'static str, limit: u64) -> crate::Error {
    Error::TooLarge {
        url: url.into(),
        what,
        limit,
    }
    .into()
}

fn check_status(url: &str, status: u16) -> Result<()> {
    match status {
        200 => Ok(()),
        404 | 410 => Err(Error::NotFound { url: url.into() }.into()),
        s => Err(Error::Network {
            url: url.into(),
            why: format!("HTTP status {s}"),
            hint: "the server refused or failed the request; try again later, or another mirror",
        }
        .into()),
    }
}

/// The local path of a `file://` URL.
fn file_path(url: &str) -> Option<&str> {
    url.strip_prefix("file://")
}

/// Opens a `file://` repository's file: a regular file only, opened without blocking, so a
/// FIFO named `index.json` cannot hang a command that holds the root's lock.
fn open_file(path: &str, url: &str) -> Result<std::fs::File> {
    match crate::fsutil::open_input(std::path::Path::new(path)) {
        Err(crate::Error::InputNotFound { .. }) => Err(Error::NotFound { url: url.into() }.into()),
        r => r,
    }
}

fn io_error(url: &str, e: &std::io::Error) -> crate::Error {
    let (why, hint) = match e.kind() {
        std::io::ErrorKind::TimedOut => (
            "timed out".to_string(),
            "the server stopped answering; try again, or another mirror",
        ),
        _ => (e.to_string(), "try again; check the network and the URL"),
    };
    Error::Network {
        url: url.into(),
        why,
        hint,
    }
    .into()
}

fn net_error(url: &str, e: ureq::Error) -> crate::Error {
    use ureq::Error as E;
    let (why, hint) = match &e {
        E::ConnectionFailed => (
            "connection refused".to_string(),
            "is the server running? check the URL (`berth repo list`)",
        ),
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            "connection refused".to_string(),
            "is the server running? check the URL (`berth repo list`)",
        ),
        E::HostNotFound => (
            "host not found".to_string(),
            "check the host name in the URL and DNS",
        ),
        E::Timeout(t) => (
            format!("timed out ({t})"),
            "the server is too slow or unreachable; try again, or another mirror",
        ),
        E::Tls(_) | E::Rustls(_) | E::Pem(_) => tls(&e),
        // rustls reports handshake failures (untrusted certificate …) as I/O errors.
        E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => tls(&e),
        E::BadUri(_) => (
            format!("bad URL: {e}"),
            "fix the repository URL (`berth repo add`)",
        ),
        _ => (e.to_string(), "try again; check the network and the URL"),
    };
    Error::Network {
        url: url.into(),
        why,
        hint,
    }
    .into()
}

fn tls(e: &ureq::Error) -> (String, &'static str) {
    (
        format!("TLS failed: {e}"),
        "the server's certificate is not trusted (berth trusts the Mozilla roots) or TLS is misconfigured",
    )
}

/// Normalises a repository URL: `http(s)://…/` or `file:///abs/…/` (an absolute path is taken
/// as a file URL); always ends with `/` so package paths join under it.
pub fn normalise_url(given: &str) -> Result<String> {
    let bad = |why: &str| Error::BadUrl {
        url: given.to_string(),
        why: why.to_string(),
    };
    let mut url = if given.starts_with('/') {
        format!("file://{given}")
    } else {
        given.to_string()
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace").into());
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad("a file:// URL needs an absolute path (file:///srv/repo/)").into());
        }
    } else if let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("no host").into());
        }
        if url.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not supported").into());
        }
    } else {
        return Err(bad("unsupported scheme").into());
    }
    if !url.ends_with('/') {
        url.push('/');
    }
    Ok(url)
}

/// `base` (ending in `/`) joined with a checked relative path.
pub fn join(base: &str, rel: &str) -> String {
    format!("{base}{rel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_or_refused() {
        assert_eq!(
            normalise_url("http://h:8080/repo").unwrap(),
            "http://h:8080/repo/"
        );
        assert_eq!(normalise_url("/srv/r").unwrap(), "file:///srv/r/");
        assert!(normalise_url("ftp://h/").is_err());
        assert!(normalise_url("file://relative").is_err());
        assert!(normalise_url("http:///x").is_err());
    }
}
