//! A seeded property test of config across generations: ≥ 200 random sequences of
//! `apply` (profile files and templates that change), `use` of another package version,
//! `rollback`, `switch` to any generation and operator edits, on one template output and
//! one package config file. After every step `etc/<profile>/` holds what the current
//! generation's rendering and package copy plus the operator's edits say (dpkg's 3-way
//! rule: untouched → replaced, edited → kept with the other copy waiting beside it as
//! `.berth-dist`), and every edit the operator ever made is still in the file.

use crate::common::crash::Rng;
use crate::common::*;
use std::path::Path;

/// Sequences run (each on a profile of its own, in one root).
const SEQUENCES: usize = 200;
/// Steps per sequence.
const STEPS: usize = 6;

/// One config file as the model sees it.
#[derive(Debug, Clone, Default)]
struct File {
    /// What berth last shipped there.
    shipped: Option<String>,
    /// On disk.
    disk: Option<String>,
    /// A `.berth-dist` waiting.
    dist: Option<String>,
    /// Markers of every edit made to it.
    edits: Vec<String>,
}

impl File {
    /// dpkg's rule, as a switch carries it out, with `old` the copy shipped before.
    fn ship(&mut self, old: Option<&str>, new: &str) {
        match (&self.disk, old) {
            (None, _) => {
                self.disk = Some(new.into());
                self.dist = None;
            }
            (_, Some(o)) if o == new => {}
            (Some(d), Some(o)) if d == o => {
                self.disk = Some(new.into());
                self.dist = None;
            }
            (Some(d), _) if d == new => {}
            _ => self.dist = Some(new.into()),
        }
        self.shipped = Some(new.into());
    }

    #[track_caller]
    fn check(&self, path: &Path, what: &str) {
        let disk = std::fs::read_to_string(path).ok();
        assert_eq!(disk, self.disk, "{what}: {}", path.display());
        let dist = std::fs::read_to_string(format!("{}.berth-dist", path.display())).ok();
        assert_eq!(dist, self.dist, "{what}: .berth-dist of {}", path.display());
        for e in &self.edits {
            assert!(
                disk.as_deref().is_some_and(|d| d.contains(e.as_str())),
                "{what}: the edit `{e}` of {} was lost",
                path.display()
            );
        }
    }
}

