//! `berth config path PROFILE FILE`: where the operator edits one of a profile's package
//! config files, seeded first when no run has needed it yet, so a service can be configured
//! before its first start (a Debian nginx must be told its port before it starts).

use super::{layout, state, Error};
use crate::lock::LockedFile;
use crate::store::{Entry, Store};
use std::path::{Path, PathBuf};

/// The file in `<root>/etc/<profile>/…` that is bound onto `file` (`/etc/nginx/nginx.conf`,
/// `etc/nginx/nginx.conf`, or `nginx-common/etc/nginx/nginx.conf` as `config status`
/// names it) for the profile's `entries`, seeded (with everything else the profile's
/// packages declare) when missing.
pub fn config_path(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    entries: &[Entry],
    file: &str,
) -> crate::Result<PathBuf> {
    let root = store.root();
    let mut implicit = Vec::with_capacity(entries.len());
    for e in entries {
        implicit.push(crate::isolate::shipped::read(store, e)?.state);
    }
    let paths = layout::state_paths(entries, &implicit);
    let binds = layout::binds(root, profile, entries, &paths);
    let configs: Vec<_> = binds.iter().filter(|b| b.what == "config").collect();
    let want = file.trim_start_matches('/');
    let etc = layout::etc_path(root, profile);
    let found = configs.iter().find(|b| {
        b.target.strip_prefix("/").ok() == Some(Path::new(want))
            || b.source.strip_prefix(&etc).ok() == Some(Path::new(want))
    });
    let Some(bind) = found else {
        return Err(Error::NoConfigFile {
            profile: profile.to_string(),
            file: crate::package::extract::printable(file),
            has: configs
                .iter()
                .map(|b| b.target.display().to_string())
                .collect(),
        }
        .into());
    };
    // Only this file is seeded (never overwritten: an edited one stays as it is), as the
    // caller's: the first isolated run gives it to the profile's range and its declared
    // owner, and seeds the rest with theirs (owners are given on first seeding only).
    let one: Vec<layout::StatePath> = paths
        .into_iter()
        .filter(|p| !p.dir && Path::new("/").join(&p.path) == bind.target)
        .collect();
    let accounts = crate::isolate::accounts::Accounts::of(entries);
    let owners = state::Owners {
        default: None,
        accounts: &accounts,
        base: None,
    };
    state::prepare(root, store, lock, profile, entries, &one, &owners)?;
    Ok(bind.source.clone())
}
