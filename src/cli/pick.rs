//! Which profile a command acts on, shared by the profile commands (`run`, `env`, `which`,
//! `generations`, `diff` …): a leaf of the cli, so the command modules that use it and the
//! dispatch in `profile.rs` do not import each other.

use super::{Ctx, View};
use crate::error::{Error, Result};

/// The profiles of the root, or "no such profile" when there is no root yet.
pub fn view_with_profile(ctx: &Ctx, profile: &str) -> Result<(View, u64)> {
    crate::package::name::check_name("profile name", profile)?;
    let Some(v) = ctx.view()? else {
        return Err(Error::UnknownProfile {
            profile: profile.to_string(),
            existing: vec![],
        });
    };
    let n = v.profiles.existing(profile)?;
    Ok((v, n))
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
