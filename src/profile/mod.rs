//! Profiles and their generations. Only this module writes under `generations/` and
//! `profiles/`.
//!
//! Layout (DESIGN.md):
//! - `generations/<profile>/<N>/generation.toml`, `pkgs/<name>` -> store entry, merged tree
//! - `profiles/<profile>` -> `../generations/<profile>/<N>` (the switch is a rename)
//! - a generation is built under `generations/<profile>/.build-*` and renamed to `<N>`,
//!   so every numeric directory is complete.

pub mod generation;
pub mod prune;

pub use generation::{GenPackage, Generation, Profiles};
