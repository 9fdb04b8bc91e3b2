//! Every environment variable berth reads or sets, named in one place.

/// The root directory (overridden by `--root`).
pub const BERTH_ROOT: &str = "BERTH_ROOT";
/// The profile a shim or `berth run` uses; set for children so they agree.
pub const BERTH_PROFILE: &str = "BERTH_PROFILE";
/// Disables colour when set to anything (https://no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";
/// Filter for log output (tracing's env filter).
pub const RUST_LOG: &str = "RUST_LOG";
/// Used for the default root of non-root users.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// Used for the default root of non-root users when XDG_DATA_HOME is unset.
pub const HOME: &str = "HOME";
