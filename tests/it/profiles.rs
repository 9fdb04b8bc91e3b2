//! Profiles: use, drop, rollback, switch, generations, diff, profiles, default, which, run,
//! collisions, and remove's refusal of referenced entries.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;

fn two_versions() -> Env {
    let e = Env::new();
    e.script_package("drush", "7.59", "drush");
    e.script_package("drush", "7.60", "drush");
    e.script_package("drush", "10.1.0", "drush");
    e.script_package("php", "8.2.7", "php");
    e
}

#[test]
fn use_creates_profile_and_replaces_only_the_named_package() {
    let e = two_versions();
    let out = e.ok(&["use", "site-a", "drush@7.59", "php@8.2.7"]);
    assert!(out.contains("site-a: generation 1"), "{out}");
    assert_eq!(e.packages("site-a"), ["drush@7.59", "php@8.2.7"]);
    let out = e.ok(&["use", "site-a", "drush@7.60"]);
    assert!(
        out.contains("generation 1 -> 2: ~ drush 7.59 -> 7.60"),
        "{out}"
    );
    assert_eq!(e.packages("site-a"), ["drush@7.60", "php@8.2.7"]);
    assert_eq!(e.generations("site-a"), [1, 2]);
    // generation.toml records the command that made it.
    let g = std::fs::read_to_string(e.root().join("generations/site-a/2/generation.toml")).unwrap();
    assert!(g.contains("berth --root"), "{g}");
    assert!(g.contains("use site-a drush@7.60"), "{g}");
}

#[test]
fn unchanged_use_makes_no_generation() {
    let e = two_versions();
    e.ok(&["use", "site-a", "drush@7.59"]);
    let before = e.snapshot();
    let out = e.ok(&["use", "site-a", "drush@7.59"]);
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(e.generations("site-a"), [1]);
    assert_eq!(e.snapshot(), before);
}

