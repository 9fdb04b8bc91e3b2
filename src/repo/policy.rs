//! The signature policy for local files: `install FILE --signature SIG` must verify with a
//! trusted key, and with `require_signatures = true` in config.toml an unsigned file is
//! refused unless the user says `--insecure`.

use super::keys;
use super::trust::{self, Config};
use super::{Error, Paths};
use crate::error::Result;
use std::path::Path;

/// What the policy decided for one local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by the key with this id; the file's sha256 as verified.
    Signed {
        /// Key id.
        key_id: String,
        /// sha256 of the bytes the signature covers.
        sha256: String,
    },
    /// Unsigned, and no signature is required.
    Unsigned,
    /// Unsigned although signatures are required: allowed by `--insecure`.
    Insecure,
}

/// Applies the policy to `file` with an optional detached `signature`.
pub fn check_local(
    paths: &Paths,
    file: &Path,
    signature: Option<&Path>,
    insecure: bool,
) -> Result<Verdict> {
    if let Some(sig_path) = signature {
        // A signature file is a few hundred bytes; a FIFO or device is refused unread.
        let sig = crate::fsutil::read_input_text(sig_path, 64 << 10)?;
        let trusted = trust::all_keys(paths)?;
        if trusted.is_empty() {
            return Err(Error::Unsigned {
                path: file.to_path_buf(),
                why: "no key is trusted to check the signature with (no repository pins one, and keys/ has no .pub file)".into(),
            }
            .into());
        }
        let (key, sha256) = keys::verify_file(file, &sig, &trusted)?;
        return Ok(Verdict::Signed {
            key_id: key.id.clone(),
            sha256,
        });
    }
    if !Config::load(paths)?.require_signatures {
        return Ok(Verdict::Unsigned);
    }
    if insecure {
        return Ok(Verdict::Insecure);
    }
    Err(Error::Unsigned {
        path: file.to_path_buf(),
        why: format!(
            "unsigned, and {} sets require_signatures = true",
            paths.config_toml().display()
        ),
    }
    .into())
}
