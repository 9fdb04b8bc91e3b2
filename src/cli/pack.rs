//! `berth pack`.

use super::{output, Ctx};
use crate::error::Result;
use std::path::PathBuf;

/// Make a .berth package from a directory holding berth.toml.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  berth pack ./myapp                 # ./myapp/berth.toml + files -> ./myapp-1.4.2.berth
  berth pack ./myapp -o dist/        # write into dist/
  berth pack ./myapp --level 19      # smaller, slower

Packing the same directory twice gives byte-identical files (sorted members, fixed
mtime, uid/gid 0). Everything in the directory except berth.toml is the payload.")]
pub struct Args {
    /// Directory holding berth.toml and the files
    pub dir: PathBuf,
    /// Output file or directory [default: ./NAME-VERSION.berth]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// zstd compression level (1-22)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Accept a package that holds no files (install then needs --allow-empty too)
    #[arg(long)]
    pub allow_empty: bool,
}

/// Runs `pack`.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let packed = crate::package::pack::pack(&a.dir, a.output.as_deref(), a.level, a.allow_empty)?;
    if ctx.json {
        output::json(&packed);
    } else if !ctx.quiet {
        println!(
            "packed {}@{} -> {} ({} files, {})\nsha256 {}",
            packed.name,
            packed.version,
            packed.path.display(),
            packed.files,
            output::size(packed.bytes),
            packed.sha256
        );
    }
    Ok(())
}