#[test]
fn bare_name_picks_highest_debian_version_and_id_prefix_works() {
    let e = two_versions();
    e.ok(&["use", "p", "drush"]);
    assert_eq!(e.packages("p"), ["drush@10.1.0"]);
    e.script_package("tool", "1.0", "tool");
    e.script_package("tool", "1.0~rc1", "tool");
    e.ok(&["use", "p", "tool"]);
    assert_eq!(e.packages("p"), ["drush@10.1.0", "tool@1.0"]);
    let list = e.ok(&["--json", "list", "drush"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "7.59")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok(&["use", "p", &format!("drush@{}", &id[..8])]);
    assert_eq!(e.packages("p"), ["drush@7.59", "tool@1.0"]);
}

#[test]
fn unknown_package_lists_installed_and_makes_nothing() {
    let e = two_versions();
    let err = e.fails(&["use", "site-a", "drupal@7"], 3);
    assert!(err.contains("drupal@7"), "{err}");
    assert!(
        err.contains("drush@7.59") && err.contains("php@8.2.7"),
        "{err}"
    );
    assert!(e.generations("site-a").is_empty());
}

#[test]
fn invalid_profile_name_is_a_usage_error() {
    let e = two_versions();
    let err = e.fails(&["use", "../evil", "php"], 2);
    assert!(err.contains("profile name"), "{err}");
    e.fails(&["use", "Site", "php"], 2);
}

#[test]
fn rollback_restores_previous_versions_and_history_stays_linear() {
    let e = two_versions();
    e.ok(&["use", "site-a", "drush@7.59", "php"]);
    e.ok(&["use", "site-a", "drush@7.60"]);
    let out = e.ok(&["rollback", "site-a"]);
    assert!(out.contains("generation 2 -> 1"), "{out}");
    assert_eq!(e.current("site-a"), Some(1));
    assert_eq!(e.packages("site-a"), ["drush@7.59", "php@8.2.7"]);
    // Nothing deleted; using again makes 3.
    assert_eq!(e.generations("site-a"), [1, 2]);
    e.ok(&["use", "site-a", "drush@10.1.0"]);
    assert_eq!(e.generations("site-a"), [1, 2, 3]);
    assert_eq!(e.current("site-a"), Some(3));
    assert_eq!(e.packages("site-a"), ["drush@10.1.0", "php@8.2.7"]);
    e.ok(&["rollback", "site-a", "--to", "2"]);
    assert_eq!(e.packages("site-a"), ["drush@7.60", "php@8.2.7"]);
    // Rolling back from 2 goes to 1; from 1 there is nothing older.
    e.ok(&["rollback", "site-a"]);
    assert_eq!(e.current("site-a"), Some(1));
    let err = e.fails(&["rollback", "site-a"], 1);
    assert!(err.contains("nothing to roll back to"), "{err}");
}

#[test]
fn switch_activates_any_generation_and_refuses_missing_ones() {
    let e = two_versions();
    e.ok(&["use", "s", "drush@7.59"]);
    e.ok(&["use", "s", "drush@7.60"]);
    e.ok(&["use", "s", "drush@10.1.0"]);
    e.ok(&["switch", "s", "1"]);
    assert_eq!(e.packages("s"), ["drush@7.59"]);
    let out = e.ok(&["switch", "s", "1"]);
    assert!(out.contains("unchanged"), "{out}");
    e.ok(&["switch", "s", "3"]);
    assert_eq!(e.packages("s"), ["drush@10.1.0"]);
    let err = e.fails(&["switch", "s", "9"], 3);
    assert!(
        err.contains("no generation 9") && err.contains("1, 2, 3"),
        "{err}"
    );
    let err = e.fails(&["switch", "nope", "1"], 3);
    assert!(
        err.contains("no profile named `nope`") && err.contains("profiles: s"),
        "{err}"
    );
}

#[test]
fn diff_shows_added_removed_and_changed() {
    let e = two_versions();
    e.ok(&["use", "s", "drush@7.59"]);
    e.ok(&["use", "s", "drush@7.60", "php"]);
    let out = e.ok(&["diff", "s"]);
    assert!(out.contains("generation 1 -> 2"), "{out}");
    assert!(out.contains("~ drush 7.59 -> 7.60"), "{out}");
    assert!(out.contains("+ php 8.2.7"), "{out}");
    e.ok(&["drop", "s", "php"]);
    let out = e.ok(&["diff", "s", "--from", "2", "--to", "3"]);
    assert!(out.contains("- php 8.2.7"), "{out}");
    let out = e.ok(&["--json", "diff", "s", "--from", "1", "--to", "3"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"][0]["from"], "7.59");
    assert_eq!(v["changed"][0]["to"], "7.60");
    assert_eq!(v["added"].as_array().unwrap().len(), 0);
    e.fails(&["diff", "s", "--from", "7"], 3);
}

#[test]
fn drop_makes_a_generation_without_the_package_and_removes_its_shim() {
    let e = two_versions();
    e.ok(&["use", "s", "drush@7.59", "php"]);
    assert!(e.root().join("shims/php").exists());
    e.ok(&["drop", "s", "php"]);
    assert_eq!(e.packages("s"), ["drush@7.59"]);
    assert!(
        !e.root().join("shims/php").exists(),
        "no profile provides php any more"
    );
    assert!(e.root().join("shims/drush").exists());
    let err = e.fails(&["drop", "s", "php"], 3);
    assert!(
        err.contains("has no package php") && err.contains("drush@7.59"),
        "{err}"
    );
    e.ok(&["rollback", "s"]);
    assert!(
        e.root().join("shims/php").exists(),
        "rollback brings the shim back"
    );
}

#[test]
fn generations_lists_every_generation_and_marks_the_current_one() {
    let e = two_versions();
    e.ok(&["use", "s", "drush@7.59"]);
    e.ok(&["use", "s", "drush@7.60"]);
    e.ok(&["rollback", "s"]);
    let out = e.ok(&["generations", "s"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].starts_with('*') && lines[1].contains("drush@7.59"),
        "{out}"
    );
    assert!(
        !lines[2].starts_with('*') && lines[2].contains("drush@7.60"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["--json", "generations", "s"])).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["number"], 1);
    assert_eq!(a[0]["current"], true);
    assert_eq!(a[1]["current"], false);
    assert_eq!(a[1]["packages"][0]["version"], "7.60");
    e.fails(&["generations", "nope"], 3);
}

#[test]
fn profiles_lists_current_generation_package_count_and_default() {
    let e = two_versions();
    e.ok(&["use", "site-a", "drush@7.59", "php"]);
    e.ok(&["use", "site-b", "drush@10.1.0"]);
    e.ok(&["use", "site-b", "drush@7.60"]);
    e.ok(&["default", "site-b"]);
    let out = e.ok(&["profiles"]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["site-a", "1", "2", "1"]),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["site-b", "2", "1", "2", "default"]),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["--json", "profiles"])).unwrap();
    assert_eq!(v[1]["profile"], "site-b");
    assert_eq!(v[1]["current"], 2);
    assert_eq!(v[1]["default"], true);
}

