//! Every environment variable berth reads or sets, named in one place.

// The names the shim needs live in the shim crate, so that both binaries agree.
pub use berth_shim::env::{BERTH_PROFILE, BERTH_ROOT, BERTH_SHIM_DEPTH};
/// Disables colour when set to anything (https://no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";
/// Filter for log output (tracing's env filter).
pub const RUST_LOG: &str = "RUST_LOG";
/// Used for the default root of non-root users.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// Used for the default root of non-root users when XDG_DATA_HOME is unset.
pub const HOME: &str = "HOME";
/// The command search path; `berth run` puts the profile's bin/ first.
pub const PATH: &str = "PATH";
/// The dpkg status file checked for native packages' dependencies (default
/// `/var/lib/dpkg/status`; tests point it elsewhere).
pub const BERTH_DPKG_STATUS: &str = "BERTH_DPKG_STATUS";
/// dpkg's admin directory whose `info/*.list` tell `run --isolate` which host directories
/// other packages own (default `/var/lib/dpkg`). For tests, which point it at a fake
/// database; a directory without `info/` stands for a host without dpkg.
pub const BERTH_DPKG_ADMIN: &str = "BERTH_DPKG_ADMIN";
/// `legacy` makes `run --isolate` mount overlays with mount(2) and one option string
/// (short `/proc/self/fd/N` layer paths) instead of one `fsconfig` call per layer.
pub const BERTH_OVERLAY_API: &str = "BERTH_OVERLAY_API";
/// Password of an encrypted signing key (`berth key generate`, `repo publish`, `key sign`).
pub const BERTH_KEY_PASSWORD: &str = "BERTH_KEY_PASSWORD";
/// Set for hooks, restart commands and health checks run around a switch: the generation
/// the profile was at before (empty for a new profile).
pub const BERTH_FROM_GENERATION: &str = "BERTH_FROM_GENERATION";
/// Set for hooks, restart commands and health checks: the generation switched to.
pub const BERTH_TO_GENERATION: &str = "BERTH_TO_GENERATION";

/// Seconds a whole repository request may take before the size-based allowance (default
/// 120; a package gets one more second per 64 KiB). For slow links, and for tests.
pub const BERTH_DOWNLOAD_TIMEOUT: &str = "BERTH_DOWNLOAD_TIMEOUT";

/// Seconds a maintainer script may run in its confined run before it and everything it
/// started are killed (default 60).
pub const BERTH_SCRIPT_TIMEOUT: &str = "BERTH_SCRIPT_TIMEOUT";
