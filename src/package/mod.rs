//! Packages: the manifest, the formats berth reads and writes, and safe extraction.

pub mod berth_format;
pub mod extract;
pub mod manifest;
pub mod source;
pub mod tarball;
pub mod version;
