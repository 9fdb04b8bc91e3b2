//! `berth key generate|sign`: signing keys and detached signatures in minisign's formats.

use crate::cli::{output, Ctx};
use crate::error::Result;
use crate::repo::keys;
use std::path::PathBuf;

/// Signing keys.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a key pair: BASE.key (secret, mode 0600) and BASE.pub (public)
    #[command(after_help = "Examples:
  berth key generate ./release                   # release.key + release.pub
  BERTH_KEY_PASSWORD=… berth key generate ./release   # secret key encrypted

Both files are in minisign's formats: `minisign -S -s release.key` signs with the secret key,
`minisign -V -p release.pub` verifies what berth signed. The secret key is written with mode
0600. Without $BERTH_KEY_PASSWORD it is NOT encrypted (like `minisign -G -W`): keep it on
the publishing machine only. With it, the key is encrypted (scrypt) and every command that
signs reads the password from $BERTH_KEY_PASSWORD. Existing files are never overwritten.")]
    Generate(GenerateArgs),
    /// Sign a file: writes FILE.minisig (for `berth install FILE --signature FILE.minisig`)
    #[command(after_help = "Example:
  berth key sign myapp-1.5.0.berth --key ./release.key   # -> myapp-1.5.0.berth.minisig")]
    Sign(SignArgs),
}

/// `key generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Path without extension: BASE.key and BASE.pub are written
    pub base: PathBuf,
}

/// `key sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The file to sign
    pub file: PathBuf,
    /// Secret key file
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Signature file [default: FILE.minisig]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// The password for encrypted keys, from the environment.
pub fn password() -> Option<String> {
    std::env::var(crate::env::BERTH_KEY_PASSWORD)
        .ok()
        .filter(|p| !p.is_empty())
}

/// Runs a key command.
pub fn run(ctx: &Ctx, c: Command) -> Result<()> {
    match c {
        Command::Generate(a) => {
            let g = keys::generate(&a.base, password())?;
            if ctx.json {
                output::json(&g);
            } else if !ctx.quiet {
                println!(
                    "secret key {} (mode 0600, {})\npublic key {}\nkey id     {}\n\nPin it on clients with:\n  berth repo add NAME URL --key {}",
                    g.secret_key.display(),
                    if g.encrypted { "encrypted with $BERTH_KEY_PASSWORD" } else { "NOT encrypted: keep it safe" },
                    g.public_key.display(),
                    g.id,
                    g.public_base64
                );
            }
        }
        Command::Sign(a) => {
            let key = keys::load_secret(&a.key, password())?;
            let out = a.output.unwrap_or_else(|| {
                let mut s = a.file.as_os_str().to_owned();
                s.push(".minisig");
                PathBuf::from(s)
            });
            // A regular file only: a FIFO or device is refused, never waited on.
            let f = crate::fsutil::open_input(&a.file)?;
            let name = a
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sig = keys::sign(&key, std::io::BufReader::new(f), &name)?;
            crate::fsutil::write_user_file(&out, sig.as_bytes(), 0o644)?;
            if ctx.json {
                output::json(
                    &serde_json::json!({"file": a.file, "signature": out, "key_id": key.id}),
                );
            } else if !ctx.quiet {
                println!(
                    "signed {} -> {} (key {})",
                    a.file.display(),
                    out.display(),
                    key.id
                );
            }
        }
    }
    Ok(())
}
