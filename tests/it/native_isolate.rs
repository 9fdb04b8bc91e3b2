//! Native packages under `run --isolate` (issue 9): two versions of a .deb built with
//! `dpkg-deb` (one xz, one zstd) run side by side at their canonical paths at the same time,
//! a conffile edited by the service stays in `<root>/etc/<profile>/` across a switch and
//! back, and a real Debian package (`hello`, fetched with `apt-get download`) runs isolated
//! at `/usr/bin/hello`, which the host does not have. The host's `/usr` and mount table are
//! the same afterwards.

use crate::common::have;
use crate::common::isolate::{
    isolated, mountinfo, names, needs_isolation, no_leftover_mounts, Shell,
};
use crate::common::native::{build_deb, debian_hello_or_skip, Deb};
use crate::common::Env;
use std::path::Path;

const V1: &str = "1:2.0~rc1-3";
const V2: &str = "1:2.0-1";

/// demo@V1 (xz) in profile a, demo@V2 (zstd) in profile b, both with a conffile.
fn two_debs(env: &Env) {
    for (v, compression) in [(V1, "xz"), (V2, "zstd")] {
        let deb = build_deb(
            env.dir(),
            "demo",
            v,
            &Deb {
                compression,
                conffile: true,
                ..Deb::default()
            },
        );
        env.install(&deb, &[]);
    }
    env.run(&["use", "a", &format!("demo@{V1}")]).ok();
    env.run(&["use", "b", &format!("demo@{V2}")]).ok();
}

#[test]
fn two_deb_versions_run_isolated_side_by_side_and_the_host_never_changes() {
    if needs_isolation("two_deb_versions_run_isolated_side_by_side")
        || !have("dpkg-deb", "isolate .deb")
    {
        return;
    }
    let usr = (names(Path::new("/usr/bin")), names(Path::new("/usr/share")));
    let mounts = mountinfo();
    let env = Env::new();
    two_debs(&env);
    let mut a = Shell::start(&env, "a");
    assert_eq!(a.ask("cat /usr/share/demo/VERSION"), V1);
    assert_eq!(a.ask("/usr/bin/demo"), format!("demo {V1}"));
    let b = isolated(
        &env,
        &["b", "--", "sh", "-c", "cat /usr/share/demo/VERSION; demo"],
    )
    .ok();
    assert_eq!(b.stdout, format!("{V2}\ndemo {V2}\n"));
    // a still sees its own version while b ran beside it.
    assert_eq!(a.ask("demo"), format!("demo {V1}"));
    assert_eq!(a.ask("cat /etc/demo/demo.conf"), "color = blue");
    assert!(a.finish().success());
    assert_eq!(
        (names(Path::new("/usr/bin")), names(Path::new("/usr/share"))),
        usr,
        "the host's /usr changed"
    );
    for p in ["/usr/share/demo", "/usr/bin/demo", "/etc/demo"] {
        assert!(!Path::new(p).exists(), "{p} appeared on the host");
    }
    no_leftover_mounts(&env, &mounts);
}

#[test]
fn a_conffile_edited_in_the_service_survives_a_switch_and_back() {
    if needs_isolation("a_conffile_edited_in_the_service_survives")
        || !have("dpkg-deb", "isolate .deb")
    {
        return;
    }
    let env = Env::new();
    two_debs(&env);
    isolated(
        &env,
        &[
            "a",
            "--",
            "sh",
            "-c",
            "echo 'size = 3' >> /etc/demo/demo.conf",
        ],
    )
    .ok();
    let kept = env.root().join("etc/a/demo/etc/demo/demo.conf");
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        "color = blue\nsize = 3\n"
    );
    let show = ["a", "--", "sh", "-c", "demo; cat /etc/demo/demo.conf"];
    env.run(&["use", "a", &format!("demo@{V2}")]).ok();
    assert_eq!(
        isolated(&env, &show).ok().stdout,
        format!("demo {V2}\ncolor = blue\nsize = 3\n")
    );
    env.run(&["rollback", "a"]).ok();
    assert_eq!(
        isolated(&env, &show).ok().stdout,
        format!("demo {V1}\ncolor = blue\nsize = 3\n")
    );
    // Profile b's copy is its own, seeded from its own version's shipped file.
    assert_eq!(
        isolated(&env, &["b", "--", "cat", "/etc/demo/demo.conf"])
            .ok()
            .stdout,
        "color = blue\n"
    );
}

#[test]
fn debian_hello_runs_isolated_at_usr_bin_hello() {
    if needs_isolation("debian_hello_runs_isolated_at_usr_bin_hello") {
        return;
    }
    let Some(deb) = debian_hello_or_skip("hello run isolated") else {
        return;
    };
    let host_has_hello = Path::new("/usr/bin/hello").exists();
    let mounts = mountinfo();
    let env = Env::new();
    env.install(&deb, &[]);
    env.run(&["use", "greet", "hello"]).ok();
    let out = isolated(&env, &["greet", "--", "/usr/bin/hello"]).ok();
    assert_eq!(out.stdout, "Hello, world!\n");
    let out = isolated(
        &env,
        &["greet", "--", "/usr/bin/hello", "--greeting=side by side"],
    )
    .ok();
    assert_eq!(out.stdout, "side by side\n");
    assert_eq!(
        Path::new("/usr/bin/hello").exists(),
        host_has_hello,
        "the host's /usr/bin/hello changed"
    );
    no_leftover_mounts(&env, &mounts);
}
