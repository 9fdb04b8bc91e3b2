//! The confined run of a set's scripts, built from isolate's pieces: the profile's view
//! (the same overlays `run --isolate` builds) with every overlay writable into a throwaway
//! tmpfs layer, plus writable overlays of the host's etc, usr, var, opt and srv; a network
//! namespace of its own; root inside (the profile's id range as root, a user namespace of
//! the caller otherwise); a private /run (no /run/systemd/system) and /tmp under
//! `<root>/run/scripts/<pid>/`. The driver copies what was written after each package.

use super::stubs::{self, INSIDE};
use crate::error::{Error, Result};
use crate::isolate::hold;
use crate::isolate::instance::{self, Boundary};
use crate::isolate::launch::{privileges_for, Source};
use crate::isolate::mounts::{Private, Upper};
use crate::isolate::namespace::{self, Mode};
use crate::isolate::plan;
use crate::isolate::upper::Scratch;
use crate::lock::LockedFile;
use crate::store::{Entry, Store};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Host directories every confined run may write over (into its throwaway layer).
const WRITABLE_TOPS: [&str; 5] = ["etc", "usr", "var", "opt", "srv"];

/// One script to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Package name.
    pub package: String,
    /// Its architecture.
    pub arch: String,
    /// `preinst` or `postinst`.
    pub script: String,
    /// Its text.
    pub text: String,
    /// Which package of the run (0-based, in order) it belongs to.
    pub index: usize,
}

/// What a run left: the scratch directories (removed on drop by the caller) and where
/// the driver wrote.
pub struct Ran {
    /// The scratch directories.
    pub scratch: Scratch,
    /// `<run>/berth/out`: records, `<n>.log`, `<n>.status`, `snap/<k>`, `targets`.
    pub out: PathBuf,
}

/// The per-script time limit.
pub fn limit() -> u64 {
    std::env::var(crate::env::BERTH_SCRIPT_TIMEOUT)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(60)
}

/// Runs `jobs` (in order; package `k`'s layer is copied after its last script) in the
/// view of `entries` (in precedence order). An error means nothing ran.
pub fn run(
    store: &Store,
    lock: &LockedFile,
    profile: &str,
    entries: &[Entry],
    jobs: &[Job],
    packages: usize,
) -> Result<Ran> {
    let root = store.root();
    let mode = Mode::for_caller();
    namespace::check_kernel(mode)?;
    let mut p = plan::plan(
        entries,
        vec![],
        &root.path().join(crate::root::STORE),
        &hold::mount_point_dir(root),
        Path::new("/"),
    )?;
    plan::add_tops(&mut p, &WRITABLE_TOPS, Path::new("/"))?;
    let range = match mode {
        Mode::Root => Some(crate::isolate::users::range_for(root, lock, profile)?),
        Mode::UserNamespace { .. } => None,
    };
    let owner = match range {
        Some(b) => (b, b),
        None => (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ),
    };
    // The hold's mount point directory (run/mnt) must exist for the plan's scratch layer.
    let hold = hold::Hold::create(root, lock, profile, 0, &[])?;
    let scratch = Scratch::create(root, lock, owner)?;
    let result = (|| {
        let berth = scratch.run.join("berth");
        let out = berth.join("out");
        for d in [&berth, &out, &berth.join("layer"), &berth.join("scripts")] {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
        }
        nix::unistd::chown(&out, Some(owner.0.into()), Some(owner.1.into()))
            .map_err(|e| Error::io("chown", &out, e.into()))?;
        stubs::write(&berth)?;
        let mut list = String::new();
        let mut last = None;
        for (n, j) in jobs.iter().enumerate() {
            if let Some(k) = last.filter(|k| *k != j.index) {
                list.push_str(&format!("snap {k}\n"));
            }
            last = Some(j.index);
            let f = berth
                .join("scripts")
                .join(format!("{}.{}", j.package, j.script));
            std::fs::write(&f, &j.text).map_err(|e| Error::io("write", &f, e))?;
            // debconf's confmodule runs the script again by its path.
            std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(|e| Error::io("chmod", &f, e))?;
            let arg = if j.script == "postinst" {
                "configure"
            } else {
                "install"
            };
            list.push_str(&format!(
                "run {n} {} {} {} {arg}\n",
                j.package, j.arch, j.script
            ));
        }
        if let Some(k) = last {
            list.push_str(&format!("snap {k}\n"));
        }
        let _ = packages;
        let lf = berth.join("list");
        std::fs::write(&lf, list).map_err(|e| Error::io("write", &lf, e))?;
        let accounts = crate::isolate::accounts::Accounts::of(entries);
        let privs = privileges_for(None, (&[], Source::Flag), true, &accounts)?;
        let boundary = Boundary {
            range,
            private: Private {
                root: root.path().to_path_buf(),
                tmp: scratch.tmp.clone(),
                run: scratch.run.clone(),
                accounts: None,
            },
            cwd: None,
            hold_fd: Some(hold.raw_fd()),
        };
        let env = environment();
        let argv: Vec<OsString> = vec!["/bin/sh".into(), format!("{INSIDE}/driver.sh").into()];
        let cmd = instance::Command {
            argv: &argv,
            env: &env,
            profile,
            pre: &[],
        };
        let upper = Upper {
            layer: scratch.layer.clone(),
            visible_at: PathBuf::from(INSIDE).join("layer"),
        };
        instance::run_confined(&p, mode, &boundary, &privs, &cmd, &upper)?;
        Ok(out)
    })();
    hold.release();
    match result {
        Ok(out) => Ok(Ran { scratch, out }),
        Err(e) => {
            scratch.remove();
            Err(e)
        }
    }
}

/// The scripts' environment: nothing of berth's caller.
fn environment() -> Vec<(OsString, OsString)> {
    let path = format!("{INSIDE}/stubs:/usr/sbin:/usr/bin:/sbin:/bin");
    [
        ("PATH", path),
        ("DEBIAN_FRONTEND", "noninteractive".into()),
        ("DEBCONF_NONINTERACTIVE_SEEN", "true".into()),
        ("LC_ALL", "C".into()),
        ("HOME", "/root".into()),
        ("BERTH_LIMIT", limit().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect()
}
