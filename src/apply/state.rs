//! Seeding a profile's packages' config files (`[[config]]`) and writable directories
//! (`[[writable]]`) where `layout` puts them, the first time a run needs them. Seeding
//! never overwrites: what exists is left as it is. Later changes belong elsewhere: a config
//! file the operator never edited is replaced by a new package version's copy at the
//! switch (`conffile::after_switch`, dpkg's rules; an edited one is kept), and a writable
//! directory is never replaced or emptied, so the service's data survives every switch and
//! rollback. Modes are explicit (not the umask); files are written atomically, and a
//! seeded directory appears whole (built beside, then renamed). Everything is made beneath
//! the root's handle, never through a symlink.

use super::layout;
use crate::error::{Error, Result};
use crate::fsutil::{temp_name, Dir, Kind};
use crate::isolate::accounts::Accounts;
use crate::isolate::plan::Bind;
use crate::lock::LockedFile;
use crate::root::{Root, DIR_MODE};
use crate::store::{Entry, Store};
use std::fs::File;

/// Mode of config files (0755 when the shipped copy is executable).
const FILE_MODE: u32 = 0o644;

/// The mode of the writable copy of a package's file (`st_mode` as the store has it): its
/// owner may write it, and who else may read or run it stays the package's choice. A berth
/// package's 0444/0555 files give 0644/0755 as always; a .deb's private 0400 or 0440 file
/// (a key, a sudoers file) gives 0600 or 0640, not a copy anyone can read.
pub fn copy_mode(st_mode: u32) -> u32 {
    (st_mode & 0o555) | 0o200
}

/// Who seeded state belongs to: `default` (host ids: the service's user) for what declares
/// no owner, and the ids an `owner` field names in the profile's view (`accounts`), as
/// root shifted into the profile's range from `base`.
pub struct Owners<'a> {
    /// Host ids of what declares no owner (None: the caller's).
    pub default: Option<(u32, u32)>,
    /// The profile's users and groups.
    pub accounts: &'a Accounts,
    /// As root: the first host id of the profile's range.
    pub base: Option<u32>,
}

impl Owners<'_> {
    /// The host ids of a declared `owner`, or the default.
    fn host_ids(&self, owner: Option<&str>) -> Result<Option<(u32, u32)>> {
        let Some(o) = owner else {
            return Ok(self.default);
        };
        let (u, g) = self.accounts.owner_ids(o)?;
        match self.base {
            Some(b) => Ok(Some((b + u, b + g))),
            // Without a range only the caller's own ids exist in the view.
            None => {
                tracing::debug!("owner {o} left as the caller (no id range without root)");
                Ok(self.default)
            }
        }
    }
}

/// Creates what [`layout::binds`] names for `paths` and does not exist yet, seeded from the
/// packages that declare it (the package's copy, then its made entry's), given the owner
/// and mode declared, else `owners.default`. Returns the binds.
pub fn prepare(
    root: &Root,
    store: &Store,
    _lock: &LockedFile,
    profile: &str,
    entries: &[Entry],
    paths: &[layout::StatePath],
    owners: &Owners,
) -> Result<Vec<Bind>> {
    crate::package::name::check_name("profile name", profile)?;
    for sp in paths {
        let (owner, mode) = sp.owner_mode();
        let ids = owners.host_ids(owner)?;
        let mut pkgs = Vec::new();
        for (i, _) in &sp.declared {
            pkgs.push((store.open_entry(&entries[*i])?, &entries[*i]));
        }
        if sp.dir {
            let base = layout::package_var_dir(root, profile, &sp.state)?;
            prepare_dir(&base, &sp.path, &pkgs, ids, mode)?;
        } else {
            let base = layout::package_etc_dir(root, profile, &sp.state)?;
            let (pkg, e) = &pkgs[0];
            let seeded = prepare_file(&base, &sp.path, pkg, e)?;
            // A config file is often seeded at the switch (`conffile`), before any run: it is
            // given its declared owner and mode the first time a run finds it still root's.
            let roots = [0, owners.base.unwrap_or(0)];
            let first = seeded
                || base.stat(&sp.path)?.is_some_and(|st| {
                    roots.contains(&st.st_uid) && ids.is_some_and(|(u, _)| u != st.st_uid)
                });
            if first && owner.is_some() {
                if let Some((u, g)) = ids {
                    base.chown(&sp.path, u, g)?;
                }
                if let Some(m) = mode {
                    base.chmod(&sp.path, m)
                        .map_err(|err| Error::io("chmod", base.join(&sp.path), err))?;
                }
            }
        }
    }
    mount_points_inside(root, profile, paths)?;
    Ok(layout::binds(root, profile, entries, paths))
}

