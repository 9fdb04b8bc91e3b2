//! berth: installs every version of a package into its own immutable prefix, side by side,
//! and lets each service pick its versions through profiles and shims.

pub mod apply;
pub mod check;
// The command line is the one place that prints reports.
#[allow(clippy::print_stdout)]
pub mod cli;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod gc;
pub mod host_dpkg;
pub mod isolate;
pub mod lock;
pub mod package;
pub mod problem;
pub mod profile;
pub mod progress;
pub mod repo;
pub mod root;
pub mod run;
pub mod scripts;
pub mod store;

pub use error::{Error, Result};
