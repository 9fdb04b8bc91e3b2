//! Who exists inside a profile's isolated view: the host's users and groups plus the
//! `[[user]]` records of the profile's packages (what their maintainer scripts added), the
//! records winning on a name or id clash. The same view answers `--user`, a unit's
//! `User=`/`Group=` and the owners of state directories, and is written as the
//! `/etc/passwd` and `/etc/group` bound read-only inside, so `id redis` agrees with berth.

use super::error::Error;
use super::privileges::{resolve_user, Identity};
use crate::error::Result;
use crate::fsutil::Dir;
use crate::package::manifest::UserRecord;
use crate::store::Entry;
use std::path::PathBuf;

/// The profile's own records (none: the host's view alone).
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    records: Vec<UserRecord>,
}

impl Accounts {
    /// The records of `entries`, the first of a name winning.
    pub fn of(entries: &[Entry]) -> Accounts {
        let mut records: Vec<UserRecord> = Vec::new();
        for r in entries.iter().flat_map(|e| e.manifest.users.iter()) {
            if !records.iter().any(|x| x.name == r.name) {
                records.push(r.clone());
            }
        }
        Accounts { records }
    }

    /// Whether there are records (else the host's files serve as they are).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn group_id(&self, g: &str) -> Option<u32> {
        self.records.iter().find(|r| r.group == g).map(|r| r.gid)
    }

    /// Resolves `U[:G]`: a record's name first, then the host's (numbers as they are).
    pub fn resolve(&self, spec: &str) -> std::result::Result<Identity, Error> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let group = |default: u32| -> std::result::Result<u32, Error> {
            match g {
                None => Ok(default),
                Some(g) => match self.group_id(g) {
                    Some(id) => Ok(id),
                    None => resolve_user(&format!("0:{g}")).map(|i| i.gid),
                },
            }
        };
        if let Some(r) = self.records.iter().find(|r| r.name == u) {
            let gid = group(r.gid)?;
            let mut groups = vec![gid];
            if gid != r.gid {
                groups.push(r.gid);
            }
            return Ok(Identity {
                uid: r.uid,
                gid,
                groups,
                name: Some(r.name.clone()),
                home: Some(PathBuf::from(&r.home)),
            });
        }
        let mut id = resolve_user(u)?;
        let gid = group(id.gid)?;
        if gid != id.gid {
            id.gid = gid;
            id.groups = vec![gid];
        }
        Ok(id)
    }

    /// An `owner` field's ids inside (`user[:group]`).
    pub fn owner_ids(&self, owner: &str) -> std::result::Result<(u32, u32), Error> {
        self.resolve(owner).map(|i| (i.uid, i.gid))
    }

    /// Writes `passwd` and `group` into `dir`: the host's lines, less those a record
    /// replaces, then the records.
    pub fn write_files(&self, dir: &Dir) -> Result<()> {
        let host = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let mut passwd = String::new();
        for line in host("/etc/passwd").lines() {
            let f: Vec<&str> = line.split(':').collect();
            let clash = self.records.iter().any(|r| {
                Some(&r.name.as_str()) == f.first() || f.get(2) == Some(&r.uid.to_string().as_str())
            });
            if !clash {
                passwd.push_str(line);
                passwd.push('\n');
            }
        }
        for r in &self.records {
            passwd.push_str(&format!(
                "{}:x:{}:{}::{}:{}\n",
                r.name, r.uid, r.gid, r.home, r.shell
            ));
        }
        let mut group = String::new();
        for line in host("/etc/group").lines() {
            let f: Vec<&str> = line.split(':').collect();
            let clash = self.records.iter().any(|r| {
                Some(&r.group.as_str()) == f.first()
                    || f.get(2) == Some(&r.gid.to_string().as_str())
            });
            if !clash {
                group.push_str(line);
                group.push('\n');
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for r in &self.records {
            if !seen.contains(&r.group.as_str()) {
                seen.push(&r.group);
                group.push_str(&format!("{}:x:{}:\n", r.group, r.gid));
            }
        }
        dir.write_atomic("passwd", passwd.as_bytes(), 0o644)?;
        dir.write_atomic("group", group.as_bytes(), 0o644)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, uid: u32) -> UserRecord {
        UserRecord {
            name: name.into(),
            uid,
            group: name.into(),
            gid: uid,
            home: "/var/lib/x".into(),
            shell: "/usr/sbin/nologin".into(),
        }
    }

    #[test]
    fn records_win_then_the_host() {
        let a = Accounts {
            records: vec![rec("redis", 120), rec("root", 5)],
        };
        assert_eq!(a.owner_ids("redis").unwrap(), (120, 120));
        assert_eq!(a.owner_ids("redis:root").unwrap(), (120, 5));
        assert_eq!(a.resolve("root").unwrap().uid, 5);
        assert!(a.resolve("no-such-user-berth").is_err());
        assert_eq!(Accounts::default().owner_ids("root").unwrap(), (0, 0));
    }
}