/// A bind inside another one of another state name (`/var/lib/php/modules/8.2`, the scripts'
/// state of php8.2-common, inside `/var/lib/php/modules`, php-common's) needs its target in
/// the outer one's directory: made there, empty, where missing (the bind covers it).
fn mount_points_inside(root: &Root, profile: &str, paths: &[layout::StatePath]) -> Result<()> {
    for outer in paths.iter().filter(|p| p.dir) {
        let prefix = format!("{}/", outer.path);
        for inner in paths.iter().filter(|p| p.path.starts_with(&prefix)) {
            if inner.state == outer.state {
                continue;
            }
            let base = layout::package_var_dir(root, profile, &outer.state)?;
            if base.stat(&inner.path)?.is_some() {
                continue;
            }
            if inner.dir {
                base.ensure_dir(&inner.path, crate::root::DIR_MODE)?;
            } else {
                let (parent, name) = parent_of(&base, &inner.path)?;
                parent
                    .create_file(name, FILE_MODE)
                    .map_err(|e| Error::io("create", base.join(&inner.path), e))?;
            }
        }
    }
    Ok(())
}

/// Gives a profile's config files and writable trees that still belong to host ids below
/// 65536 (made before the profile ran in its own id range) to the same ids in the range
/// at `base` (uid u becomes `base` + u): inside the instance they keep the owner they had.
/// Once per file: what is in the range already stays.
pub fn shift_into_range(
    root: &Root,
    profile: &str,
    paths: &[layout::StatePath],
    base: u32,
) -> Result<()> {
    crate::package::name::check_name("profile name", profile)?;
    let mut shifted = 0usize;
    let mut shift = |dir: &Dir, rel: &str, st: &crate::fsutil::Stat| -> Result<()> {
        let (uid, gid) = (st.st_uid, st.st_gid);
        if uid < crate::isolate::users::SIZE || gid < crate::isolate::users::SIZE {
            let map = |i: u32| {
                if i < crate::isolate::users::SIZE {
                    base + i
                } else {
                    i
                }
            };
            dir.chown(rel, map(uid), map(gid))?;
            shifted += 1;
        }
        Ok(())
    };
    let etc = layout::etc_dir_opt(root, profile)?;
    let var = layout::var_dir_opt(root, profile)?;
    for sp in paths {
        let top = if sp.dir { &var } else { &etc };
        let Some(base_dir) = (match top {
            Some(d) => d.open_dir_opt(&sp.state)?,
            None => None,
        }) else {
            continue;
        };
        let Some(st) = base_dir.stat(&sp.path)? else {
            continue;
        };
        shift(&base_dir, &sp.path, &st)?;
        if sp.dir && crate::fsutil::dir::kind_of(&st) == Kind::Dir {
            let tree = base_dir.open_dir(&sp.path)?;
            crate::fsutil::walk(&tree, &mut |rel, _, st| shift(&tree, rel, st))?;
        }
    }
    if shifted > 0 {
        tracing::info!(
            "profile {profile}: {shifted} file(s) of its config and data given to the same \
             ids in its range (from {base}), as its isolated runs see them"
        );
    }
    Ok(())
}

fn wrong_kind(e: &Entry, what: &'static str, rel: &str, found: &'static str) -> Error {
    let expected = if what == "config" {
        "a file"
    } else {
        "a directory"
    };
    crate::isolate::Error::WrongKind {
        package: e.spec(),
        what,
        path: rel.to_string(),
        found,
        expected,
    }
    .into()
}

/// The parent directory of `rel` beneath `base` (created 0755 where missing) and the name.
fn parent_of<'a>(base: &Dir, rel: &'a str) -> Result<(Dir, &'a str)> {
    match rel.rsplit_once('/') {
        Some((p, n)) => Ok((base.ensure_dir(p, DIR_MODE)?, n)),
        None => Ok((base.try_clone()?, rel)),
    }
}

/// Seeds one config file; whether it was made now.
fn prepare_file(base: &Dir, rel: &str, pkg: &Dir, e: &Entry) -> Result<bool> {
    match base.stat(rel)? {
        Some(st) if crate::fsutil::dir::kind_of(&st) == Kind::File => return Ok(false),
        Some(_) => {
            return Err(wrong_kind(
                e,
                "config",
                rel,
                "not a file in the root's etc/",
            ))
        }
        None => {}
    }
    let (parent, name) = parent_of(base, rel)?;
    // Follows links inside the package: safe extraction keeps them inside.
    match pkg.open_following_beneath(rel, false) {
        Some(fd) => {
            let mut src = File::from(fd);
            let mode = rustix::fs::fstat(&src).map_or(FILE_MODE, |st| copy_mode(st.st_mode));
            parent.write_atomic_with(name, mode, |f| {
                std::io::copy(&mut src, f)
                    .map(|_| ())
                    .map_err(|err| Error::io("copy", pkg.join(rel), err))
            })?;
            tracing::info!(
                "config {} seeded from {}",
                base.join(rel).display(),
                e.spec()
            );
        }
        None if pkg.open_following_beneath(rel, true).is_some() => {
            return Err(wrong_kind(e, "config", rel, "a directory"))
        }
        None => {
            parent.write_atomic(name, b"", FILE_MODE)?;
            tracing::info!(
                "config {} created empty ({} ships none)",
                base.join(rel).display(),
                e.spec()
            );
        }
    }
    Ok(true)
}

