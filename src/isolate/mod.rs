//! `berth run --isolate`: a private mount namespace where a profile's packages appear at
//! the paths they were built for (read-only overlays over the host's directories), with
//! the profile's config and data bound in, the store read-only, privileges dropped, then
//! `exec`. The host's mounts and files never change; nothing outlives the process.
//!
//! Order of work: [`plan`] (pure: what to mount), [`hold`] (under the root's lock: gc
//! must not take the entries), then [`launch`]: [`namespace`], [`mounts`],
//! [`privileges`], `exec`.

pub mod error;
pub mod hold;
pub mod launch;
pub mod mounts;
pub mod namespace;
pub mod plan;
pub mod privileges;
pub mod service;
mod syscalls;

pub use error::Error;

/// Holds of running isolated processes (`hold`), at the top of the root: this module's
/// only name there.
pub const RUN: &str = "run";

/// The names this module owns at the top of a root (for `check`).
pub const ROOT_NAMES: &[&str] = &[RUN];
