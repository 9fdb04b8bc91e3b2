//! A private range of 65536 user and group ids per profile, as systemd-nspawn's
//! `--private-users=pick` chooses one (systemd's UIDS-GIDS.md: container ranges start at
//! 524288, in steps of 65536). An isolated root process runs in a user namespace mapping
//! 0..65535 inside to this range outside: it may chown its own state and switch to its
//! workers' uid inside, yet outside it is an unprivileged uid that owns nothing of the host.
//! A profile's range is chosen once, under the root's lock, recorded in
//! `<root>/users/<profile>` and never given to another profile of the root.

use super::USERS;
use crate::error::{Error, Result};
use crate::fsutil::Dir;
use crate::lock::LockedFile;
use crate::root::{Root, DIR_MODE, FILE_MODE};

/// The first id of the first range.
pub const FIRST: u32 = 524_288;
/// Ids per range: 0..65535 inside.
pub const SIZE: u32 = 65_536;
/// Ranges stop below 0x70000000, where systemd's own ranges for containers end.
const LAST: u32 = 0x6fff_0000;

/// The base of `profile`'s range (outside id of uid 0 inside), chosen on first use.
pub fn range_for(root: &Root, _lock: &LockedFile, profile: &str) -> Result<u32> {
    crate::package::name::check_name("profile name", profile)?;
    let dir = root.dir().ensure_dir(USERS, DIR_MODE)?;
    if let Some(base) = recorded(&dir, profile)? {
        return Ok(base);
    }
    let mut taken: Vec<u32> = Vec::new();
    for ent in dir.entries()? {
        let Some(name) = ent.name_str() else { continue };
        if crate::fsutil::is_temp(name) {
            continue;
        }
        if let Some(b) = recorded(&dir, name)? {
            taken.push(b);
        }
    }
    let busy = host_ids();
    let mut base = FIRST;
    while base <= LAST {
        let end = base + (SIZE - 1);
        let overlaps = |(s, e): &(u32, u32)| *s <= end && *e >= base;
        if !taken.contains(&base) && !busy.iter().any(overlaps) {
            dir.write_atomic(profile, format!("{base}\n").as_bytes(), FILE_MODE)?;
            tracing::info!(
                "profile {profile}: ids {base}..{end} on the host are root..65535 inside its \
                 isolated runs"
            );
            return Ok(base);
        }
        base += SIZE;
    }
    Err(Error::Internal {
        what: "user id ranges",
        detail: format!("no free range of {SIZE} ids between {FIRST} and {LAST}"),
    })
}

/// The range recorded for `name`, if any (a damaged record is an error, not a new range:
/// its ids may own files already).
fn recorded(dir: &Dir, name: &str) -> Result<Option<u32>> {
    let Some(text) = dir.read_text(name)? else {
        return Ok(None);
    };
    match text.trim().parse::<u32>() {
        Ok(b) if (FIRST..=LAST).contains(&b) && (b - FIRST).is_multiple_of(SIZE) => Ok(Some(b)),
        _ => Err(Error::Internal {
            what: "user id range record",
            detail: format!(
                "{} holds `{}`, not a range base (524288 + 65536·k)",
                dir.join(name).display(),
                text.trim()
            ),
        }),
    }
}

/// Ids the host already uses above FIRST: passwd and group entries (one pass over NSS) and
/// the ranges of /etc/subuid and /etc/subgid, as inclusive (first, last) pairs.
fn host_ids() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    // SAFETY: the *ent functions are not thread-safe; berth runs them from its one thread,
    // and copies each field before the next call.
    unsafe {
        libc::setpwent();
        loop {
            let p = libc::getpwent();
            if p.is_null() {
                break;
            }
            let id = (*p).pw_uid;
            out.push((id, id));
        }
        libc::endpwent();
        libc::setgrent();
        loop {
            let g = libc::getgrent();
            if g.is_null() {
                break;
            }
            let id = (*g).gr_gid;
            out.push((id, id));
        }
        libc::endgrent();
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let mut f = line.trim().split(':').skip(1);
            let (Some(Ok(start)), Some(Ok(count))) = (
                f.next().map(str::parse::<u32>),
                f.next().map(str::parse::<u32>),
            ) else {
                continue;
            };
            if count > 0 {
                out.push((start, start.saturating_add(count - 1)));
            }
        }
    }
    out.retain(|(_, e)| *e >= FIRST);
    out
}
