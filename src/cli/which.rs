//! `berth which` and `berth default`: which file a shim would run, and the root's default
//! profile.

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
pub fn default(ctx: &Ctx, a: DefaultArgs) -> Result<i32> {
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
        return Ok(0);
    };
    crate::package::name::check_name("profile name", &p)?;
    let l = ctx.lock()?;
    l.profiles.set_default(&l.lock, &p)?;
    if ctx.json {
        output::json(&serde_json::json!({ "default": p }));
    } else if !ctx.quiet {
        println!("default profile: {p}");
    }
    Ok(0)
}

/// The profile to use and the rule that chose it, as a shim would (or `--profile`).
pub fn choose(root: &std::path::Path, flag: Option<&str>) -> Result<(String, String)> {
    if let Some(p) = flag {
        crate::package::name::check_name("profile name", p)?;
        return Ok((p.to_string(), "--profile".to_string()));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let env = std::env::var_os(crate::env::BERTH_PROFILE);
    let c = berth_shim::resolve(root, env.as_deref(), &cwd)
        .map_err(|e| Error::NoProfileChosen(e.to_string()))?;
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    Ok((c.profile, c.source.to_string()))
}

/// Runs `which`.
pub fn which(ctx: &Ctx, a: WhichArgs) -> Result<i32> {
    let (profile, why) = choose(ctx.root_path(), a.profile.as_deref())?;
    let (v, current) = super::profile::view_with_profile(ctx, &profile)?;
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
    Ok(0)
}
