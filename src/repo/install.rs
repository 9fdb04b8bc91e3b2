//! Installing a package named in the repositories' indexes: the one path that
//! `berth install NAME[@VERSION]` and `berth apply` share. The package is resolved in the
//! last good indexes, downloaded into the cache and read into the store as it arrives; the
//! store commits it only when its sha256 is the one the signed index gives.

use super::cache::{self, ForInstall};
use super::Paths;
use crate::error::Result;
use crate::lock::LockedFile;
use crate::package::source::Source;
use crate::progress::Progress;
use crate::store::install::{Outcome, Request};
use crate::store::Store;

/// Installs `reference` (`name` or `name@version`); `req` gives the limits and `repair`,
/// and its path, name, version, strip and sha256 are set from the index.
pub fn by_name(
    store: &Store,
    lock: &LockedFile,
    reference: &str,
    mut req: Request,
    progress: &Progress,
) -> Result<(ForInstall, Outcome)> {
    let paths = Paths::new(store.root());
    cache::for_install(&paths, reference, |got, growing| {
        let p = &got.package;
        req.path = got.fetched.path.clone();
        req.read.name = Some(p.name.clone());
        req.read.version = Some(p.version.clone());
        req.read.strip_components = p.strip_components;
        req.read.sha256 = Some(p.sha256.clone());
        match growing {
            cache::Artifact::Cached(file) => {
                let source = Source::from_file(file, &req.path)?;
                store.install_source(lock, &req, source, progress)
            }
            cache::Artifact::Growing(g) => {
                let source = Source::open_growing(g.file, &req.path, p.size, g.growth)?;
                store.install_source(lock, &req, source, progress)
            }
        }
    })
}
