//! Keys and signatures in minisign's formats, so the `minisign` tool interoperates both ways.
//! Keys are made and data signed with the `minisign` crate; signatures are checked only with
//! `minisign-verify` and `allow_legacy = false` (the `minisign` crate's own verify accepts a
//! signature that lacks its trusted comment, and legacy signatures sign the raw data).

use super::Error;
use crate::error::{IoContext, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A trusted (pinned) public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// The key in minisign's base64 form (the second line of a `.pub` file).
    pub base64: String,
    /// The key id as minisign prints it (16 upper-case hex digits).
    pub id: String,
    key: minisign_verify::PublicKey,
}

/// The largest key file berth reads (a minisign key file is under 400 bytes).
const KEY_FILE_CAP: u64 = 64 << 10;

impl PublicKey {
    /// Reads a key given as its base64 line, the text of a `.pub` file, or a `.pub` file's path.
    pub fn parse(given: &str) -> Result<PublicKey> {
        let text = match given.trim() {
            t if !t.contains('\n') && !t.starts_with("RW") && Path::new(t).exists() => {
                crate::fsutil::read_input_text(Path::new(t), KEY_FILE_CAP)?
            }
            t => t.to_string(),
        };
        let bad = |why: &str| Error::BadPublicKey {
            key: crate::package::printable::printable(
                &given.trim().chars().take(80).collect::<String>(),
            ),
            why: why.to_string(),
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .collect();
        // minisign reads the first key line, other tools the last: one key per file, or
        // berth would pin a key other than the one the operator checked.
        if lines.len() > 1 {
            return Err(bad(&format!(
                "it holds {} key lines; a key file holds one (split it, or pass each key with its own --key)",
                lines.len()
            ))
            .into());
        }
        let line = lines.first().copied().unwrap_or("");
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| bad(&format!("not a minisign public key ({e})")))?;
        let id = minisign::PublicKey::from_base64(line)
            .map_err(|e| bad(&format!("not a minisign public key ({e})")))?;
        Ok(PublicKey {
            base64: line.to_string(),
            id: key_id(id.keynum()),
            key,
        })
    }
}

/// A key id the way minisign prints it: the 8 key-number bytes as a little-endian u64.
fn key_id(keynum: &[u8]) -> String {
    let mut b = [0u8; 8];
    b.copy_from_slice(&keynum[..8.min(keynum.len())]);
    format!("{:016X}", u64::from_le_bytes(b))
}

/// A secret key loaded for signing, with its public half.
pub struct SecretKey {
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
    /// The key id.
    pub id: String,
}

impl SecretKey {
    /// The public half in minisign's base64 form.
    pub fn public_base64(&self) -> String {
        self.pk.to_base64()
    }

    /// The public half, for verifying what this key signed before.
    pub fn public(&self) -> Result<PublicKey> {
        PublicKey::parse(&self.public_base64())
    }
}

/// What `key generate` wrote.
#[derive(Debug, serde::Serialize)]
pub struct Generated {
    /// The secret key file (mode 0600).
    pub secret_key: PathBuf,
    /// The public key file.
    pub public_key: PathBuf,
    /// The public key's base64 line (what `repo add --key` takes).
    pub public_base64: String,
    /// The key id.
    pub id: String,
    /// Whether the secret key is encrypted with `$BERTH_KEY_PASSWORD`.
    pub encrypted: bool,
}

/// Makes a key pair: `<base>.key` (secret, mode 0600) and `<base>.pub`. The secret key is
/// encrypted with `password` when one is given, else stored unencrypted (like `minisign -W`).
pub fn generate(base: &Path, password: Option<String>) -> Result<Generated> {
    let with_ext = |ext: &str| {
        let mut s = base.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (sk_path, pk_path) = (with_ext(".key"), with_ext(".pub"));
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            return Err(Error::KeyExists { path: p.clone() }.into());
        }
    }
    let failed = |e: minisign::PError| Error::BadSecretKey {
        path: sk_path.clone(),
        why: e.to_string(),
        hint: "report this as a bug",
    };
    let encrypted = password.is_some();
    let pair = match password {
        Some(pw) => minisign::KeyPair::generate_encrypted_keypair(Some(pw)),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(failed)?;
    let comment = if encrypted {
        "berth secret key (encrypted with BERTH_KEY_PASSWORD)"
    } else {
        "berth secret key (unencrypted)"
    };
    let sk_text = pair.sk.to_box(Some(comment)).map_err(failed)?.into_string();
    let pk_text = pair.pk.to_box().map_err(failed)?.into_string();
    crate::fsutil::write_user_file(&sk_path, sk_text.as_bytes(), 0o600)?;
    crate::fsutil::write_user_file(&pk_path, pk_text.as_bytes(), 0o644)?;
    Ok(Generated {
        secret_key: sk_path,
        public_key: pk_path,
        public_base64: pair.pk.to_base64(),
        id: key_id(pair.pk.keynum()),
        encrypted,
    })
}