#[test]
fn default_sets_and_shows_the_default_profile() {
    let e = two_versions();
    assert!(e.ok(&["default"]).contains("no default profile"));
    let err = e.fails(&["default", "ghost"], 3);
    assert!(err.contains("ghost"), "{err}");
    e.ok(&["use", "s", "php"]);
    e.ok(&["default", "s"]);
    assert_eq!(e.ok(&["default"]).trim(), "s");
    assert_eq!(
        std::fs::read_to_string(e.root().join("default-profile"))
            .unwrap()
            .trim(),
        "s"
    );
}

#[test]
fn merged_tree_folds_like_stow() {
    let e = Env::new();
    e.package(
        "a",
        "1",
        &[
            ("share/a/x", b"a"),
            ("lib/liba.so", b"a"),
            ("bin/a*", b"#!/bin/sh\n"),
        ],
    );
    e.package(
        "b",
        "1",
        &[
            ("share/b/y", b"b"),
            ("etc/b.conf", b"b"),
            ("bin/b*", b"#!/bin/sh\n"),
        ],
    );
    e.ok(&["use", "p", "a", "b"]);
    let g = e.root().join("profiles/p");
    let link = |p: &str| {
        std::fs::read_link(g.join(p))
            .ok()
            .map(|t| t.display().to_string())
    };
    // Only one package provides lib/ and etc/: one link each.
    assert_eq!(link("lib").as_deref(), Some("pkgs/a/lib"));
    assert_eq!(link("etc").as_deref(), Some("pkgs/b/etc"));
    // share/ is where they meet: a real directory with a link per package.
    assert!(std::fs::symlink_metadata(g.join("share")).unwrap().is_dir());
    assert_eq!(link("share/a").as_deref(), Some("../pkgs/a/share/a"));
    assert_eq!(std::fs::read_to_string(g.join("share/b/y")).unwrap(), "b");
    assert_eq!(link("bin/a").as_deref(), Some("../pkgs/a/bin/a"));
    let pk = link("pkgs/a").unwrap();
    assert!(pk.starts_with("../../../../store/a-1-"), "{pk}");
    // Relative links throughout: the profile link too.
    let top = std::fs::read_link(e.root().join("profiles/p")).unwrap();
    assert_eq!(top, std::path::Path::new("../generations/p/1"));
    assert!(!g.join(".berth").exists());
}

#[test]
fn exported_bin_directories_become_commands() {
    let e = Env::new();
    e.package_with(
        "deb",
        "1",
        &[
            ("usr/bin/tool*", b"#!/bin/sh\necho tool\n"),
            ("usr/sbin/admin*", b"#!/bin/sh\necho admin\n"),
            ("usr/bin/README", b"x"),
        ],
        "[exports]\nbin = [\"usr/bin\", \"usr/sbin\"]\n",
    );
    e.ok(&["use", "p", "deb"]);
    let out = e.shim("admin").env("BERTH_PROFILE", "p").output().unwrap();
    assert_eq!(stdout(&out), "admin\n");
    assert!(e.root().join("profiles/p/bin/tool").exists());
    assert!(
        !e.root().join("profiles/p/bin/README").exists(),
        "not executable: not a command"
    );
    assert!(e.root().join("shims/tool").exists());
}

#[test]
fn collisions_are_refused_before_any_write_and_resolved_by_prefer() {
    let e = Env::new();
    e.package(
        "a",
        "1",
        &[
            ("share/doc/README", b"from a"),
            ("bin/tool*", b"#!/bin/sh\necho a\n"),
        ],
    );
    e.package(
        "b",
        "1",
        &[
            ("share/doc/README", b"from b"),
            ("bin/tool*", b"#!/bin/sh\necho b\n"),
        ],
    );
    e.ok(&["use", "p", "a"]);
    let before = e.snapshot();
    let err = e.fails(&["use", "p", "b"], 4);
    assert!(err.contains("a@1") && err.contains("b@1"), "{err}");
    assert!(err.contains("share/doc/README"), "{err}");
    assert!(err.contains("--prefer"), "{err}");
    assert_eq!(e.snapshot(), before, "nothing written");
    e.ok(&["use", "p", "b", "--prefer", "b"]);
    let g = e.root().join("profiles/p");
    assert_eq!(
        std::fs::read_to_string(g.join("share/doc/README")).unwrap(),
        "from b"
    );
    let out = e.shim("tool").env("BERTH_PROFILE", "p").output().unwrap();
    assert_eq!(stdout(&out), "b\n");
    // The preference is kept while b stays.
    e.script_package("c", "1", "c");
    e.ok(&["use", "p", "c"]);
    assert_eq!(
        std::fs::read_to_string(g.join("share/doc/README")).unwrap(),
        "from b"
    );
    // Command collisions alone are refused too.
    e.package("d", "1", &[("bin/c*", b"#!/bin/sh\necho d\n")]);
    let err = e.fails(&["use", "p", "d"], 4);
    assert!(
        err.contains("bin/c") && err.contains("c@1") && err.contains("d@1"),
        "{err}"
    );
    // --prefer of a package the profile lacks is refused.
    e.fails(&["use", "p", "c", "--prefer", "zzz"], 3);
}