/// A generation as the model sees it.
#[derive(Debug, Clone, PartialEq)]
struct Gen {
    /// (port, template variant, package version) the profile file says.
    file: (u32, usize, &'static str),
    /// The package version it holds.
    package: &'static str,
}

const TEMPLATES: [&str; 2] = ["port = {{ port }}\n", "port = {{ port }}\nworkers = 2\n"];
const VERSIONS: [&str; 2] = ["1.0", "2.0"];

fn rendering(port: u32, variant: usize) -> String {
    TEMPLATES[variant].replace("{{ port }}", &port.to_string())
}

fn package_conf(version: &str) -> String {
    format!("v = {version}\n")
}

#[test]
fn config_follows_the_generation_and_no_edit_is_lost() {
    let env = Env::new();
    for v in VERSIONS {
        env.config_package("app", v, &package_conf(v));
    }
    for (i, t) in TEMPLATES.iter().enumerate() {
        env.profile_file(&format!("t/{i}.j2"), t);
    }
    let mut rng = Rng(0x5eed_c0f1_u64);
    // How often each interesting case came up, so the test cannot pass vacuously.
    let (mut waiting, mut back, mut kept) = (0, 0, 0);
    for seq in 0..SEQUENCES {
        let profile = format!("p{seq}");
        let spec = |port: u32, variant: usize, version: &str| {
            env.profile_file(
                &format!("{profile}.toml"),
                &format!(
                    "profile = \"{profile}\"\n[packages]\napp = \"{version}\"\n\
                     [config.\"site.ini\"]\ntemplate = \"t/{variant}.j2\"\n\
                     vars = {{ port = {port} }}\n"
                ),
            )
        };
        let tfile = env.etc(&profile, "site.ini");
        let pfile = env.etc(&profile, "app/etc/app.conf");
        let (mut t, mut p) = (File::default(), File::default());
        let mut gens: Vec<Gen> = Vec::new();
        let mut current: Option<usize> = None;
        let mut log = Vec::new();
        for step in 0..STEPS {
            let roll = rng.next() % 100;
            let what = match roll {
                _ if current.is_none() || roll < 35 => {
                    let port = 1 + (rng.next() % 3) as u32;
                    let variant = (rng.next() % 2) as usize;
                    let version = VERSIONS[(rng.next() % 2) as usize];
                    let file = spec(port, variant, version);
                    env.apply(&file, &[]).ok();
                    let want = Gen {
                        file: (port, variant, version),
                        package: version,
                    };
                    if current.map(|c| &gens[c]) != Some(&want) {
                        gens.push(want);
                        go(gens.len() - 1, &gens, &mut current, &mut t, &mut p);
                    }
                    format!("apply port={port} template={variant} app={version}")
                }
                35..=49 => {
                    let c = current.unwrap();
                    let version = VERSIONS[(rng.next() % 2) as usize];
                    env.ok(&["use", &profile, &format!("app@{version}")]);
                    if gens[c].package != version {
                        gens.push(Gen {
                            file: gens[c].file,
                            package: version,
                        });
                        go(gens.len() - 1, &gens, &mut current, &mut t, &mut p);
                    }
                    format!("use app@{version}")
                }
                50..=64 => {
                    let c = current.unwrap();
                    if c == 0 {
                        let r = env.run(&["rollback", &profile]);
                        assert_ne!(r.code, 0, "no earlier generation: {r}");
                    } else {
                        env.ok(&["rollback", &profile]);
                        go(c - 1, &gens, &mut current, &mut t, &mut p);
                    }
                    "rollback".to_string()
                }
                65..=79 => {
                    let to = (rng.next() % gens.len() as u64) as usize;
                    env.ok(&["switch", &profile, &(to + 1).to_string()]);
                    if Some(to) != current {
                        go(to, &gens, &mut current, &mut t, &mut p);
                    }
                    format!("switch {}", to + 1)
                }
                _ => {
                    let (f, path) = if rng.next().is_multiple_of(2) {
                        (&mut t, &tfile)
                    } else {
                        (&mut p, &pfile)
                    };
                    let mark = format!("# edit {seq}.{step}\n");
                    let mut d = f.disk.clone().unwrap_or_default();
                    d.push_str(&mark);
                    std::fs::write(path, &d).unwrap();
                    f.disk = Some(d);
                    f.edits.push(mark.trim().to_string());
                    format!("edit {}", path.file_name().unwrap().to_string_lossy())
                }
            };
            log.push(what);
            let at = format!("sequence {seq}, after {}", log.join(" → "));
            assert_eq!(env.current(&profile), current.map(|c| c as u64 + 1), "{at}");
            t.check(&tfile, &at);
            p.check(&pfile, &at);
            waiting += usize::from(t.dist.is_some()) + usize::from(p.dist.is_some());
            kept += usize::from(!t.edits.is_empty() && t.dist.is_none());
            back += usize::from(
                log.last()
                    .is_some_and(|l| l == "rollback" || l.starts_with("switch")),
            );
        }
    }
    assert!(
        waiting > 50 && back > 100 && kept > 50,
        "the sequences reach every case: {waiting} with a .berth-dist waiting, {back} switches \
         back, {kept} with an edit kept in place"
    );
}

/// A switch to generation index `to`: both files follow it.
fn go(to: usize, gens: &[Gen], current: &mut Option<usize>, t: &mut File, p: &mut File) {
    let g = &gens[to];
    let (port, variant, _) = g.file;
    let old_t = t.shipped.clone();
    t.ship(old_t.as_deref(), &rendering(port, variant));
    // A package's config file merges when the package changes, its old copy the one of
    // the generation left.
    let old_p = current.map(|c| package_conf(gens[c].package));
    if old_p.as_deref() != Some(package_conf(g.package).as_str()) {
        p.ship(old_p.as_deref(), &package_conf(g.package));
    }
    *current = Some(to);
}