/// Loads a secret key file made by berth or `minisign -G`; an encrypted one needs `password`.
pub fn load_secret(path: &Path, password: Option<String>) -> Result<SecretKey> {
    let text = crate::fsutil::read_input_text(path, KEY_FILE_CAP)?;
    let bad = |why: String, hint: &'static str| Error::BadSecretKey {
        path: path.to_path_buf(),
        why,
        hint,
    };
    let boxed = minisign::SecretKeyBox::from_string(&text)
        .map_err(|e| bad(e.to_string(), "pass a secret key file (berth key generate)"))?;
    let sk = match minisign::SecretKey::from_unencrypted_box(boxed.clone()) {
        Ok(sk) => sk,
        Err(_) if let Some(sk) = unencrypted_without_checksum(&text) => sk,
        Err(plain) => match password {
            Some(pw) => minisign::SecretKey::from_box(boxed, Some(pw)).map_err(|e| {
                bad(
                    e.to_string(),
                    "check $BERTH_KEY_PASSWORD (it decrypts the secret key)",
                )
            })?,
            None => {
                return Err(bad(
                    format!("{plain} (it is encrypted, or damaged)"),
                    "set BERTH_KEY_PASSWORD to the key's password",
                )
                .into())
            }
        },
    };
    let pk = minisign::PublicKey::from_secret_key(&sk)
        .map_err(|e| bad(e.to_string(), "pass a secret key file (berth key generate)"))?;
    Ok(SecretKey {
        id: key_id(pk.keynum()),
        sk,
        pk,
    })
}

/// An unencrypted key as `minisign -G -W` (0.11) writes it: with an all-zero checksum, which
/// the `minisign` crate's loader calls corrupted. Signing still proves the key right: the
/// crate checks the new signature against the public half.
fn unencrypted_without_checksum(text: &str) -> Option<minisign::SecretKey> {
    use ct_codecs::Decoder;
    let line = text.lines().nth(1)?.trim();
    let bytes = ct_codecs::Base64::decode_to_vec(line, None).ok()?;
    // sig_alg(2) kdf_alg(2) chk_alg(2) salt(32) ops(8) mem(8) keynum(8) sk(64) chk(32)
    let unencrypted = bytes.len() == 158 && bytes[2..4] == [0, 0];
    let zero_checksum = bytes[126..].iter().all(|b| *b == 0);
    (unencrypted && zero_checksum)
        .then(|| minisign::SecretKey::from_bytes(&bytes).ok())
        .flatten()
}

/// Signs `data` (prehashed, with a trusted comment naming `file_name`); returns the
/// signature file's text.
pub fn sign(key: &SecretKey, data: impl Read, file_name: &str) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // One line: a newline would end the trusted comment early.
    let file_name: String = file_name.chars().filter(|c| !c.is_control()).collect();
    let trusted = format!("timestamp:{now}\tfile:{file_name}\thashed");
    let sig = minisign::sign(
        Some(&key.pk),
        &key.sk,
        data,
        Some(&trusted),
        Some("signature from berth secret key"),
    )
    .map_err(|e| Error::SignFailed {
        file: file_name.clone(),
        why: e.to_string(),
    })?;
    Ok(sig.into_string())
}

