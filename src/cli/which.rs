//! `berth which` and `berth default`: which file a shim would run, and the root's default
//! profile.

use super::pick::{choose, view_with_profile};
use super::{output, Ctx};
use crate::error::{Error, Result};
use std::ffi::OsString;

/// `default`.
#[derive(Debug, clap::Args)]
pub struct DefaultArgs {
    /// Profile to make the default (omit to show the current default)
    pub profile: Option<String>,
}

/// `which`.
#[derive(Debug, clap::Args)]
pub struct WhichArgs {
    /// Command name
    pub command: String,
    /// Use this profile instead of resolving one like a shim does
    #[arg(long)]
    pub profile: Option<String>,
}

/// Runs `default`.
pub fn default(ctx: &Ctx, a: DefaultArgs) -> Result<()> {
    let Some(p) = a.profile else {
        let d = ctx.view()?.and_then(|v| v.profiles.default_profile());
        if ctx.json {
            output::json(&serde_json::json!({ "default": d }));
        } else {
            match d {
                Some(d) => println!("{}", crate::package::extract::printable(&d)),
                None => println!("no default profile (set one with `berth default PROFILE`)"),
            }
        }
        return Ok(());
    };
    crate::package::name::check_name("profile name", &p)?;
    let l = ctx.lock()?;
    l.profiles.set_default(&l.lock, &p)?;
    if ctx.json {
        output::json(&serde_json::json!({ "default": p }));
    } else if !ctx.quiet {
        println!("default profile: {p}");
    }
    Ok(())
}

/// Runs `which`.
pub fn which(ctx: &Ctx, a: WhichArgs) -> Result<()> {
    let (profile, why) = choose(ctx.root_path(), a.profile.as_deref())?;
    let (v, current) = view_with_profile(ctx, &profile)?;
    let cmd = OsString::from(&a.command);
    let r = v
        .profiles
        .resolve_command(&profile, current, &cmd)?
        .ok_or_else(|| Error::CommandNotInProfile {
            message: berth_shim::missing_command(v.root.path(), &profile, &why, &cmd),
            profile: profile.clone(),
        })?;
    let (path, real) = (r.path, r.file);
    if ctx.json {
        output::json(&serde_json::json!({
            "command": a.command,
            "profile": profile,
            "chosen_by": why,
            "generation": current,
            "path": path,
            "file": real,
        }));
    } else {
        println!("{}", real.display());
        println!("  via     {}", path.display());
        println!("  profile {profile} (generation {current}), chosen by {why}");
    }
    Ok(())
}
