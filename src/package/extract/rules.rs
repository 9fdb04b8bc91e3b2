//! The safe-extraction rules, whatever the archive format: every decision about a member is
//! made lexically from its name and the members before it (never by looking at the disk).
//! The tar and cpio readers and `pack` all put each member through one [`Checker`].

use super::names::check_chars;
pub use super::names::{check_symlink_target, fold_case, is_reserved, printable, split_path};
use crate::error::Unsafe;
use crate::fsutil::NAME_MAX;
use crate::package::listing::FileMode;
use std::collections::HashMap;

/// Limits that keep a hostile archive from exhausting the machine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Sum of the sizes of all members.
    pub max_unpacked: u64,
    /// Number of members.
    pub max_entries: u64,
    /// Components in one path.
    pub max_depth: usize,
    /// Bytes in one path.
    pub max_path_len: usize,
    /// Decoded bytes per compressed byte (a decompression bomb expands far more).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked: 32 << 30,
            max_entries: 2_000_000,
            max_depth: 128,
            max_path_len: 4096,
            max_ratio: 1000,
        }
    }
}

/// What a member is, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes with permission bits `mode`.
    File {
        /// Its size.
        size: u64,
        /// Its mode bits (all of them for a native package, else only exec and
        /// setuid/setgid/sticky matter).
        mode: u32,
    },
    /// A symlink to `target` (raw bytes as stored).
    Symlink {
        /// Where it points.
        target: &'a [u8],
    },
    /// A hard link to the earlier member `target` (raw bytes as stored).
    Hardlink {
        /// The member it links to.
        target: &'a [u8],
    },
    /// Anything else (device, fifo, socket, sparse file …), named for the message.
    Special(&'static str),
}

/// A member that passed, ready for the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Nothing to create (the package root itself, or a repeated implicit directory).
    Nothing,
    /// A directory.
    Dir(String),
    /// A regular file.
    File {
        /// Normalised path.
        path: String,
        /// Its mode in the store.
        mode: FileMode,
        /// Size in bytes.
        size: u64,
        /// Whether setuid/setgid/sticky bits were dropped.
        special_bits: bool,
    },
    /// A symlink.
    Symlink {
        /// Normalised path.
        path: String,
        /// Its target (checked to stay inside the package, or absolute in a native package).
        target: String,
    },
    /// A hard link.
    Hardlink {
        /// Normalised path.
        path: String,
        /// Normalised path of the earlier regular file.
        target: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A directory; `explicit` when the archive had a member for it.
    Dir {
        explicit: bool,
    },
    File,
    Symlink,
}

/// The lexical state of an archive being checked.
#[derive(Debug)]
pub struct Checker {
    limits: Limits,
    strip: usize,
    seen: HashMap<String, Kind>,
    folded: HashMap<String, String>,
    /// Symlinks and files removed by `--strip-components`, by folded path.
    stripped: HashMap<String, (String, Kind)>,
    total: u64,
    count: u64,
    /// A native package's archive: absolute symlink targets and file modes are kept.
    native: bool,
}

fn refuse<T>(why: Unsafe) -> Result<T, Unsafe> {
    Err(why)
}

impl Checker {
    /// A checker with these limits, dropping `strip` leading components of every path.
    pub fn new(limits: Limits, strip: usize) -> Checker {
        Checker {
            limits,
            strip,
            seen: HashMap::new(),
            folded: HashMap::new(),
            stripped: HashMap::new(),
            total: 0,
            count: 0,
            native: false,
        }
    }

    /// The rules of a native package (.deb, .rpm), which means its own paths and modes.
    /// Absolute symlink targets are kept as they are instead of refused: a .deb or .rpm
    /// ships them (`/etc/ssl/certs`, `/usr/share/zoneinfo/…`), and inside `run --isolate`
    /// they resolve as on the distribution. berth itself never follows one (the store,
    /// `check` and `verify` treat the target as text), and a member under such a link is
    /// still refused like one under any symlink of the archive. File modes keep their read
    /// and exec bits (a 0600 key stays 0400), where a berth package's files are 0444/0555.
    pub fn native(mut self) -> Checker {
        self.native = true;
        self
    }