/// Checks that `sig_text` is a current (prehashed) minisign signature of `data` by one of
/// `keys`; returns that key. `url` and `repo` name the source in errors.
pub fn verify<'k>(
    data: &[u8],
    sig_text: &str,
    keys: &'k [PublicKey],
    url: &str,
    repo: &str,
) -> Result<&'k PublicKey> {
    let (sig, key) = signer(sig_text, keys, url, repo)?;
    key.key
        .verify(data, &sig, false)
        .map_err(|e| verify_error(e, url))?;
    Ok(key)
}

/// As [`verify`], streaming a file instead of holding it in memory; also returns the
/// file's sha256 from the same pass, so the caller can hold later reads to what was verified.
pub fn verify_file<'k>(
    path: &Path,
    sig_text: &str,
    keys: &'k [PublicKey],
) -> Result<(&'k PublicKey, String)> {
    verify_local(path, sig_text, keys).map_err(|e| local_error(e, path))
}

/// A signature error about a repository's index, said of a local file instead.
fn local_error(e: crate::Error, path: &Path) -> crate::Error {
    let path = path.to_path_buf();
    match e.downcast_ref::<Error>() {
        Some(Error::BadSignature { why, .. }) => Error::BadFileSignature {
            path,
            why: why.clone(),
        }
        .into(),
        Some(Error::LegacySignature { .. }) => Error::BadFileSignature {
            path,
            why: "legacy (non-prehashed) minisign signature refused".into(),
        }
        .into(),
        Some(Error::UnpinnedKey { key_id, pinned, .. }) => Error::UntrustedFileKey {
            path,
            key_id: key_id.clone(),
            trusted: pinned.clone(),
        }
        .into(),
        _ => e,
    }
}

fn verify_local<'k>(
    path: &Path,
    sig_text: &str,
    keys: &'k [PublicKey],
) -> Result<(&'k PublicKey, String)> {
    use sha2::Digest;
    let url = path.display().to_string();
    let (sig, key) = signer(sig_text, keys, &url, "")?;
    let mut v = key
        .key
        .verify_stream(&sig)
        .map_err(|e| verify_error(e, &url))?;
    // The user's own artifact (`install FILE --signature`), not under the root.
    let mut f = crate::fsutil::open_input(path)?;
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = f.read(&mut buf).ctx("read", path)?;
        if n == 0 {
            break;
        }
        v.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    v.finalize().map_err(|e| verify_error(e, &url))?;
    Ok((key, hex::encode(sha.finalize())))
}

/// Parses a signature strictly and finds the pinned key that made it.
fn signer<'k>(
    sig_text: &str,
    keys: &'k [PublicKey],
    url: &str,
    repo: &str,
) -> Result<(minisign_verify::Signature, &'k PublicKey)> {
    let bad = |why: &str| Error::BadSignature {
        url: url.to_string(),
        why: why.to_string(),
    };
    let lines: Vec<&str> = sig_text.lines().collect();
    if lines.len() != 4 || !lines[0].starts_with("untrusted comment: ") {
        return Err(bad(
            "not a minisign signature (expected 4 lines, the first an untrusted comment)",
        )
        .into());
    }
    let sig = minisign_verify::Signature::decode(sig_text)
        .map_err(|e| bad(&format!("not a minisign signature ({e})")))?;
    let boxed = minisign::SignatureBox::from_string(sig_text)
        .map_err(|e| bad(&format!("not a minisign signature ({e})")))?;
    let id = key_id(boxed.keynum());
    match keys.iter().find(|k| k.id == id) {
        Some(k) => Ok((sig, k)),
        None => Err(Error::UnpinnedKey {
            url: url.to_string(),
            repo: repo.to_string(),
            key_id: id,
            pinned: keys.iter().map(|k| k.id.clone()).collect(),
        }
        .into()),
    }
}

fn verify_error(e: minisign_verify::Error, url: &str) -> crate::Error {
    use minisign_verify::Error as E;
    match e {
        E::UnexpectedAlgorithm | E::UnsupportedLegacyMode => Error::LegacySignature {
            url: url.to_string(),
        },
        E::InvalidSignature => Error::BadSignature {
            url: url.to_string(),
            why: "the signature does not match the data or its trusted comment".into(),
        },
        e => Error::BadSignature {
            url: url.to_string(),
            why: e.to_string(),
        },
    }
    .into()
}
