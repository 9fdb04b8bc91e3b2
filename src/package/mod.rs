//! Packages, whatever their format: the manifest, names and versions, the canonical file
//! list an entry's id hashes, format detection and the readers that stream checked members
//! into a [`sink::Sink`], the safe-extraction rules, and `pack`. Knows nothing of the store.

pub mod berth;
pub mod compression;
pub mod deb;
pub mod decode;
pub mod extract;
pub mod growth;
pub mod lister;
pub mod listing;
pub mod manifest;
pub mod name;
pub mod native;
pub mod pack;
pub mod printable;
pub mod pump;
pub mod read;
pub mod relations;
pub mod rpm;
pub mod seekable;
pub mod sink;
pub mod source;
pub mod stream;
pub mod tarball;
pub mod tmpfiles;
pub mod unit;
pub mod version;

pub use read::{read, ReadOptions, ReadOutcome};
pub use sink::{Begin, Sink, SinkError};