/// Seeds one writable directory from the first declarer that ships it, then what the
/// others ship that it lacks; `owner` and `mode` on every new directory's top, `owner` on
/// all of it. An existing one is left as it is (its data is the service's).
fn prepare_dir(
    base: &Dir,
    rel: &str,
    pkgs: &[(Dir, &Entry)],
    owner: Option<(u32, u32)>,
    mode: Option<u32>,
) -> Result<()> {
    let e = pkgs[0].1;
    match base.stat(rel)? {
        Some(st) if crate::fsutil::dir::kind_of(&st) == Kind::Dir => {
            if let Some((uid, _)) = owner {
                if st.st_uid != uid {
                    tracing::debug!(
                        "{} belongs to uid {}, not uid {uid}; left as it is (chown it if the \
                         service cannot write there)",
                        base.join(rel).display(),
                        st.st_uid
                    );
                }
            }
            return Ok(());
        }
        Some(_) => {
            return Err(wrong_kind(
                e,
                "writable",
                rel,
                "not a directory in the root's var/",
            ))
        }
        None => {}
    }
    let (parent, name) = parent_of(base, rel)?;
    let tmp = temp_name(name);
    let built = (|| {
        make_dir(&parent, &tmp, owner)?;
        for (pkg, pe) in pkgs {
            match pkg.open_following_beneath(rel, true) {
                Some(fd) => copy_tree(
                    &Dir::from_fd(fd, pkg.join(rel)),
                    &parent.open_dir(&tmp)?,
                    owner,
                )?,
                None if pkg.open_following_beneath(rel, false).is_some() => {
                    return Err(wrong_kind(pe, "writable", rel, "a file"))
                }
                None => {}
            }
        }
        if let Some(m) = mode {
            parent
                .chmod(&tmp, m)
                .map_err(|err| Error::io("chmod", parent.join(&tmp), err))?;
        }
        parent.open_dir(&tmp)?.fsync()?;
        parent.rename(&tmp, &parent, name)
    })();
    if built.is_err() {
        let _ = crate::fsutil::remove_tree(&parent, &tmp);
    }
    built?;
    parent.fsync()?;
    tracing::info!(
        "writable {} created for {}",
        base.join(rel).display(),
        e.spec()
    );
    Ok(())
}

fn make_dir(parent: &Dir, name: &str, owner: Option<(u32, u32)>) -> Result<()> {
    parent.create_dir(name, DIR_MODE)?;
    if let Some((uid, gid)) = owner {
        parent.chown(name, uid, gid)?;
    }
    Ok(())
}

/// Copies a shipped directory into `dst` (what `dst` has already stays): directories
/// 0755, files 0644 (0755 when executable), links as links; all given to `owner`. Made
/// durable before the caller's rename.
fn copy_tree(src: &Dir, dst: &Dir, owner: Option<(u32, u32)>) -> Result<()> {
    for ent in src.entries()? {
        let Some(n) = ent.name_str() else { continue };
        if dst.stat(n)?.is_some() {
            if ent.kind == Kind::Dir {
                if let Some(sub) = dst.open_dir_opt(n)? {
                    copy_tree(&src.open_dir(n)?, &sub, owner)?;
                }
            }
            continue;
        }
        match ent.kind {
            Kind::Dir => {
                make_dir(dst, n, owner)?;
                copy_tree(&src.open_dir(n)?, &dst.open_dir(n)?, owner)?;
            }
            Kind::Symlink => {
                if let Some(target) = src.read_link(n)? {
                    dst.symlink(target, n)?;
                }
            }
            Kind::File => {
                let Some(mut input) = src.open_file(n)? else {
                    continue;
                };
                let mode = rustix::fs::fstat(&input).map_or(FILE_MODE, |st| copy_mode(st.st_mode));
                dst.write_atomic_with(n, mode, |f| {
                    std::io::copy(&mut input, f)
                        .map(|_| ())
                        .map_err(|err| Error::io("copy", src.join(n), err))
                })?;
            }
            Kind::Other => continue,
        }
        if let Some((uid, gid)) = owner {
            if ent.kind != Kind::Dir {
                dst.chown(n, uid, gid)?;
            }
        }
    }
    dst.fsync()
}
