//! Getting bytes from a repository URL (`file://`, `http://`, `https://` with rustls): with
//! timeouts, hard size caps (a server that never stops sending is cut off), conditional
//! requests for the index, and one clear error per failure that names the URL.

use super::credentials::{self, Credentials};
use super::Error;
use crate::error::Result;
use std::io::{Read, Write};
use std::time::Duration;

/// Time to connect, and the longest silence tolerated while reading.
const IDLE: Duration = Duration::from_secs(30);
/// A whole index or signature request, and the base of a package's: 120 s unless
/// `$BERTH_DOWNLOAD_TIMEOUT` says otherwise.
fn base_total() -> Duration {
    let secs = std::env::var(crate::env::BERTH_DOWNLOAD_TIMEOUT)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(120);
    Duration::from_secs(secs)
}
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

/// Redirects followed, each checked here (no scheme change, no https to http).
const MAX_REDIRECTS: usize = 5;

/// Fetches from repository URLs.
pub struct Fetcher {
    agent: ureq::Agent,
    credentials: Credentials,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new()
    }
}

impl Fetcher {
    /// A fetcher with berth's timeouts and no credentials; proxies come from the usual
    /// environment variables.
    pub fn new() -> Fetcher {
        Fetcher::with_credentials(Credentials::default())
    }

    /// A fetcher that sends `credentials` to the URLs under their bases.
    pub fn with_credentials(credentials: Credentials) -> Fetcher {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(IDLE))
            .timeout_recv_response(Some(IDLE))
            .timeout_per_read(Some(IDLE))
            // Redirects are followed by `get`, which checks each one.
            .max_redirects(0)
            .build();
        Fetcher {
            agent: config.into(),
            credentials,
        }
    }

    /// GETs `url`, following at most [`MAX_REDIRECTS`] redirects to http(s) URLs (never
    /// from https to http); each request gets `total` in all.
    fn get(
        &self,
        url: &str,
        total: Duration,
        cond: Option<&Validators>,
        range: Option<(u64, u64)>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self
                .agent
                .get(&current)
                .config()
                .timeout_global(Some(total))
                .build();
            if let Some(login) = self.credentials.for_url(&current) {
                req = req.header("Authorization", login.header());
            }
            if let Some((start, end)) = range {
                // One range per request: multi-range answers are unreliable on object
                // stores and CDNs. Identity: a range of a compressed encoding is useless.
                req = req
                    .header("Range", format!("bytes={start}-{end}"))
                    .header("Accept-Encoding", "identity");
            }
            if let Some(v) = cond {
                if let Some(e) = &v.etag {
                    req = req.header("If-None-Match", e);
                }
                if let Some(m) = &v.last_modified {
                    req = req.header("If-Modified-Since", m);
                }
            }
            let resp = req.call().map_err(|e| net_error(url, e, total))?;
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::Network {
                    url: url.into(),
                    why: format!("HTTP status {} without a Location", resp.status().as_u16()),
                    hint: "the server is misconfigured; try another mirror",
                })?;
            current = redirect(url, &current, location)?;
        }
        Err(Error::Network {
            url: url.into(),
            why: format!("too many redirects (more than {MAX_REDIRECTS})"),
            hint:
                "the server redirects in a loop or too far; point the repository at the final URL",
        }
        .into())
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
                .map_err(|e| io_error(url, &e, base_total()))?;
            if bytes.len() as u64 > cap {
                return Err(too_large(url, what, cap));
            }
            return Ok(Small::Fetched(bytes, Validators::default()));
        }
        let mut resp = self.get(url, base_total(), cond, None)?;
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
            .map_err(|e| io_error(url, &e, base_total()))?;
        if bytes.len() as u64 > cap {
            return Err(too_large(url, what, cap));
        }
        Ok(Small::Fetched(bytes, validators))
    }

    /// Writes exactly `size` bytes of `url` to `out`: a longer body is refused as soon as it
    /// shows (by its Content-Length, or by one byte too many), a shorter one too.
    pub fn exact(&self, url: &str, size: u64, out: &mut dyn Write) -> Result<()> {
        let total = base_total() + Duration::from_secs(size / MIN_RATE);
        if let Some(path) = file_path(url) {
            let f = open_file(path, url)?;
            let actual = f.metadata().map_err(|e| io_error(url, &e, total))?.len();
            if actual != size {
                return Err(Error::SizeMismatch {
                    url: url.into(),
                    expected: size,
                    actual,
                }
                .into());
            }
            return copy_exact(f, url, size, out, total);
        }
        let resp = self.get(url, total, None, None)?;
        check_status(url, resp.status().as_u16())?;
        if let Some(n) = resp.body().content_length().filter(|n| *n != size) {
            return Err(Error::SizeMismatch {
                url: url.into(),
                expected: size,
                actual: n,
            }
            .into());
        }
        copy_exact(resp.into_body().into_reader(), url, size, out, total)
    }
}

