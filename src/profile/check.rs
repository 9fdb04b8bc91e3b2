//! The profile module's part of `berth check`: generations complete and pointing only into
//! the store, profile links leading to complete generations, shims that are berth's and
//! provided, the shim binary as built; and the repairs that are safe without a choice.

use super::build::PKGS;
use super::generation::{link_target, parse_number, Profiles, GENERATION_TOML};
use super::prune::POLICY;
use super::shims::{self, SHIM_BINARY};
use crate::error::Result;
use crate::fsutil::{is_temp, Dir, Kind};
use crate::lock::LockedFile;
use crate::problem::{Kind as P, Problem};
use crate::root::{PROFILES, SHIMS};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// What the profile check looked at.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checked {
    /// Profiles.
    pub profiles: usize,
    /// Generations.
    pub generations: usize,
}

fn mode_of(dir: &Dir, rel: &str, out: &mut Vec<Problem>) {
    let me = rustix::process::geteuid().as_raw();
    if let Ok(Some(st)) = dir.stat(rel) {
        if let Some(p) = crate::root::permission_problem(&st, me) {
            out.push(Problem::permissions(dir.join(rel), p));
        }
    }
}

impl Profiles {
    /// Runs the profile checks; `entries` are the store's entry directory names.
    pub fn check(
        &self,
        _lock: &LockedFile,
        entries: &BTreeSet<String>,
    ) -> Result<(Vec<Problem>, Checked)> {
        let mut out = Vec::new();
        let mut checked = Checked::default();
        if let Some(gens) = self.generations_dir()? {
            mode_of(&gens, ".", &mut out);
            for ent in gens.entries()? {
                let name = ent.name.to_string_lossy().into_owned();
                if is_temp(&name) {
                    out.push(Problem::leftover(gens.join(&name), "temporary file"));
                } else if ent.kind != Kind::Dir || !berth_shim::valid_name(&name) {
                    out.push(Problem::stray(gens.join(&name), "file in generations/"));
                } else {
                    checked.profiles += 1;
                    self.check_profile(
                        &gens.open_dir(&name)?,
                        &name,
                        entries,
                        &mut out,
                        &mut checked,
                    )?;
                }
            }
        }
        self.check_links(&mut out)?;
        self.check_shims(&mut out)?;
        Ok((out, checked))
    }

    fn check_profile(
        &self,
        dir: &Dir,
        p: &str,
        entries: &BTreeSet<String>,
        out: &mut Vec<Problem>,
        checked: &mut Checked,
    ) -> Result<()> {
        mode_of(dir, ".", out);
        for ent in dir.entries()? {
            let n = ent.name.to_string_lossy().into_owned();
            if is_temp(&n) {
                out.push(Problem::leftover(
                    dir.join(&n),
                    "unfinished or half-deleted generation",
                ));
            } else if n == POLICY && ent.kind == Kind::File {
            } else if let (Some(num), Kind::Dir) = (parse_number(&n), ent.kind) {
                checked.generations += 1;
                // The walk below covers what is inside; the generation's own directory too.
                mode_of(dir, &n, out);
                self.check_generation(p, num, &dir.open_dir(&n)?, entries, out)?;
            } else {
                out.push(Problem::stray(
                    dir.join(&n),
                    "file in a profile's generations",
                ));
            }
        }
        Ok(())
    }

