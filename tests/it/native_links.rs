//! Absolute symlinks of native packages (issue 21): a .deb ships `usr/bin/tool ->
//! /usr/lib/tool/run` as Debian's `openssl`, `sudo` and `tzdata` do. It installs with the
//! link recorded as written, `verify` and `check` treat the target as text (never following
//! it), `use` warns that through the shim it resolves on the host, and inside
//! `run --isolate` it resolves in the package's view. A member under such a link is still
//! refused (`native_hostile.rs`), and a tarball's absolute link too (`hostile.rs`).

use crate::common::have;
use crate::common::isolate::{isolated, needs_isolation};
use crate::common::native::{build_deb, Deb};
use crate::common::Env;
use std::path::PathBuf;

/// `linky` 1.0: `usr/bin/tool -> /usr/lib/tool/run` (the package's own file) and
/// `usr/share/linky/conf -> /etc/linky` (a link to a directory, never folded through).
fn linky(env: &Env) -> PathBuf {
    let deb = build_deb(
        env.dir(),
        "linky",
        "1.0",
        &Deb {
            files: &[(
                "usr/lib/tool/run",
                0o755,
                b"#!/bin/sh\necho \"run of the package\"\n",
            )],
            symlinks: &[
                ("usr/bin/tool", "/usr/lib/tool/run"),
                ("usr/share/linky/conf", "/etc/linky"),
            ],
            ..Deb::default()
        },
    );
    env.install(&deb, &[]);
    deb
}

/// The one store entry of `linky`.
fn entry(env: &Env) -> PathBuf {
    std::fs::read_dir(env.store())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("linky")
        })
        .expect("linky's entry in the store")
}

#[test]
fn a_deb_with_absolute_symlinks_installs_and_verify_and_check_pass() {
    if !have("dpkg-deb", "absolute symlinks in a .deb") {
        return;
    }
    let env = Env::new();
    linky(&env);
    let e = entry(&env);
    for (link, target) in [
        ("usr/bin/tool", "/usr/lib/tool/run"),
        ("usr/share/linky/conf", "/etc/linky"),
    ] {
        assert_eq!(
            std::fs::read_link(e.join(link)).unwrap(),
            PathBuf::from(target),
            "{link} is recorded as written"
        );
    }
    env.ok(&["verify", "linky"]);
    let r = env.run(&["use", "p", "linky@1.0"]).ok();
    assert!(
        r.stderr
            .contains("command `tool` of linky@1.0 goes through an absolute symlink")
            && r.stderr.contains("resolves on the host"),
        "{r}"
    );
    // Through the profile the link is still the package's text, never what lies beyond.
    assert_eq!(
        std::fs::read_link(env.root().join("profiles/p/usr/share/linky/conf")).unwrap(),
        PathBuf::from("/etc/linky")
    );
    assert!(
        std::fs::symlink_metadata(env.root().join("shims/tool")).is_ok(),
        "tool has its shim"
    );
    env.ok(&["check"]);
    // Editing the link's target is told as a change of its text.
    std::fs::remove_file(e.join("usr/bin/tool")).ok();
    if std::os::unix::fs::symlink("/bin/sh", e.join("usr/bin/tool")).is_ok() {
        let out = env.run(&["verify", "linky"]);
        assert_ne!(out.code, 0, "{out}");
        assert!(out.all().contains("expected `/usr/lib/tool/run`"), "{out}");
    }
}

#[test]
fn an_absolute_symlink_resolves_in_the_isolated_view() {
    if needs_isolation("an_absolute_symlink_resolves_in_the_isolated_view")
        || !have("dpkg-deb", "absolute symlinks in a .deb")
    {
        return;
    }
    let env = Env::new();
    linky(&env);
    env.run(&["use", "p", "linky@1.0"]).ok();
    let r = isolated(&env, &["p", "--", "/usr/bin/tool"]).ok();
    assert_eq!(r.stdout, "run of the package\n", "{r}");
}

#[test]
fn a_berth_package_with_an_absolute_symlink_is_still_refused() {
    // Only native packages mean their own absolute paths: `pack` refuses to make one.
    let env = Env::new();
    let src = env.source("abs", "1.0", &[("usr/share/abs/VERSION", b"1.0\n")]);
    std::os::unix::fs::symlink("/etc", src.join("usr/share/abs/etc")).unwrap();
    let out = env.dir().to_str().unwrap().to_string();
    let err = env.fails(&["pack", src.to_str().unwrap(), "-o", &out], 6);
    assert!(err.contains("symlink target `/etc` is absolute"), "{err}");
}
