//! Users and directories a profile file asks for. Users are created (`useradd --system`,
//! no home, no login shell) only when missing and never modified or deleted. Directories in
//! `<root>/var/<profile>/` are created, or their owner, group and mode corrected, but never
//! emptied; every step goes through the root's handle, never through a symlink.

use super::layout;
use super::spec::{self, DirSpec, UserSpec};
use super::Error;
use crate::error::Result;
use crate::fsutil::{Dir, Kind};
use crate::root::{Root, DIR_MODE};
use serde::Serialize;

/// Whether the user exists (the passwd database, as `getent passwd` sees it).
pub fn user_exists(name: &str) -> bool {
    matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
}

/// Creates a system user without a home directory or login shell.
pub fn create_user(u: &UserSpec) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::UserMissing {
            user: u.name.clone(),
        }
        .into());
    }
    let mut cmd = std::process::Command::new("useradd");
    cmd.args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
    ]);
    if let Some(h) = &u.home {
        cmd.args(["--home-dir", h]);
    }
    cmd.arg(&u.name);
    let out = cmd.output().map_err(|e| Error::UserAdd {
        user: u.name.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::UserAdd {
            user: u.name.clone(),
            detail: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; "),
        }
        .into());
    }
    Ok(())
}

/// What a `[[dir]]` should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirWant {
    /// Relative to `<root>/var/<profile>/`.
    pub path: String,
    /// Owner's name.
    pub owner: String,
    /// Group's name.
    pub group: String,
    /// Mode as octal text (`0750`).
    pub mode: String,
    /// `create`, or `fix` (exists with another owner, group or mode).
    pub action: &'static str,
}

fn invoker() -> (String, String) {
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid:{uid}"));
    let group = nix::unistd::Group::from_gid(gid)
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| format!("gid:{gid}"));
    (user, group)
}

/// uid and gid of a name, or of an explicit `uid:N` (a bare number is a name: the profile
/// file's check refuses those).
fn uid_of(name: &str) -> Option<(u32, u32)> {
    match super::spec::account(name, "uid") {
        Ok(super::spec::Account::Id(n)) => Some((n, nix::unistd::getegid().as_raw())),
        _ => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| (u.uid.as_raw(), u.gid.as_raw())),
    }
}

/// gid of a group name, or of an explicit `gid:N`.
fn gid_of(name: &str) -> Option<u32> {
    match super::spec::account(name, "gid") {
        Ok(super::spec::Account::Id(n)) => Some(n),
        _ => nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw()),
    }
}

/// The group a `[[dir]]` gets: its own, else the invoker's when it names no owner, else
/// the owner's primary group (or, for a user the plan creates, the group of its name).
fn group_of(d: &DirSpec, ids: Option<(u32, u32)>, my_group: String, owner: &str) -> String {
    match (&d.group, &d.owner) {
        (Some(g), _) => g.clone(),
        (None, None) => my_group,
        (None, Some(_)) => match ids {
            Some((_, gid)) => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                .ok()
                .flatten()
                .map(|g| g.name)
                .unwrap_or_else(|| format!("gid:{gid}")),
            // useradd --system makes a group of the user's name.
            None => owner.to_string(),
        },
    }
}

/// The change a `[[dir]]` needs, `None` when it is already so. `new_users` are users the
/// plan creates first (their ids are not known yet).
pub fn plan_dir(
    root: Option<&Root>,
    profile: &str,
    d: &DirSpec,
    new_users: &[String],
) -> Result<Option<DirWant>> {
    let (me, my_group) = invoker();
    let owner = d.owner.clone().unwrap_or(me);
    let mode = d
        .mode
        .as_deref()
        .map(spec::mode)
        .transpose()
        .map_err(|why| Error::Value {
            path: d.path.clone().into(),
            message: why,
        })?
        .unwrap_or(DIR_MODE);
    let pending = new_users.contains(&owner);
    let ids = uid_of(&owner);
    if ids.is_none() && !pending {
        return Err(Error::NoSuchOwner {
            path: d.path.clone(),
            what: "user",
            name: owner,
        }
        .into());
    }
    let group = group_of(d, ids, my_group, &owner);
    let gid = gid_of(&group);
    if gid.is_none() && !(pending && group == owner) {
        return Err(Error::NoSuchOwner {
            path: d.path.clone(),
            what: "group",
            name: group,
        }
        .into());
    }
    let want = |action| DirWant {
        path: d.path.clone(),
        owner: owner.clone(),
        group: group.clone(),
        mode: format!("{mode:04o}"),
        action,
    };
    let st = match root {
        Some(r) => layout::var_dir_opt(r, profile)?
            .map(|v| v.stat(&d.path))
            .transpose()?
            .flatten(),
        None => None,
    };
    let Some(st) = st else {
        return Ok(Some(want("create")));
    };
    if crate::fsutil::dir::kind_of(&st) != Kind::Dir {
        return Err(Error::WrongKind {
            path: root
                .map(|r| layout::var_path(r, profile).join(&d.path))
                .unwrap_or_default(),
            why: "exists and is not a directory",
        }
        .into());
    }
    let same = ids.is_some_and(|(uid, _)| uid == st.st_uid)
        && gid.is_some_and(|g| g == st.st_gid)
        && st.st_mode & 0o7777 == mode;
    Ok((!same).then(|| want("fix")))
}

/// Makes the directory as `w` says (parents 0755 where missing); never empties it.
pub fn ensure_dir(root: &Root, profile: &str, w: &DirWant) -> Result<()> {
    let (uid, _) = uid_of(&w.owner).ok_or_else(|| Error::NoSuchOwner {
        path: w.path.clone(),
        what: "user",
        name: w.owner.clone(),
    })?;
    let gid = gid_of(&w.group).ok_or_else(|| Error::NoSuchOwner {
        path: w.path.clone(),
        what: "group",
        name: w.group.clone(),
    })?;
    let mode = u32::from_str_radix(&w.mode, 8).unwrap_or(DIR_MODE);
    let base: Dir = layout::var_dir(root, profile)?;
    let (parent, name) = match w.path.rsplit_once('/') {
        Some((p, n)) => (base.ensure_dir(p, DIR_MODE)?, n),
        None => (base.try_clone()?, w.path.as_str()),
    };
    parent.create_dir(name, mode)?;
    let st = parent
        .stat(name)?
        .ok_or_else(|| crate::Error::NotADirectoryInRoot {
            path: parent.join(name),
        })?;
    if st.st_uid != uid || st.st_gid != gid {
        parent.chown(name, uid, gid)?;
    }
    // chown clears setgid; set the mode last.
    parent
        .chmod(name, mode)
        .map_err(|e| crate::Error::io("chmod", parent.join(name), e))?;
    Ok(())
}