    /// Members accepted so far (implicit parents not counted).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Checks one member. `parents` receives the implicit parent directories to create
    /// first (in order); the result says what to create for the member itself.
    pub fn check(
        &mut self,
        raw: &[u8],
        member: Member,
        parents: &mut Vec<String>,
    ) -> Result<Checked, Unsafe> {
        self.count += 1;
        if self.count > self.limits.max_entries {
            return refuse(Unsafe::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        let components = split_path(raw)?;
        let is_dir = matches!(member, Member::Dir);
        if components.is_empty() {
            // "." or "./": the package root itself.
            return if is_dir {
                Ok(Checked::Nothing)
            } else {
                refuse(Unsafe::EmptyName)
            };
        }
        // `.BERTH/` too: on a case-insensitive filesystem it is the metadata directory.
        if is_reserved(components[0]) {
            return refuse(Unsafe::Reserved);
        }
        if components.len() <= self.strip {
            return self.stripped_member(&components, member);
        }
        self.check_stripped_parents(&components[..self.strip])?;
        let components = &components[self.strip..];
        if is_reserved(components[0]) {
            return refuse(Unsafe::Reserved);
        }
        let path = components.join("/");
        if components.len() > self.limits.max_depth {
            return refuse(Unsafe::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        if path.len() > self.limits.max_path_len {
            return refuse(Unsafe::TooLong {
                limit: self.limits.max_path_len,
            });
        }
        self.ensure_parents(components, parents)?;
        if is_dir {
            return match self.seen.get(&path) {
                Some(Kind::Dir { explicit: false }) => {
                    self.seen.insert(path, Kind::Dir { explicit: true });
                    Ok(Checked::Nothing)
                }
                Some(_) => refuse(Unsafe::Duplicate),
                None => {
                    self.claim(&path, Kind::Dir { explicit: true })?;
                    Ok(Checked::Dir(path))
                }
            };
        }
        if self.seen.contains_key(&path) {
            return refuse(Unsafe::Duplicate);
        }
        self.leaf(path, member)
    }

    /// A new file, symlink or hard link at `path` (its parents already checked).
    fn leaf(&mut self, path: String, member: Member) -> Result<Checked, Unsafe> {
        match member {
            // Directories are decided by `check` before it gets here.
            Member::Dir => Ok(Checked::Dir(path)),
            Member::File { size, mode } => {
                self.total = self.total.saturating_add(size);
                if self.total > self.limits.max_unpacked {
                    return refuse(Unsafe::TooLarge {
                        limit: self.limits.max_unpacked,
                    });
                }
                self.claim(&path, Kind::File)?;
                Ok(Checked::File {
                    path,
                    mode: if self.native {
                        FileMode::native(mode)
                    } else {
                        FileMode::of_exec(mode & 0o111 != 0)
                    },
                    size,
                    special_bits: mode & 0o7000 != 0,
                })
            }
            Member::Symlink { target } => {
                let target = self.link_text(target)?;
                if !(self.native && target.starts_with('/')) {
                    check_symlink_target(&path, &target)?;
                }
                self.claim(&path, Kind::Symlink)?;
                Ok(Checked::Symlink { path, target })
            }
            Member::Hardlink { target } => {
                let raw_target = self.link_text(target)?;
                let target = self.hardlink_target(&raw_target)?;
                self.claim(&path, Kind::File)?;
                Ok(Checked::Hardlink { path, target })
            }
            Member::Special(what) => refuse(Unsafe::SpecialFile(what)),
        }
    }

    /// A member that `--strip-components` removes whole. Nothing of it is created, but
    /// what it is still matters: in the archive's own meaning a later member under a
    /// stripped symlink or file passes through it, and a device is refused wherever it is.
    fn stripped_member(&mut self, components: &[&str], member: Member) -> Result<Checked, Unsafe> {
        if let Some((_, parents)) = components.split_last() {
            self.check_stripped_parents(parents)?;
        }
        let kind = match member {
            Member::Dir => return Ok(Checked::Nothing),
            Member::Symlink { .. } => Kind::Symlink,
            Member::File { .. } | Member::Hardlink { .. } => Kind::File,
            Member::Special(what) => return refuse(Unsafe::SpecialFile(what)),
        };
        let joined = components.join("/");
        self.stripped.insert(fold_case(&joined), (joined, kind));
        Ok(Checked::Nothing)
    }

    /// Refuses a path whose stripped leading components were a symlink or a file of the
    /// archive (compared with case folded, as the filesystem would).
    fn check_stripped_parents(&self, prefix: &[&str]) -> Result<(), Unsafe> {
        if self.stripped.is_empty() {
            return Ok(());
        }
        for i in 1..=prefix.len() {
            match self.stripped.get(&fold_case(&prefix[..i].join("/"))) {
                Some((name, Kind::Symlink)) => return refuse(Unsafe::ThroughSymlink(name.clone())),
                Some((name, Kind::File)) => return refuse(Unsafe::NotADirectory(name.clone())),
                _ => {}
            }
        }
        Ok(())
    }

    /// Records implicit parent directories and refuses a path through a symlink or file.
    fn ensure_parents(&mut self, components: &[&str], out: &mut Vec<String>) -> Result<(), Unsafe> {
        for i in 1..components.len() {
            let prefix = components[..i].join("/");
            match self.seen.get(&prefix) {
                Some(Kind::Dir { .. }) => continue,
                Some(Kind::Symlink) => return refuse(Unsafe::ThroughSymlink(prefix)),
                Some(Kind::File) => return refuse(Unsafe::NotADirectory(prefix)),
                None => {
                    self.claim(&prefix, Kind::Dir { explicit: false })?;
                    out.push(prefix);
                }
            }
        }
        Ok(())
    }

    /// Records a new path, refusing one that collides with another when case is folded
    /// (on a case-insensitive filesystem they would be the same file).
    fn claim(&mut self, path: &str, kind: Kind) -> Result<(), Unsafe> {
        let folded = fold_case(path);
        if let Some(other) = self.folded.get(&folded) {
            if other != path {
                return refuse(Unsafe::CaseCollision(other.clone()));
            }
        }
        self.folded.insert(folded, path.to_string());
        self.seen.insert(path.to_string(), kind);
        Ok(())
    }

    fn link_text(&self, raw: &[u8]) -> Result<String, Unsafe> {
        let s = String::from_utf8(raw.to_vec()).or(refuse(Unsafe::NonUtf8))?;
        if s.is_empty() {
            return refuse(Unsafe::EmptyName);
        }
        check_chars(&s)?;
        // The filesystem's limits, decided here rather than met as an I/O error later.
        if s.len() > self.limits.max_path_len {
            return refuse(Unsafe::TooLong {
                limit: self.limits.max_path_len,
            });
        }
        if s.split('/').any(|c| c.len() > NAME_MAX) {
            return refuse(Unsafe::ComponentTooLong { limit: NAME_MAX });
        }
        Ok(s)
    }

    /// A hard link's target, normalised like a member path; it must be a regular file of
    /// this archive that came earlier.
    fn hardlink_target(&self, raw: &str) -> Result<String, Unsafe> {
        if raw.starts_with('/') {
            return refuse(Unsafe::HardlinkOutside(raw.to_string()));
        }
        let mut comps = Vec::new();
        for c in raw.split('/') {
            match c {
                "" | "." => {}
                ".." => return refuse(Unsafe::HardlinkOutside(raw.to_string())),
                c => comps.push(c),
            }
        }
        if comps.len() <= self.strip {
            return refuse(Unsafe::HardlinkOutside(raw.to_string()));
        }
        self.check_stripped_parents(&comps[..self.strip])?;
        let target = comps[self.strip..].join("/");
        match self.seen.get(&target) {
            Some(Kind::File) => Ok(target),
            Some(Kind::Symlink) => refuse(Unsafe::HardlinkBadTarget(target, "it is a symlink")),
            Some(Kind::Dir { .. }) => {
                refuse(Unsafe::HardlinkBadTarget(target, "it is a directory"))
            }
            None => refuse(Unsafe::HardlinkBadTarget(
                target,
                "no such member before it",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets() {
        assert!(check_symlink_target("a/b", "c").is_ok());
        assert!(check_symlink_target("a/b", "../c").is_ok());
        assert!(check_symlink_target("a/b", "./c/d").is_ok());
        assert!(check_symlink_target("a/b", "../../c").is_err());
        assert!(check_symlink_target("b", "..").is_err());
        assert!(check_symlink_target("a/b", "/etc").is_err());
        assert!(check_symlink_target("a/m", "l/..").is_err());
        assert!(check_symlink_target("a/b", "..").is_ok());
        assert!(check_symlink_target("a/b", "c\\d").is_err());
        assert!(check_symlink_target("a/b", "c\u{1b}[2J").is_err());
    }

    #[test]
    fn native_packages_keep_absolute_links_but_not_paths_through_them() {
        let mut parents = Vec::new();
        let link = Member::Symlink { target: b"/etc" };
        let mut plain = Checker::new(Limits::default(), 0);
        assert_eq!(
            plain.check(b"usr/lib/x", link, &mut parents),
            Err(Unsafe::SymlinkAbsolute("/etc".into()))
        );
        let mut native = Checker::new(Limits::default(), 0).native();
        parents.clear();
        assert_eq!(
            native.check(b"usr/lib/x", link, &mut parents),
            Ok(Checked::Symlink {
                path: "usr/lib/x".into(),
                target: "/etc".into()
            })
        );
        parents.clear();
        assert_eq!(
            native.check(
                b"usr/lib/x/passwd",
                Member::File {
                    size: 1,
                    mode: 0o644
                },
                &mut parents
            ),
            Err(Unsafe::ThroughSymlink("usr/lib/x".into()))
        );
        // Still text without control characters, and a relative one still stays inside.
        let bad = Member::Symlink { target: b"/a\x1b" };
        assert!(native.check(b"b", bad, &mut parents).is_err());
        let out = Member::Symlink { target: b"../../x" };
        assert!(native.check(b"c", out, &mut parents).is_err());
    }

    #[test]
    fn case_folding() {
        assert_eq!(fold_case("ΑΣ"), fold_case("ασ"));
        assert_eq!(fold_case("ας"), fold_case("ασ"));
        assert_eq!(fold_case("\u{212a}elvin"), fold_case("kelvin"));
        assert_eq!(fold_case("Androi~2"), fold_case("ANDROI~2"));
        assert_ne!(fold_case("a"), fold_case("b"));
    }

    #[test]
    fn checker_announces_parents_and_refuses_collisions() {
        let mut c = Checker::new(Limits::default(), 0);
        let mut parents = Vec::new();
        let r = c
            .check(
                b"a/b/f",
                Member::File {
                    size: 1,
                    mode: 0o755,
                },
                &mut parents,
            )
            .unwrap();
        assert_eq!(parents, vec!["a", "a/b"]);
        assert!(matches!(
            r,
            Checked::File {
                mode: FileMode::EXEC,
                ..
            }
        ));
        parents.clear();
        assert_eq!(
            c.check(b"A/B/F", Member::File { size: 1, mode: 0 }, &mut parents),
            Err(Unsafe::CaseCollision("a".into()))
        );
        assert_eq!(
            c.check(b".BERTH/x", Member::Dir, &mut parents),
            Err(Unsafe::Reserved)
        );
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\u{1b}[31mb\n"), "a?[31mb?");
    }
}