/// The answer to a range request.
pub enum Ranged {
    /// Exactly the bytes asked for (a `206` whose `Content-Range` says so).
    Bytes(Vec<u8>),
    /// The server does not serve this range (a `200` with the whole file, `416`, another
    /// status, or a `Content-Range` other than the one asked for): why, in words. Nothing
    /// of the body was read.
    Unserved(String),
}

impl Fetcher {
    /// Gets bytes `start..=end` of `url`, a file of `size` bytes (as the signed index says),
    /// with ONE range per request. Only http(s) URLs (a `file://` repository is read whole).
    pub fn range(&self, url: &str, start: u64, end: u64, size: u64) -> Result<Ranged> {
        let len = end + 1 - start;
        let total = base_total() + Duration::from_secs(len / MIN_RATE);
        if file_path(url).is_some() || end < start || end >= size {
            return Ok(Ranged::Unserved("not an HTTP range".into()));
        }
        let resp = self.get(url, total, None, Some((start, end)))?;
        let status = resp.status().as_u16();
        if status != 206 {
            return Ok(Ranged::Unserved(match status {
                200 => "the server ignores Range (HTTP 200)".into(),
                s => format!("HTTP status {s} to a Range request"),
            }));
        }
        let said = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if content_range(&said) != Some((start, end, size)) {
            return Ok(Ranged::Unserved(format!(
                "Content-Range `{}` for bytes {start}-{end} of {size}",
                crate::package::extract::printable(&said)
            )));
        }
        if let Some(n) = resp.body().content_length().filter(|n| *n != len) {
            return Ok(Ranged::Unserved(format!(
                "Content-Length {n} for a range of {len} bytes"
            )));
        }
        let mut out = Vec::with_capacity(len as usize);
        copy_exact(resp.into_body().into_reader(), url, len, &mut out, total)?;
        Ok(Ranged::Bytes(out))
    }
}

/// `bytes START-END/TOTAL`, as numbers.
fn content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// Where a redirect from `current` to `location` leads, if berth follows it: to http(s)
/// only, and never from https down to http. `url` (the one asked for) names errors.
fn redirect(url: &str, current: &str, location: &str) -> Result<String> {
    let (scheme, rest) = current.split_once("://").unwrap_or(("http", current));
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let next = if location.contains("://") {
        location.to_string()
    } else if let Some(r) = location.strip_prefix("//") {
        format!("{scheme}://{r}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = &current[..current.rfind('/').map_or(current.len(), |i| i + 1)];
        format!("{dir}{location}")
    };
    let next_scheme = next.split_once("://").map_or("", |(s, _)| s);
    let refused = |why: String| {
        Error::Network {
        url: url.into(),
        why,
        hint: "berth follows redirects to http:// and https:// only, never from https to http; point the repository at the final URL",
    }
    };
    if !matches!(next_scheme, "http" | "https") {
        return Err(refused(format!(
            "redirect to {} refused: a scheme change ({scheme} to {next_scheme})",
            credentials::redact(&next)
        ))
        .into());
    }
    if scheme == "https" && next_scheme == "http" {
        return Err(refused(format!(
            "redirect to {} refused: a downgrade from https to http",
            credentials::redact(&next)
        ))
        .into());
    }
    Ok(next)
}

/// Copies `size` bytes, then checks that nothing follows.
fn copy_exact(
    mut r: impl Read,
    url: &str,
    size: u64,
    out: &mut dyn Write,
    limit: Duration,
) -> Result<()> {
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
            Err(e) => return Err(io_error(url, &e, limit)),
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

fn io_error(url: &str, e: &std::io::Error, limit: Duration) -> crate::Error {
    // ureq hands its own errors (a timeout among them) to a body's reader wrapped in I/O ones.
    if let Some(ureq::Error::Timeout(t)) = e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>())
    {
        return timed_out(url, *t, limit);
    }
    let (why, hint) = match e.kind() {
        std::io::ErrorKind::TimedOut => (
            format!(
                "the download timed out (nothing arrived for {})",
                humantime::format_duration(IDLE)
            ),
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

/// A timeout, said in words: the whole download's limit, or the silence tolerated.
fn timed_out(url: &str, t: ureq::Timeout, limit: Duration) -> crate::Error {
    let why = match t {
        ureq::Timeout::Global => format!(
            "the download timed out: not complete after {} (the limit for its size)",
            humantime::format_duration(limit)
        ),
        ureq::Timeout::Connect | ureq::Timeout::Resolve => format!(
            "timed out connecting (after {})",
            humantime::format_duration(IDLE)
        ),
        _ => format!(
            "the download timed out: nothing arrived for {}",
            humantime::format_duration(IDLE)
        ),
    };
    Error::Network {
        url: url.into(),
        why,
        hint: "the server is too slow or unreachable; try again, or another mirror",
    }
    .into()
}

fn net_error(url: &str, e: ureq::Error, limit: Duration) -> crate::Error {
    use ureq::Error as E;
    if let E::Timeout(t) = e {
        return timed_out(url, t, limit);
    }
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
        url: credentials::redact(given),
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
