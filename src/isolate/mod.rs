//! `berth run --isolate`: an instance where a profile's packages appear at the paths they
//! were built for (read-only overlays over the host's directories), with the profile's
//! config and data bound in, in its own user (as root: the profile's private id range),
//! mount, PID and IPC namespaces; everything else of the host read-only, the berth root
//! hidden but for the store; privileges dropped, then `exec`. The host's mounts and files
//! never change; nothing outlives the instance, and the instance holds its entries.
//!
//! Order of work: [`plan`] (pure: what to mount), [`users`] and [`hold`] (under the root's
//! lock: the id range, and gc must not take the entries), then [`instance`]:
//! [`namespace`], [`mounts`], [`privileges`], [`launch`]'s `exec`.

pub mod accounts;
mod attach;
mod entries;
pub mod error;
mod fhs;
pub mod hold;
pub mod instance;
mod kernel_fs;
pub mod launch;
mod layers;
pub mod mounts;
pub mod namespace;
mod overlay;
pub mod owned;
pub mod plan;
pub mod privileges;
pub mod service;
pub mod shipped;
mod syscalls;
pub mod upper;
pub mod users;

pub use error::Error;

/// Holds of running isolated processes and each profile's private /run and /tmp (`hold`),
/// at the top of the root.
pub const RUN: &str = "run";

/// Each profile's private range of user ids for isolated runs (`users`), at the top of the
/// root: recorded once, kept for the life of the root (a range that changed would strand
/// the profile's state).
pub const USERS: &str = "users";

/// The names this module owns at the top of a root (for `check`).
pub const ROOT_NAMES: &[&str] = &[RUN, USERS];

/// Creates `run/` and `users/` when missing: a systemd unit that makes the host read-only
/// but for them (`ReadWritePaths=`) needs them to exist before berth starts inside it.
pub fn ensure_dirs(root: &crate::root::Root) -> crate::error::Result<()> {
    root.dir().ensure_dir(RUN, crate::root::DIR_MODE)?;
    root.dir().ensure_dir(USERS, crate::root::DIR_MODE)?;
    Ok(())
}
