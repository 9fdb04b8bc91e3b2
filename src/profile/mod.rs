//! Profiles and their generations. Only this module writes under `generations/` and
//! `profiles/`.
//!
//! Layout (DESIGN.md):
//! - `generations/<profile>/<N>/generation.toml`, `pkgs/<name>` -> store entry, merged tree
//! - `profiles/<profile>` -> `../generations/<profile>/<N>` (the switch is a rename)
//! - a generation is built under `generations/<profile>/.build-*` and renamed to `<N>`,
//!   so every numeric directory is complete.

pub mod build;
pub mod diff;
pub mod generation;
pub mod prune;
pub mod refs;
pub mod shims;
pub mod switch;

pub use generation::{GenPackage, Generation, Profiles};
pub use switch::{Change, Switcher, Target};
