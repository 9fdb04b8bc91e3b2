//! Dropping privileges before `exec`: `--user U[:G]` (supplementary groups, then the group,
//! then the user, so no group of root survives), every capability set cleared except the
//! ones asked for (bounding, inheritable, permitted, effective, ambient), and
//! `no_new_privs`, so that nothing the service executes can gain privileges back.

use super::error::Error;
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::CString;
use std::path::PathBuf;
use std::str::FromStr;

/// The identity to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (as initgroups computes them; the primary group included).
    pub groups: Vec<u32>,
    /// The user's name, when it has a passwd entry.
    pub name: Option<String>,
    /// The user's home directory, when it has a passwd entry.
    pub home: Option<PathBuf>,
}

/// What to drop to, resolved against the host's user database before any mount (a
/// package's `etc/passwd` must never decide who a service runs as).
#[derive(Debug, Clone)]
pub struct Privileges {
    /// Switch to this identity, if any.
    pub identity: Option<Identity>,
    /// Capabilities kept.
    pub keep: CapsHashSet,
}

/// Parses capability names (`NET_BIND_SERVICE`, `cap_net_bind_service`).
pub fn parse_caps(names: &[String]) -> Result<CapsHashSet, Error> {
    let mut out = CapsHashSet::new();
    for n in names {
        let c = Capability::from_str(&caps::to_canonical(n.trim()))
            .map_err(|_| Error::UnknownCapability { name: n.clone() })?;
        out.insert(c);
    }
    Ok(out)
}

/// Resolves `U[:G]`: names or numeric ids. A name goes through NSS (passwd, group).
pub fn resolve_user(spec: &str) -> Result<Identity, Error> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let unknown = || Error::UnknownUser {
        user: u.to_string(),
    };
    if u.is_empty() {
        return Err(unknown());
    }
    let lookup = |r: nix::Result<Option<User>>| r.ok().flatten();
    let user = match u.parse::<u32>() {
        Ok(n) => lookup(User::from_uid(Uid::from_raw(n))),
        Err(_) => Some(lookup(User::from_name(u)).ok_or_else(unknown)?),
    };
    let uid = match &user {
        Some(p) => p.uid.as_raw(),
        None => u.parse::<u32>().map_err(|_| unknown())?,
    };
    let gid = match g {
        Some(g) => resolve_group(g)?,
        // A numeric uid without a passwd entry gets the group of the same number.
        None => user.as_ref().map(|p| p.gid.as_raw()).unwrap_or(uid),
    };
    let groups = match &user {
        Some(p) => CString::new(p.name.as_str())
            .ok()
            .and_then(|c| nix::unistd::getgrouplist(&c, Gid::from_raw(gid)).ok())
            .map(|v| v.into_iter().map(Gid::as_raw).collect())
            .unwrap_or_else(|| vec![gid]),
        None => vec![gid],
    };
    Ok(Identity {
        uid,
        gid,
        groups,
        name: user.as_ref().map(|p| p.name.clone()),
        home: user.map(|p| p.dir),
    })
}

fn resolve_group(g: &str) -> Result<u32, Error> {
    let unknown = || Error::UnknownGroup {
        group: g.to_string(),
    };
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    Group::from_name(g)
        .ok()
        .flatten()
        .map(|gr| gr.gid.as_raw())
        .ok_or_else(unknown)
}

/// Drops to `p` in the current process. `full` means berth holds capabilities here (root,
/// or inside its own user namespace); without them only what an unprivileged process may
/// do is done (ambient and inheritable cleared, no_new_privs).
pub fn apply(p: &Privileges, full: bool) -> Result<(), Error> {
    let step = |step: &'static str| {
        move |e: caps::errors::CapsError| Error::Privileges {
            step,
            source: std::io::Error::other(e.to_string()),
        }
    };
    let nix_step = |step: &'static str| {
        move |e: nix::Error| Error::Privileges {
            step,
            source: e.into(),
        }
    };
    if full {
        drop_bounding(&p.keep)?;
    }
    if let Some(id) = &p.identity {
        // Keep the permitted set across setuid, to keep the asked-for capabilities.
        nix::sys::prctl::set_keepcaps(true).map_err(nix_step("PR_SET_KEEPCAPS"))?;
        let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&groups).map_err(nix_step("setgroups"))?;
        nix::unistd::setgid(Gid::from_raw(id.gid)).map_err(nix_step("setgid"))?;
        nix::unistd::setuid(Uid::from_raw(id.uid)).map_err(nix_step("setuid"))?;
        nix::sys::prctl::set_keepcaps(false).map_err(nix_step("PR_SET_KEEPCAPS"))?;
    }
    if full {
        // Inheritable first (it may only grow from the permitted set), then effective
        // before permitted (effective must stay a subset).
        caps::set(None, CapSet::Inheritable, &p.keep).map_err(step("inheritable set"))?;
        caps::set(None, CapSet::Effective, &p.keep).map_err(step("effective set"))?;
        caps::set(None, CapSet::Permitted, &p.keep).map_err(step("permitted set"))?;
        caps::clear(None, CapSet::Ambient).map_err(step("ambient set"))?;
        for c in &p.keep {
            caps::raise(None, CapSet::Ambient, *c).map_err(step("ambient set"))?;
        }
    } else {
        caps::clear(None, CapSet::Ambient).map_err(step("ambient set"))?;
        caps::clear(None, CapSet::Inheritable).map_err(step("inheritable set"))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(nix_step("PR_SET_NO_NEW_PRIVS"))?;
    tracing::debug!(
        "privileges dropped: identity {:?}, capabilities kept {:?}",
        p.identity.as_ref().map(|i| (i.uid, i.gid)),
        p.keep
    );
    Ok(())
}

/// Drops every capability but `keep` from the bounding set, including ones newer than the
/// caps crate knows (the kernel says EINVAL past the last one).
fn drop_bounding(keep: &CapsHashSet) -> Result<(), Error> {
    let kept: Vec<u8> = keep.iter().map(|c| c.index()).collect();
    for i in 0..64u8 {
        // SAFETY: prctl with integer arguments only.
        let has = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(i), 0, 0, 0) };
        if has < 0 {
            break;
        }
        if has == 1 && !kept.contains(&i) {
            // SAFETY: as above.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(i), 0, 0, 0) };
            if r != 0 {
                return Err(Error::Privileges {
                    step: "bounding set",
                    source: std::io::Error::last_os_error(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_with_or_without_prefix() {
        let s = parse_caps(&["NET_BIND_SERVICE".into(), "cap_chown".into()]).unwrap();
        assert!(s.contains(&Capability::CAP_NET_BIND_SERVICE));
        assert!(s.contains(&Capability::CAP_CHOWN));
        assert!(matches!(
            parse_caps(&["NET_BIND".into()]),
            Err(Error::UnknownCapability { .. })
        ));
    }

    #[test]
    fn users_by_name_and_number() {
        let root = resolve_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(resolve_user("0:0").unwrap().uid, 0);
        assert_eq!(resolve_user("4242").unwrap().gid, 4242);
        assert!(matches!(
            resolve_user("no-such-user-berth"),
            Err(Error::UnknownUser { .. })
        ));
        assert!(matches!(
            resolve_user("root:no-such-group-berth"),
            Err(Error::UnknownGroup { .. })
        ));
    }
}
