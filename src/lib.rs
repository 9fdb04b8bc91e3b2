//! berth: installs every version of a package into its own immutable prefix, side by side,
//! and lets each service pick its versions through profiles and shims.

pub mod check;
pub mod cli;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod gc;
pub mod package;
pub mod profile;
pub mod progress;
pub mod repo;
pub mod root;
pub mod store;

pub use error::{Error, Result};
