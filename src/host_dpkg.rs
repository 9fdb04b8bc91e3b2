//! The host's dpkg database, read (never written) so that a .deb's Depends can count what
//! the host already has: `/var/lib/dpkg/status`, or `$BERTH_DPKG_STATUS`. It lies outside
//! the root, so it lives in its own small module; a host without dpkg simply has nothing.

use crate::error::{Error, Result};
use crate::package::deb::control::parse_paragraphs;
use crate::package::relations::{parse_provides, Available};
use std::path::PathBuf;

/// Where dpkg keeps its status.
pub const DEFAULT_STATUS: &str = "/var/lib/dpkg/status";

/// The status file consulted.
pub fn status_path() -> PathBuf {
    std::env::var_os(crate::env::BERTH_DPKG_STATUS)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATUS))
}

/// The packages dpkg says are installed (empty when there is no status file).
pub fn installed() -> Result<Vec<Available>> {
    let path = status_path();
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let text = String::from_utf8_lossy(&text);
    let paragraphs = match parse_paragraphs(&text) {
        Ok(p) => p,
        Err(e) => {
            // The host's database is not ours to judge; say so and count nothing from it.
            tracing::warn!(
                "{}: cannot parse ({e}); its packages are not counted",
                path.display()
            );
            return Ok(vec![]);
        }
    };
    Ok(paragraphs
        .iter()
        .filter(|p| {
            // "install ok installed"; triggers pending or awaited still count as installed.
            p.get("Status")
                .and_then(|s| s.split_whitespace().nth(2))
                .is_some_and(|s| matches!(s, "installed" | "triggers-pending" | "triggers-awaited"))
        })
        .filter_map(|p| {
            Some(Available {
                name: p.get("Package")?.to_string(),
                version: p.get("Version")?.to_string(),
                arch: p.get("Architecture").map(str::to_string),
                provides: p
                    .get("Provides")
                    .and_then(|v| parse_provides(v).ok())
                    .unwrap_or_default(),
                place: "host",
            })
        })
        .collect())
}
