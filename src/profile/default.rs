//! The root's default profile (`<root>/default-profile`): the profile shims use when
//! neither `$BERTH_PROFILE` nor a `.berth-profile` file says.

use super::generation::Profiles;
use crate::error::Result;
use crate::lock::LockedFile;
use crate::root::{DEFAULT_PROFILE, FILE_MODE};

impl Profiles {
    /// The default profile, if one is set (read the way the shim reads it).
    pub fn default_profile(&self) -> Option<String> {
        berth_shim::default_profile(self.root().path())
    }

    /// Makes an existing profile the default.
    pub fn set_default(&self, _lock: &LockedFile, profile: &str) -> Result<()> {
        self.existing(profile)?;
        self.root().dir().write_atomic(
            DEFAULT_PROFILE,
            format!("{profile}\n").as_bytes(),
            FILE_MODE,
        )
    }
}