#[test]
fn remove_refuses_entries_any_generation_uses() {
    let e = two_versions();
    e.ok(&["use", "site-a", "drush@7.59"]);
    e.ok(&["use", "site-a", "drush@7.60"]);
    e.ok(&["use", "site-b", "drush@7.59"]);
    let err = e.fails(&["remove", "drush@7.59"], 4);
    assert!(err.contains("drush@7.59"), "{err}");
    assert!(err.contains("profile site-a (generation 1)"), "{err}");
    assert!(err.contains("profile site-b (generation 1)"), "{err}");
    // An unreferenced entry still goes.
    e.ok(&["remove", "drush@10.1.0"]);
    let list = e.ok(&["list", "drush"]);
    assert!(!list.contains("10.1.0"), "{list}");
}

#[test]
fn which_names_the_file_and_the_rule() {
    let e = two_versions();
    e.ok(&["use", "site-a", "drush@7.59"]);
    e.ok(&["use", "site-b", "drush@10.1.0", "php"]);
    let out = e.ok(&["which", "drush", "--profile", "site-b"]);
    assert!(
        out.lines().next().unwrap().contains("/store/drush-10.1.0-"),
        "{out}"
    );
    assert!(out.contains("chosen by --profile"), "{out}");
    let o = e
        .cmd(&["which", "drush"])
        .env("BERTH_PROFILE", "site-a")
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("/store/drush-7.59-") && stdout(&o).contains("$BERTH_PROFILE"),
        "{}",
        stdout(&o)
    );
    let nested = e.dir().join("srv/b/deep");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(e.dir().join("srv/b/.berth-profile"), "site-b\n").unwrap();
    let o = e
        .cmd(&["which", "drush"])
        .current_dir(&nested)
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("drush-10.1.0") && stdout(&o).contains(".berth-profile"),
        "{}",
        stdout(&o)
    );
    let o = e
        .cmd(&["which", "php", "--profile", "site-a"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("profiles that have it: site-b"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["--json", "which", "drush", "--profile", "site-a"])).unwrap();
    assert_eq!(v["profile"], "site-a");
    assert_eq!(v["generation"], 1);
}

#[test]
fn run_uses_the_profile_environment() {
    let e = two_versions();
    e.ok(&["use", "site-a", "drush@7.59"]);
    e.ok(&["use", "site-b", "drush@10.1.0"]);
    let out = e.ok(&["run", "site-b", "--", "drush"]);
    assert_eq!(out, "drush 10.1.0\n");
    let out = e.ok(&[
        "run",
        "site-a",
        "--",
        "sh",
        "-c",
        "echo $BERTH_PROFILE; drush",
    ]);
    assert_eq!(out, "site-a\ndrush 7.59\n");
    // Without a profile name, the shim's resolver decides.
    let o = e
        .cmd(&["run", "--", "drush"])
        .env("BERTH_PROFILE", "site-b")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "drush 10.1.0\n");
    // Exit codes pass through.
    let o = e.run(&["run", "site-a", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.code, 7);
    e.fails(&["run", "ghost", "--", "true"], 3);
}

/// `install` places the shim built with this berth, statically linked (`check` compares it
/// with the one berth carries and finds nothing to report).
#[test]
fn install_places_the_static_shim_binary() {
    let e = two_versions();
    let shim = e.root().join("libexec/berth-shim");
    assert!(
        is_static_elf(&shim),
        "{} is dynamically linked",
        shim.display()
    );
    let mode = std::fs::metadata(&shim).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755);
    e.ok(&["check"]);
}
