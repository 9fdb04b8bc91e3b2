//! Profiles and their generations. Only this module writes under `generations/`,
//! `profiles/`, `shims/` and `libexec/`, and it owns their checks and leftover cleaning.
//!
//! Layout (DESIGN.md):
//! - `generations/<profile>/<N>/generation.toml`, `pkgs/<name>` -> store entry, merged tree
//! - `profiles/<profile>` -> `../generations/<profile>/<N>` (the switch is a rename)
//! - a generation is built under a temporary name in `generations/<profile>/` and renamed
//!   to `<N>`, so every numeric directory is complete.

pub mod activate;
pub mod build;
pub mod check;
pub mod default;
pub mod depends;
pub mod diff;
pub mod generation;
pub mod leftovers;
pub mod prune;
pub mod refs;
pub mod run;
pub mod shims;
pub mod switch;

pub use generation::{GenPackage, Generation, Profiles};
pub use switch::{Change, Switcher, Target};
