//! `berth check`: each kind of damage is detected, named with its path, and only the safe
//! ones are repaired.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A root with one profile using one package with a few files, one shared with another
/// (pinned) package.
fn healthy() -> (Env, String) {
    let t = Env::new();
    let e = t.install_tar(
        "app",
        "1",
        &[
            ("bin/app", b"#!/bin/sh\necho app\n".to_vec()),
            ("share/data", bytes("data", 20_000)),
            ("share/common", bytes("common", 8_000)),
        ],
    );
    t.install_tar("other", "1", &[("share/common2", bytes("common", 8_000))]);
    t.ok(&["pin", "other@1"]);
    t.ok(&["use", "site", "app@1"]);
    (t, e)
}

fn kinds(v: &serde_json::Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Runs check --json expecting failure (exit 5); returns the report.
fn failing(t: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json", "check"];
    a.extend_from_slice(args);
    let o = t.run(&a);
    assert_eq!(o.code, 5, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

fn object_of(t: &Env, entry: &str, rel: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(t.root().join("store").join(entry).join(rel))
        .unwrap()
        .ino();
    let pool = t.root().join("store/.objects");
    for s in children(&pool) {
        for o in children(&pool.join(&s)) {
            let p = pool.join(&s).join(&o);
            if std::fs::metadata(&p).unwrap().ino() == ino {
                return p;
            }
        }
    }
    panic!("no object for {rel}");
}

#[test]
fn check_passes_on_a_healthy_root() {
    let (t, _) = healthy();
    let out = t.ok(&["check"]);
    assert!(out.contains("no problems"), "{out}");
    t.ok(&["check", "--quick"]);
    let v = t.json(&["check"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["checked"]["entries"], 2);
}

#[test]
fn check_detects_a_dangling_profile_link() {
    let (t, _) = healthy();
    let link = t.root().join("profiles/site");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../generations/site/99", &link).unwrap();
    let v = failing(&t, &[]);
    // The shim of the profile's command leads nowhere now as well.
    assert_eq!(kinds(&v), vec!["dangling-profile-link", "dangling-shim"]);
    assert!(v["problems"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("profiles/site"));
    // Not something repair may touch.
    let v = failing(&t, &["--repair"]);
    assert_eq!(kinds(&v), vec!["dangling-profile-link"]);
}

#[test]
fn check_detects_a_missing_entry() {
    let (t, e) = healthy();
    let dir = t.root().join("store").join(&e);
    // Moving a directory to another parent rewrites its `..`: it needs u+w on the entry
    // (0555) as a user who is not root.
    unseal(&dir);
    std::fs::rename(&dir, t.dir().join("gone")).unwrap();
    let v = failing(&t, &["--quick"]);
    let k = kinds(&v);
    assert!(k.contains(&"missing-entry".to_string()), "{k:?}");
    let text = t.run(&["check"]).stdout;
    assert!(text.contains(&e) && text.contains("hint:"), "{text}");
}

#[test]
fn check_detects_a_modified_store_file() {
    let (t, e) = healthy();
    let f = t.root().join("store").join(&e).join("share/data");
    let mut content = std::fs::read(&f).unwrap();
    content[100] ^= 1; // same size: only a full check sees it
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&f, &content).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
    let v = failing(&t, &[]);
    let k = kinds(&v);
    assert!(k.contains(&"modified-entry".to_string()), "{k:?}");
    assert!(k.contains(&"corrupt-object".to_string()), "{k:?}");
    assert!(v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["path"].as_str().unwrap().ends_with("share/data")));
    // --quick compares sizes only, so it misses this one.
    t.ok(&["check", "--quick"]);
}

#[test]
fn check_detects_a_missing_object() {
    let (t, e) = healthy();
    let obj = object_of(&t, &e, "share/data");
    std::fs::remove_file(&obj).unwrap();
    let v = failing(&t, &["--quick"]);
    assert_eq!(kinds(&v), vec!["missing-object"]);
    assert_eq!(
        v["problems"][0]["path"].as_str().unwrap(),
        obj.to_str().unwrap()
    );
}

#[test]
fn check_detects_a_stray_staging_directory_and_repair_removes_it() {
    let (t, _) = healthy();
    let s = t.root().join("store/.staging/txn-42/tree/sub");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(s.join("f"), b"x").unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o555)).unwrap();
    let v = failing(&t, &["--quick"]);
    assert_eq!(kinds(&v), vec!["leftover"]);
    assert_eq!(v["problems"][0]["repairable"], true);
    let r = t.json(&["check", "--repair"]);
    assert_eq!(r["ok"], true);
    assert!(!t.root().join("store/.staging/txn-42").exists());
    t.ok(&["check"]);
}

#[test]
fn check_reports_stray_files_and_repair_leaves_them() {
    let (t, _) = healthy();
    std::fs::write(t.root().join("notes.txt"), b"mine").unwrap();
    std::fs::write(t.root().join("store/README"), b"mine").unwrap();
    let v = failing(&t, &["--repair"]);
    assert_eq!(kinds(&v), vec!["stray", "stray"]);
    assert!(t.root().join("notes.txt").exists());
    assert!(t.root().join("store/README").exists());
}

#[test]
fn repair_removes_orphan_objects_dangling_shims_and_trash_only() {
    let (t, _) = healthy();
    let pool = t.root().join("store/.objects");
    let orphan = pool.join("ab").join("c".repeat(62));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"nobody").unwrap();
    std::os::unix::fs::symlink("../libexec/berth-shim", t.root().join("shims/ghost")).unwrap();
    let trash = t.root().join("store/.trash/app-0-x.1");
    std::fs::create_dir_all(&trash).unwrap();
    let gtrash = t.root().join("generations/site/.7.tmp.1.0");
    std::fs::create_dir_all(&gtrash).unwrap();
    let v = failing(&t, &["--quick"]);
    let mut k = kinds(&v);
    k.sort();
    assert_eq!(
        k,
        vec!["dangling-shim", "leftover", "leftover", "orphan-object"]
    );
    let r = t.json(&["check", "--repair", "--quick"]);
    assert_eq!(r["ok"], true);
    assert!(!orphan.exists() && !trash.exists() && !gtrash.exists());
    assert!(std::fs::symlink_metadata(t.root().join("shims/app")).is_ok());
    assert!(std::fs::symlink_metadata(t.root().join("shims/ghost")).is_err());
    t.ok(&["check"]);
}