    fn check_generation(
        &self,
        p: &str,
        n: u64,
        gdir: &Dir,
        entries: &BTreeSet<String>,
        out: &mut Vec<Problem>,
    ) -> Result<()> {
        let g = match self.read(p, n) {
            Ok(g) => g,
            Err(e) => {
                out.push(Problem::new(
                    P::BadGeneration,
                    gdir.join(GENERATION_TOML),
                    e.to_string(),
                    format!("switch {p} to another generation, then delete this one (`berth generations {p} --delete {n}`)"),
                ));
                return Ok(());
            }
        };
        for pkg in &g.packages {
            let entry = pkg.entry_dir();
            if !entries.contains(&entry) {
                out.push(Problem::new(
                    P::MissingEntry,
                    self.root().path().join("store").join(&entry),
                    format!(
                        "generation {p}/{n} references {}@{}, which is not in the store",
                        pkg.name, pkg.version
                    ),
                    format!(
                        "reinstall {}@{} from the same artifact (same content, same id)",
                        pkg.name, pkg.version
                    ),
                ));
            }
            let rel = format!("{PKGS}/{}", pkg.name);
            let want = Path::new("../../../../store").join(&entry);
            if gdir.read_link(&rel).ok().flatten().as_deref() != Some(want.as_path()) {
                out.push(Problem::new(
                    P::BadPackageLink,
                    gdir.join(&rel),
                    format!("should link to store/{entry}"),
                    format!("switch {p} to a new generation (`berth use`) so the tree is rebuilt"),
                ));
            }
        }
        crate::fsutil::walk(gdir, &mut |rel, kind, st| {
            if kind == Kind::Symlink && !rel.starts_with(&format!("{PKGS}/")) {
                if let Ok(Some(t)) = gdir.read_link(rel) {
                    if !stays_in_pkgs(rel, &t) {
                        out.push(Problem::new(
                            P::EscapingLink,
                            gdir.join(rel),
                            format!("points to {}, outside the generation's packages", t.display()),
                            format!("delete this generation (`berth generations {p} --delete {n}`, after switching away) and make a new one with `berth use`"),
                        ));
                    }
                }
            } else if kind != Kind::Symlink {
                let me = rustix::process::geteuid().as_raw();
                if let Some(prob) = crate::root::permission_problem(st, me) {
                    out.push(Problem::permissions(gdir.join(rel), prob));
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    fn check_links(&self, out: &mut Vec<Problem>) -> Result<()> {
        let Some(dir) = self.root().dir().open_dir_opt(PROFILES)? else {
            return Ok(());
        };
        mode_of(&dir, ".", out);
        for ent in dir.entries()? {
            let name = ent.name.to_string_lossy().into_owned();
            if is_temp(&name) {
                out.push(Problem::leftover(dir.join(&name), "temporary link"));
                continue;
            }
            if ent.kind != Kind::Symlink || !berth_shim::valid_name(&name) {
                out.push(Problem::stray(dir.join(&name), "non-link in profiles/"));
                continue;
            }
            let target = dir.read_link(&name)?.unwrap_or_default();
            let complete = self.current(&name).ok().flatten().is_some_and(|n| {
                target == link_target(&name, n)
                    && self
                        .generation_dir(&name, n)
                        .ok()
                        .flatten()
                        .is_some_and(|g| g.stat(GENERATION_TOML).ok().flatten().is_some())
            });
            if !complete {
                out.push(Problem::new(
                    P::DanglingProfileLink,
                    dir.join(&name),
                    format!("points to {}, which is not a complete generation", target.display()),
                    format!("`berth generations {name}` lists what exists; switch to one of them (`berth switch {name} N`)"),
                ));
            }
        }
        Ok(())
    }

    fn check_shims(&self, out: &mut Vec<Problem>) -> Result<()> {
        let root = self.root().dir();
        if let Some(dir) = root.open_dir_opt(SHIMS)? {
            mode_of(&dir, ".", out);
            // Profiles that cannot be listed (a symlink in generations/, reported above)
            // leave no way to tell a dangling shim: then none is called dangling, so
            // --repair cannot remove a shim a hidden profile still needs.
            let wanted = shims::wanted(self, shims::Refresh::Exact).ok();
            let currents: Vec<(String, u64)> = self
                .list()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| self.current(&p).ok().flatten().map(|n| (p, n)))
                .collect();
            // Provided: the command resolves, inside the root, in some current generation,
            // or reaches a native package's absolute link there (`use` warned that it
            // resolves on the host; berth does not follow it).
            let provided = |name: &str| {
                currents.iter().any(|(p, n)| {
                    let rel = format!("generations/{p}/{n}/bin/{name}");
                    root.stat_beneath(&rel).is_some() || root.leads_out_beneath(&rel)
                })
            };
            for ent in dir.entries()? {
                let name = ent.name.to_string_lossy().into_owned();
                if is_temp(&name) {
                    out.push(Problem::leftover(dir.join(&name), "temporary link"));
                } else if !(ent.kind == Kind::Symlink && shims::is_ours(&dir, &name)?) {
                    out.push(Problem::new(
                        P::ForeignShim,
                        dir.join(&name),
                        "not a shim berth made (berth leaves it alone)",
                        "move it out of shims/ if it is not meant to be there",
                    ));
                } else if wanted
                    .as_ref()
                    .is_some_and(|w| !w.contains(&ent.name) || !provided(&name))
                {
                    out.push(
                        Problem::new(
                            P::DanglingShim,
                            dir.join(&name),
                            "no profile's current generation provides this command",
                            "`berth check --repair` removes it",
                        )
                        .repairable(),
                    );
                }
            }
        }
        self.check_shim_binary(out)
    }

    /// The shim binary every shim runs (present, 0755, the one built with this berth) and
    /// the mode of libexec/.
    fn check_shim_binary(&self, out: &mut Vec<Problem>) -> Result<()> {
        let root = self.root().dir();
        let bad_binary = match root.stat(SHIM_BINARY)? {
            None => root
                .open_dir_opt(SHIMS)?
                .is_some_and(|d| d.entries().is_ok_and(|e| !e.is_empty()))
                .then_some("missing, so no shim works"),
            Some(st)
                if crate::fsutil::dir::kind_of(&st) != Kind::File
                    || st.st_mode & 0o7777 != 0o755 =>
            {
                Some("not a 0755 regular file")
            }
            Some(_) => match shims::shim_binary_current(self.root())? {
                Some(false) => Some("differs from the shim built with this berth (replaced?)"),
                _ => None,
            },
        };
        if let Some(why) = bad_binary {
            out.push(
                Problem::new(
                    P::ShimBinary,
                    root.join(SHIM_BINARY),
                    why,
                    "`berth check --repair` installs the shim built with this berth",
                )
                .repairable(),
            );
        }
        if let Some(libexec) = root.open_dir_opt("libexec")? {
            mode_of(&libexec, ".", out);
        }
        Ok(())
    }

    /// Fixes what is safe: leftovers, dangling shims (berth's own only), the shim binary,
    /// loose modes.
    pub fn repair(&self, lock: &LockedFile, problems: &[Problem]) -> Result<Vec<PathBuf>> {
        let mut done = super::leftovers::paths(self)?;
        super::leftovers::clean(self, lock)?;
        let root = self.root();
        for p in problems {
            let Ok(rel) = p.path.strip_prefix(root.path()) else {
                continue;
            };
            let rel = rel.to_string_lossy();
            match p.kind {
                P::DanglingShim => {
                    root.dir().remove_file(&rel)?;
                    done.push(p.path.clone());
                }
                P::ShimBinary if shims::built_shim().is_some() => {
                    shims::ensure_shim_binary(root, lock)?;
                    done.push(p.path.clone());
                }
                P::Permissions => {
                    if let Some(st) = root.dir().stat(&rel)? {
                        let _ = root.dir().chmod(&rel, st.st_mode & 0o7755);
                        done.push(p.path.clone());
                    }
                }
                _ => {}
            }
        }
        Ok(done)
    }
}

/// Whether a link at `rel` (inside a generation) with text `target` resolves, lexically,
/// into the generation's `pkgs/` (and so, through those links, into the store).
fn stays_in_pkgs(rel: &str, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut stack: Vec<String> = rel.split('/').map(str::to_string).collect();
    stack.pop();
    for c in target.components() {
        match c {
            Component::ParentDir => {
                if stack.pop().is_none() {
                    return false;
                }
            }
            Component::Normal(s) => stack.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return false,
        }
    }
    stack.len() >= 2 && stack[0] == PKGS
}

#[cfg(test)]
mod tests {
    use super::stays_in_pkgs;
    use std::path::Path;

    #[test]
    fn merged_tree_links_must_lead_into_pkgs() {
        assert!(stays_in_pkgs("bin/x", Path::new("../pkgs/a/bin/x")));
        assert!(stays_in_pkgs("share", Path::new("pkgs/a/share")));
        assert!(stays_in_pkgs("a/b/c", Path::new("../../pkgs/p/a/b/c")));
        assert!(!stays_in_pkgs("bin/x", Path::new("/etc/shadow")));
        assert!(!stays_in_pkgs("bin/x", Path::new("../../../../../etc")));
        assert!(!stays_in_pkgs("bin/x", Path::new("../generation.toml")));
        assert!(!stays_in_pkgs("share", Path::new("pkgs")));
    }
}
