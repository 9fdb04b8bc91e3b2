//! `berth service install|remove`: a profile as a systemd unit (`berth-<profile>.service`).

use super::{output, Ctx};
use crate::apply::deploy_error::Error as DeployError;
use crate::apply::service;
use crate::apply::spec::ProfileSpec;
use crate::error::Result;
use std::path::PathBuf;

/// `service`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the systemd unit berth-PROFILE.service from the profile file's [service]
    #[command(after_help = "Examples:
  berth service install site-a                  # /etc/systemd/system/berth-site-a.service
  systemctl daemon-reload && systemctl enable --now berth-site-a.service
  berth service install site-a --unit-dir /tmp/units --json

The unit runs `berth --root ROOT run [--isolate] [--user U] [--cap C] PROFILE -- EXEC` (this
berth binary, by absolute path) with the current generation's profile file [service]
(exec, isolate, user, capabilities), Restart=on-failure, and hardening that matches what
berth does itself (comments in the unit say which and why). Written atomically; unchanged
when it is already so. Once installed in /etc/systemd/system while systemd runs, every
switch of the profile restarts it with systemctl (instead of the [service] restart command)
before the health check. Run `systemctl daemon-reload` after installing.")]
    Install(InstallArgs),
    /// Delete the unit berth-PROFILE.service
    #[command(after_help = "Examples:
  systemctl disable --now berth-site-a.service && berth service remove site-a
  berth service remove site-a --unit-dir /tmp/units")]
    Remove(RemoveArgs),
}

/// `service install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Profile name
    pub profile: String,
    /// Directory the unit is written to
    #[arg(long, value_name = "DIR", default_value = service::SYSTEM_UNIT_DIR)]
    pub unit_dir: PathBuf,
}

/// `service remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Profile name
    pub profile: String,
    /// Directory the unit is in
    #[arg(long, value_name = "DIR", default_value = service::SYSTEM_UNIT_DIR)]
    pub unit_dir: PathBuf,
}

/// Runs a `service` command.
pub fn run(ctx: &Ctx, c: Command) -> Result<()> {
    match c {
        Command::Install(a) => install(ctx, a),
        Command::Remove(a) => remove(ctx, a),
    }
}

fn install(ctx: &Ctx, a: InstallArgs) -> Result<()> {
    let (view, n) = super::pick::view_with_profile(ctx, &a.profile)?;
    let gen = view.profiles.read(&a.profile, n)?;
    let Some(spec) = ProfileSpec::recorded(&view.profiles, &a.profile, &gen)? else {
        return Err(DeployError::NoService {
            profile: a.profile,
            generation: n,
            has_spec: false,
        }
        .into());
    };
    let done = service::install(&a.profile, &view.root, &spec, n, &a.unit_dir)?;
    if ctx.json {
        output::json(&done);
    } else if !ctx.quiet {
        println!(
            "{}: {} {} ({})",
            done.profile,
            if done.changed { "wrote" } else { "unchanged" },
            done.path.display(),
            if done.isolate { "isolated" } else { "plain" }
        );
    }
    Ok(())
}

fn remove(ctx: &Ctx, a: RemoveArgs) -> Result<()> {
    let path = service::remove(&a.profile, &a.unit_dir)?;
    if ctx.json {
        output::json(&serde_json::json!({ "profile": a.profile, "removed": path }));
    } else if !ctx.quiet {
        println!("{}: removed {}", a.profile, path.display());
    }
    Ok(())
}
