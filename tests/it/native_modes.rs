//! File modes of native packages (issue 21): a .deb built with `dpkg-deb` ships a 0600 and
//! a 0640 file. The store keeps them 0400 and 0440 (never writable, owned by root when
//! root installs), `verify` and `check` hold them to those modes, another user cannot read
//! them through the store, and root inside `run --isolate` still can; a private conffile's
//! seeded copy is 0640, not 0644. A berth package's
//! files keep 0444/0555 and their ids (`listing.rs`'s unit tests).

use crate::common::have;
use crate::common::isolate::{is_root, isolated, needs_root};
use crate::common::native::{build_deb, Deb};
use crate::common::Env;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `secret` 1.0: `usr/share/secret/key` 0600, `usr/share/secret/group` 0640 and the
/// conffile `etc/secret/secret.conf` 0640, in profile `p`. Returns its store entry.
fn secret(env: &Env) -> PathBuf {
    let deb = build_deb(
        env.dir(),
        "secret",
        "1.0",
        &Deb {
            conffile: true,
            files: &[
                ("usr/share/secret/key", 0o600, b"the key\n"),
                ("usr/share/secret/group", 0o640, b"the group's\n"),
                ("etc/secret/secret.conf", 0o640, b"password = 1\n"),
            ],
            ..Deb::default()
        },
    );
    env.install(&deb, &[]);
    env.run(&["use", "p", "secret@1.0"]).ok();
    std::fs::read_dir(env.store())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("secret")
        })
        .expect("secret's entry in the store")
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_debs_private_files_keep_their_modes_minus_write_bits() {
    if !have("dpkg-deb", "modes of a .deb") {
        return;
    }
    let env = Env::new();
    let e = secret(&env);
    assert_eq!(mode(&e.join("usr/share/secret/key")), 0o400);
    assert_eq!(mode(&e.join("usr/share/secret/group")), 0o440);
    assert_eq!(mode(&e.join("usr/share/secret/VERSION")), 0o444);
    assert_eq!(mode(&e.join("usr/bin/secret")), 0o555);
    if is_root() {
        assert_eq!(
            std::fs::metadata(e.join("usr/share/secret/key"))
                .unwrap()
                .uid(),
            0
        );
    }
    let list = std::fs::read_to_string(e.join(".berth/files")).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("f\t400\t") && l.ends_with("\tusr/share/secret/key")),
        "{list}"
    );
    env.ok(&["verify", "secret"]);
    env.ok(&["check"]);
    // The same content with another mode is another object: a second package shipping
    // the key 0644 gets its own 0444 file, and the 0400 one stays 0400.
    let open = build_deb(
        env.dir(),
        "opened",
        "1.0",
        &Deb {
            files: &[("usr/share/secret/key", 0o644, b"the key\n")],
            ..Deb::default()
        },
    );
    env.install(&open, &[]);
    assert_eq!(mode(&e.join("usr/share/secret/key")), 0o400);
    env.ok(&["check"]);
    // A mode changed in the store is told by verify.
    std::fs::set_permissions(
        e.join("usr/share/secret/key"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    let r = env.run(&["verify", "secret"]);
    assert_ne!(r.code, 0, "{r}");
    assert!(r.all().contains("expected 400"), "{r}");
}

#[test]
fn another_user_cannot_read_a_private_file_but_root_inside_the_view_can() {
    if needs_root("another_user_cannot_read_a_private_file") || !have("runuser", "modes") {
        return;
    }
    let env = Env::new();
    // Others may pass through the scratch directory (not list it), so only the file's
    // own mode stands between nobody and its content.
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let e = secret(&env);
    let cat_as_nobody = |p: &Path| {
        Command::new("runuser")
            .args(["-u", "nobody", "--", "cat"])
            .arg(p)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let public = cat_as_nobody(&e.join("usr/share/secret/VERSION"));
    assert!(public.status.success(), "{public:?}");
    for f in ["key", "group"] {
        let out = cat_as_nobody(&e.join("usr/share/secret").join(f));
        assert!(!out.status.success(), "nobody read {f}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "{out:?}"
        );
    }
    // Nor through the profile, with a plain run as nobody.
    let through = env.root().join("profiles/p/usr/share/secret/key");
    let r = env.run(&[
        "run",
        "p",
        "--user",
        "nobody",
        "--",
        "cat",
        through.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("Permission denied"), "{r}");
    let inside = isolated(&env, &["p", "--", "cat", "/usr/share/secret/key"]).ok();
    assert_eq!(inside.stdout, "the key\n");
    // The config copy seeded for the profile is writable by its owner, and still not
    // readable by others.
    let conf = isolated(&env, &["p", "--", "cat", "/etc/secret/secret.conf"]).ok();
    assert_eq!(conf.stdout, "password = 1\n");
    let seeded = env.root().join("etc/p/secret/etc/secret/secret.conf");
    assert_eq!(mode(&seeded), 0o640);
    let r = isolated(
        &env,
        &[
            "p",
            "--user",
            "nobody",
            "--",
            "cat",
            "/usr/share/secret/key",
        ],
    );
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("Permission denied"), "{r}");
}