#[test]
fn check_detects_a_missing_package_link_and_a_pin_of_nothing() {
    let (t, _) = healthy();
    let cur = std::fs::read_link(t.root().join("profiles/site")).unwrap();
    let gen = t.root().join("profiles").join(cur);
    let link = gen.join("pkgs/app");
    let _ = std::fs::set_permissions(gen.join("pkgs"), std::fs::Permissions::from_mode(0o755));
    std::fs::remove_file(&link).unwrap();
    std::fs::write(t.root().join("store/.pins/nope-1-abc"), b"").unwrap();
    let v = failing(&t, &["--quick"]);
    let mut k = kinds(&v);
    k.sort();
    // bin/app went through pkgs/app, so its shim dangles too.
    assert_eq!(
        k,
        vec!["bad-package-link", "dangling-shim", "missing-entry"]
    );
}

/// The paths of the problems of a report, sorted.
fn paths(v: &serde_json::Value) -> Vec<String> {
    let mut p: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    p.sort();
    p
}

#[test]
fn check_reports_a_hold_of_an_ended_process_and_repair_removes_it() {
    let (t, _) = healthy();
    let run = t.root().join("run");
    std::fs::create_dir_all(&run).unwrap();
    // No process has this pid (above the kernel's pid_max), so the hold is stale.
    let stale = run.join("4194999");
    std::fs::write(
        &stale,
        "pid = 4194999\nstart = 1\nprofile = \"site\"\ngeneration = 1\nentries = []\n",
    )
    .unwrap();
    let tmp = run.join(".4194999.tmp.1.2");
    std::fs::write(&tmp, b"").unwrap();
    let stray = run.join("notes");
    std::fs::write(&stray, b"mine").unwrap();
    let v = failing(&t, &["--quick"]);
    assert_eq!(kinds(&v), vec!["leftover", "leftover", "stray"]);
    let v = failing(&t, &["--quick", "--repair"]);
    assert_eq!(kinds(&v), vec!["stray"]);
    assert!(!stale.exists() && !tmp.exists());
    assert!(stray.exists());
}

#[test]
fn check_reports_a_partial_download_in_the_cache_and_repair_removes_it() {
    let (t, _) = healthy();
    let dir = t.root().join("cache").join("ab".repeat(32));
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join(".app-1.berth.tmp.77.0");
    std::fs::write(&partial, b"half").unwrap();
    let stray = t.root().join("cache/README");
    std::fs::write(&stray, b"mine").unwrap();
    let v = failing(&t, &["--quick"]);
    assert_eq!(kinds(&v), vec!["leftover", "stray"]);
    let mut want = vec![
        partial.to_str().unwrap().to_string(),
        stray.to_str().unwrap().to_string(),
    ];
    want.sort();
    assert_eq!(paths(&v), want);
    let v = failing(&t, &["--quick", "--repair"]);
    assert_eq!(kinds(&v), vec!["stray"]);
    assert!(!partial.exists() && stray.exists());
}

#[test]
fn check_reports_interrupted_snapshots_restores_and_config_writes_and_strays_in_etc_and_var() {
    let (t, _) = healthy();
    let snap = t.root().join("var/site/.snapshots/.3.tmp.12.0");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("db"), b"half").unwrap();
    let conf = t.root().join("etc/site/app");
    std::fs::create_dir_all(&conf).unwrap();
    let write = conf.join(".app.conf.tmp.12.1");
    std::fs::write(&write, b"half").unwrap();
    let copy = t.root().join("var/site/.restore.tmp.12.2");
    std::fs::create_dir_all(&copy).unwrap();
    let link = t.root().join("etc/elsewhere");
    std::os::unix::fs::symlink("/tmp", &link).unwrap();
    let file = t.root().join("var/notes");
    std::fs::write(&file, b"mine").unwrap();
    let v = failing(&t, &["--quick"]);
    assert_eq!(
        kinds(&v),
        vec!["leftover", "leftover", "leftover", "stray", "stray"]
    );
    let v = failing(&t, &["--quick", "--repair"]);
    assert_eq!(kinds(&v), vec!["stray", "stray"]);
    let mut want = vec![
        link.to_str().unwrap().to_string(),
        file.to_str().unwrap().to_string(),
    ];
    want.sort();
    assert_eq!(paths(&v), want);
    assert!(!snap.exists() && !write.exists() && !copy.exists());
    assert!(t.root().join("var/site/.snapshots").exists());
}
