//! `run --isolate`: a directory a profile's package ships that no *other* host package owns
//! shows the profile's content only (host files beneath it hidden), while shared directories
//! keep merging with the host. Ownership comes from a fake dpkg database
//! (`BERTH_DPKG_ADMIN=<dir>` with `info/*.list`) over a host directory the test makes
//! under /var/tmp (the one place of the host every user may write and berth may overlay),
//! and from the real host's dpkg with Debian's own nginx-common.

use crate::common::isolate::*;
use crate::common::native::debian_deb_or_skip;
use crate::common::{Env, Run};
use std::path::{Path, PathBuf};

/// A host directory under /var/tmp, removed on drop.
struct HostDir(PathBuf);

impl HostDir {
    fn new(e: &Env) -> HostDir {
        let name = e.dir().file_name().unwrap().to_str().unwrap();
        let d = HostDir(Path::new("/var/tmp").join(format!("owned-{name}")));
        for f in [
            "shared/host.txt",
            "own/host.txt",
            "own/sub/host.txt",
            "mine/host.txt",
        ] {
            let p = d.0.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "host\n").unwrap();
        }
        d
    }

    /// The directory as packages name it (`var/tmp/owned-…`).
    fn rel(&self) -> String {
        self.0.strip_prefix("/").unwrap().display().to_string()
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dpkg admin directory whose `info/` holds these (package, paths) lists.
fn fake_dpkg(e: &Env, lists: &[(&str, Vec<String>)]) -> PathBuf {
    let admin = e.dir().join("dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    for (pkg, paths) in lists {
        let mut text = "/.\n".to_string();
        for p in paths {
            text.push_str(&format!("{p}\n"));
        }
        std::fs::write(admin.join("info").join(format!("{pkg}.list")), text).unwrap();
    }
    admin
}

/// `app@1.0`: a file in each of `shared/`, `own/`, `mine/` of the host directory,
/// `[[config]] own/app.conf`, `[[writable]] own/data` (in no package and not on the host)
/// and `[[writable]] own/sub` (on the host only: its host files must not show), and a doc
/// directory under /usr/share/doc.
fn install_app(e: &Env, host: &HostDir) {
    let r = host.rel();
    let files: Vec<(String, &[u8])> = vec![
        (format!("{r}/shared/pkg.txt"), b"pkg\n"),
        (format!("{r}/own/pkg.txt"), b"pkg\n"),
        (format!("{r}/own/app.conf"), b"setting = 1\n"),
        (format!("{r}/mine/pkg.txt"), b"pkg\n"),
        ("usr/share/doc/app-owned-test/README".into(), b"readme\n"),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    let manifest = format!(
        "[[config]]\npath = \"{r}/own/app.conf\"\n\n[[writable]]\npath = \"{r}/own/data\"\n\n\
         [[writable]]\npath = \"{r}/own/sub\"\n"
    );
    e.package_with("app", "1.0", &refs, &manifest);
    e.ok(&["use", "site", "app@1.0"]);
}

fn run_in(e: &Env, admin: &Path, script: &str) -> Run {
    let out = e
        .cmd(&["-v", "run", "--isolate", "site", "--", "sh", "-c", script])
        .env("BERTH_DPKG_ADMIN", admin)
        .current_dir("/")
        .output()
        .unwrap();
    Run::from(out)
}

#[test]
fn a_directory_no_other_host_package_owns_shows_only_the_package() {
    if needs_isolation("a_directory_no_other_host_package_owns_shows_only_the_package") {
        return;
    }
    let e = Env::new();
    let host = HostDir::new(&e);
    let d = host.0.display().to_string();
    // The host directory itself belongs to a base package, shared/ also to another one,
    // mine/ only to a host package named like the profile's; own/ to nobody.
    let admin = fake_dpkg(
        &e,
        &[
            (
                "base-files",
                vec!["/var".into(), "/var/tmp".into(), d.clone()],
            ),
            ("other", vec![format!("{d}/shared")]),
            ("app", vec![format!("{d}/shared"), format!("{d}/mine")]),
        ],
    );
    install_app(&e, &host);
    let r = run_in(
        &e,
        &admin,
        &format!(
            "cd {d} && ls shared; echo --; ls own; echo --; ls mine; echo --; ls own/sub; \
             echo --; cat own/app.conf; echo written > own/data/f && cat own/data/f"
        ),
    )
    .ok();
    assert_eq!(
        r.stdout,
        "host.txt\npkg.txt\n--\napp.conf\ndata\npkg.txt\nsub\n--\npkg.txt\n--\n--\n\
         setting = 1\nwritten\n",
        "{r}"
    );
    assert!(
        r.stderr.contains(&format!(
            "{d}/own is the package's (no host package owns it)"
        )),
        "{r}"
    );
    assert!(
        r.stderr.contains(&format!(
            "{d}/mine is the package's (on the host only app owns it"
        )),
        "{r}"
    );
    assert!(!r.stderr.contains(&format!("{d}/shared is")), "{r}");
    assert!(!r.stderr.contains(&format!("{d} is")), "{r}");
    // The host's files are where they were, and nothing of the profile reached the host.
    assert!(host.0.join("own/sub/host.txt").exists());
    assert!(!host.0.join("own/data").exists());
    assert!(!host.0.join("own/pkg.txt").exists());
}

#[test]
fn without_dpkg_only_the_fhs_shared_directories_merge_with_the_host() {
    if needs_isolation("without_dpkg_only_the_fhs_shared_directories_merge_with_the_host") {
        return;
    }
    let e = Env::new();
    let host = HostDir::new(&e);
    let d = host.0.display().to_string();
    install_app(&e, &host);
    // An admin directory without info/: a host without dpkg.
    let admin = e.dir().join("no-dpkg");
    std::fs::create_dir(&admin).unwrap();
    let r = run_in(
        &e,
        &admin,
        &format!("ls {d}/shared; echo --; ls /usr/share/doc | grep -c -v app-owned-test"),
    )
    .ok();
    let (shared, docs) = r.stdout.split_once("--\n").unwrap();
    // The test's directory is in no FHS list: all of it is the package's.
    assert_eq!(shared, "pkg.txt\n", "{r}");
    // /usr/share/doc is shared: the host's documentation still shows.
    assert!(docs.trim().parse::<u32>().unwrap() > 0, "{r}");
    assert!(r.stderr.contains("the host has no dpkg database"), "{r}");
    assert!(r.stderr.contains(&format!("{d} is the package's")), "{r}");
}

#[test]
fn debian_nginx_common_hides_the_host_s_enabled_sites() {
    let test = "debian_nginx_common_hides_the_host_s_enabled_sites";
    if needs_isolation(test) {
        return;
    }
    let Some(deb) = debian_deb_or_skip(test, "nginx-common", "1.22.1-9+deb12u9") else {
        return;
    };
    let host_default = Path::new("/etc/nginx/sites-enabled/default");
    if std::fs::symlink_metadata(host_default).is_err() {
        eprintln!(
            "note: {test}: the host has no {}: nothing to hide",
            host_default.display()
        );
    }
    let e = Env::new();
    e.install(&deb, &[]);
    e.ok(&["use", "site", "nginx-common@1.22.1-9+deb12u9"]);
    let out = e
        .cmd(&[
            "-v",
            "run",
            "--isolate",
            "site",
            "--",
            "sh",
            "-c",
            "ls -A /etc/nginx/sites-enabled; echo --; grep -c worker_connections \
             /etc/nginx/nginx.conf; ls /etc/default | grep -c -v nginx",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    let r = Run::from(out).ok();
    // sites-enabled/ holds only what the profile's own nginx-common made (its postinst's
    // link, in the nginx-common+scripts entry when the scripts could run), never the host's
    // files. nginx.conf (a config bind under the package's /etc/nginx) is there; /etc/default
    // still merges with the host.
    let (sites, rest) = r.stdout.split_once("--\n").unwrap();
    let profile_made_default = std::fs::read_dir(e.store()).unwrap().any(|d| {
        let d = d.unwrap();
        d.file_name()
            .to_string_lossy()
            .starts_with("nginx-common+scripts-")
            && std::fs::symlink_metadata(d.path().join("etc/nginx/sites-enabled/default")).is_ok()
    });
    let expected = if profile_made_default {
        "default\n"
    } else {
        ""
    };
    assert_eq!(sites, expected, "{r}");
    let mut lines = rest.lines();
    assert_eq!(lines.next(), Some("1"), "{r}");
    assert!(lines.next().unwrap().parse::<u32>().unwrap() > 0, "{r}");
    if std::fs::symlink_metadata(host_default).is_ok() {
        assert!(r.stderr.contains("/etc/nginx is the package's"), "{r}");
    }
}
