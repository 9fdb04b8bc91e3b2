//! `berth install --apt NAME[=VERSION]…`: Debian packages through the host's apt. apt's
//! own signed lists say what exists and hold every download to its hash (nothing new to
//! trust); berth works out which dependencies the host's dpkg does not meet
//! (`resolve`), downloads them all before installing any (`download`), then installs each
//! through the store's normal path, held to the SHA256 apt's record gives. `apt-get
//! download` needs no privilege, so this works as any user.

mod download;
pub mod error;
pub mod query;
pub mod resolve;

pub use download::{file_name, APT_DIR};
pub use error::Error;
pub use resolve::{parse_spec, Planned, Spec, Why};

use crate::error::Result;
use crate::lock::LockedFile;
use crate::package::ReadOptions;
use crate::progress::Progress;
use crate::store::install::{Outcome, Request};
use crate::store::Store;

/// The set to download for `args` (`NAME` or `NAME=VERSION`), given the host's dpkg
/// status. Every argument is checked before apt runs.
pub fn plan(args: &[&str]) -> Result<Vec<Planned>> {
    let specs = args
        .iter()
        .map(|a| parse_spec(a))
        .collect::<Result<Vec<_>, _>>()?;
    let host = crate::host_dpkg::installed()?;
    resolve::plan(&mut query::AptCache::default(), &specs, &host)
}

/// Downloads the whole set, then installs each member (in the set's order); `each` hears
/// of every outcome as it happens. A failed download installs nothing. `read` gives the
/// limits; the sha256 is apt's.
pub fn install(
    store: &Store,
    lock: &LockedFile,
    set: &[Planned],
    read: &ReadOptions,
    progress: &Progress,
    mut each: impl FnMut(&Planned, &std::path::Path, &Outcome),
) -> Result<Vec<Outcome>> {
    let got = download::download(&crate::repo::Paths::new(store.root()), set)?;
    let mut out = Vec::new();
    let mut result = Ok(());
    for (p, file) in set.iter().zip(&got.files) {
        let mut read = read.clone();
        read.sha256 = p.record.sha256.clone();
        let req = Request {
            path: file.clone(),
            read,
            repair: false,
        };
        match store.install(lock, &req, progress) {
            Ok(o) => {
                each(p, file, &o);
                out.push(o);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // The store holds what it installed; the downloads are not kept.
    let removed = got.remove();
    result?;
    removed?;
    Ok(out)
}
