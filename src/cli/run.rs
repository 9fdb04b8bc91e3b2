//! `berth run`: a command in a profile's environment.

use super::Ctx;
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Profile [default: chosen like a shim: $BERTH_PROFILE, .berth-profile, default profile]
    pub profile: Option<String>,
    /// Run in a private mount namespace with the profile's packages overlaid (not yet)
    #[arg(long)]
    pub isolate: bool,
    /// Run as this user (not yet)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Runs `run`.
pub fn run(ctx: &Ctx, a: Args) -> Result<i32> {
    if a.isolate || a.user.is_some() {
        let what = if a.isolate {
            "berth run --isolate"
        } else {
            "berth run --user"
        };
        return Err(Error::NotImplemented {
            what: what.into(),
            hint: "run without it for now; isolation (mount namespace, privilege dropping) comes in a later release".into(),
        });
    }
    let (profile, _why) = super::which::choose(ctx.root_path(), a.profile.as_deref())?;
    let (v, _) = super::profile::view_with_profile(ctx, &profile)?;
    let (prog, args) = a.command.split_first().ok_or_else(|| Error::BadFlag {
        flag: "CMD",
        why: "berth run needs a command after `--`".into(),
    })?;
    let mut cmd = v.profiles.command(&profile, prog)?;
    cmd.args(args);
    let err = cmd.exec();
    Err(Error::Exec {
        program: prog.to_string_lossy().into_owned(),
        profile,
        source: err,
    })
}
