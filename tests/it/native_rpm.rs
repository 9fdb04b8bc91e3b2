//! .rpm packages into the store (issue 9, point 3): real packages built with `rpmbuild`
//! (xz, zstd and gzip payloads, an epoch, a hard link, a symlink, a `%config` file,
//! Requires and a `%post` scriptlet) install side by side, `info` shows their header
//! fields, Requires, config files and scriptlets not run, and each profile runs its own
//! version through its bin/.

use crate::common::have;
use crate::common::native::{build_rpm, field, Rpm};
use crate::common::Env;
use std::os::unix::fs::MetadataExt;

#[test]
fn rpm_versions_install_side_by_side_and_run_from_their_profiles() {
    if !have(
        "rpmbuild",
        "rpm_versions_install_side_by_side_and_run_from_their_profiles",
    ) {
        return;
    }
    let env = Env::new();
    let xz = build_rpm(
        env.dir(),
        "myapp",
        "2.1",
        "1",
        &Rpm {
            epoch: None,
            payload: "w9.xzdio",
        },
    );
    let zst = build_rpm(
        env.dir(),
        "myapp",
        "2.2",
        "1",
        &Rpm {
            epoch: Some(1),
            payload: "w19.zstdio",
        },
    );
    let gz = build_rpm(
        env.dir(),
        "myapp",
        "2.0",
        "3",
        &Rpm {
            epoch: None,
            payload: "w9.gzdio",
        },
    );
    let r = env
        .run(&[
            "--json",
            "install",
            xz.to_str().unwrap(),
            zst.to_str().unwrap(),
            gz.to_str().unwrap(),
        ])
        .ok();
    let rows = r.json();
    let versions: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["2.1-1", "1:2.2-1", "2.0-3"]);
    assert_eq!(
        r.stderr.matches("maintainer scripts").count(),
        3,
        "one warning per package: {}",
        r.stderr
    );
    assert!(r.stderr.contains("%post"), "{}", r.stderr);
    let listed: Vec<String> = env.listed().into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(
        listed,
        vec!["2.0-3", "2.1-1", "1:2.2-1"],
        "rpm versions in Debian order"
    );

    let info = env.json(&["info", "myapp@1:2.2-1"]);
    assert_eq!(info["origin"]["format"], "rpm");
    assert_eq!(info["native"]["format"], "rpm");
    assert_eq!(info["native"]["architecture"], "noarch");
    assert_eq!(field(&info, "Name"), "myapp");
    assert_eq!(field(&info, "Version"), "2.2");
    assert_eq!(field(&info, "Release"), "1");
    assert_eq!(field(&info, "Epoch"), "1");
    assert_eq!(field(&info, "Summary"), "berth test package myapp");
    assert_eq!(
        info["manifest"]["package"]["description"],
        "berth test package myapp"
    );
    let requires: Vec<&str> = info["native"]["requires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(requires.contains(&"coreutils >= 8.0"), "{requires:?}");
    assert_eq!(
        requires.iter().filter(|r| **r == "/bin/sh").count(),
        1,
        "{requires:?}"
    );
    assert_eq!(
        info["native"]["conffiles"],
        serde_json::json!(["/etc/myapp/myapp.conf"])
    );
    assert_eq!(
        info["manifest"]["config"],
        serde_json::json!([{"path": "etc/myapp/myapp.conf"}])
    );
    assert_eq!(
        info["native"]["scripts_not_run"],
        serde_json::json!(["%post"])
    );
    let human = env.run(&["info", "myapp@1:2.2-1"]).ok().stdout;
    for want in [
        "Name: myapp",
        "coreutils >= 8.0",
        "/etc/myapp/myapp.conf",
        "%post",
        "not run",
    ] {
        assert!(human.contains(want), "{want} missing from:\n{human}");
    }

    // The entry holds the tree: the hard link is one inode, the symlink stays relative.
    let id = info["id"].as_str().unwrap();
    let entry = env.entry_dir("myapp", "1:2.2-1", id);
    let a = std::fs::metadata(entry.join("usr/share/myapp/VERSION")).unwrap();
    let b = std::fs::metadata(entry.join("usr/share/myapp/VERSION.link")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(
        std::fs::read_to_string(entry.join("usr/share/myapp/VERSION")).unwrap(),
        "2.2\n"
    );
    assert_eq!(
        std::fs::read_link(entry.join("usr/share/myapp/current"))
            .unwrap()
            .to_str(),
        Some("VERSION")
    );
    assert_eq!(
        std::fs::read_to_string(entry.join("etc/myapp/myapp.conf")).unwrap(),
        "color = blue\n"
    );

    env.run(&["use", "old", "myapp@2.1-1"]).ok();
    env.run(&["use", "new", "myapp@1:2.2-1"]).ok();
    assert_eq!(
        env.run(&["run", "old", "--", "myapp"]).ok().stdout,
        "myapp 2.1-1\n"
    );
    assert_eq!(
        env.run(&["run", "new", "--", "myapp"]).ok().stdout,
        "myapp 2.2-1\n"
    );
    assert!(!env.dir().join("post-ran").exists(), "%post must never run");
}

#[test]
fn reinstalling_the_same_rpm_changes_nothing() {
    if !have("rpmbuild", "reinstalling_the_same_rpm_changes_nothing") {
        return;
    }
    let env = Env::new();
    let rpm = build_rpm(env.dir(), "myapp", "2.1", "1", &Rpm::default());
    let first = env.install(&rpm, &[]);
    let again = env.install(&rpm, &[]);
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["id"], first["id"]);
}
