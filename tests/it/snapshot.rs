//! Data snapshots around a switch (`[backup] before_switch`, `keep`) and
//! `rollback --with-data`.

use crate::common;

use crate::common::crash::stale_temp_name;
use crate::common::Env;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

fn data(env: &Env, profile: &str) -> PathBuf {
    env.root().join("var").join(profile)
}

fn with_backup(env: &Env, profile: &str, keep: u32) {
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    let spec = env.spec_file(
        &format!("{profile}.toml"),
        &format!("profile = \"{profile}\"\n[backup]\nbefore_switch = true\nkeep = {keep}\n"),
    );
    env.use_with_spec(profile, &["tool@1"], &spec).ok();
}

#[test]
fn rollback_with_data_restores_the_snapshot_and_saves_the_current_data() {
    let env = Env::new();
    with_backup(&env, "d", 3);
    let var = data(&env, "d");
    std::fs::create_dir_all(var.join("app/db")).unwrap();
    std::fs::write(var.join("app/db/main.db"), "v1 data\n").unwrap();
    std::fs::set_permissions(var.join("app/db/main.db"), PermissionsExt::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", var.join("app/outside")).unwrap();

    let r = env.run(&["-v", "use", "d", "tool@2"]).ok();
    assert!(r.stdout.contains("data snapshot "), "{r}");
    assert!(
        r.stdout.contains(" copied)") || r.stdout.contains(" reflinked)"),
        "{r}"
    );
    let snap1 = var.join(".snapshots/1");
    assert_eq!(
        std::fs::read_to_string(snap1.join("app/db/main.db")).unwrap(),
        "v1 data\n"
    );
    let m = std::fs::symlink_metadata(snap1.join("app/db/main.db")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o600, "modes are kept");
    assert_ne!(
        m.ino(),
        std::fs::metadata(var.join("app/db/main.db")).unwrap().ino(),
        "a copy, not a hard link"
    );
    assert_eq!(
        std::fs::read_link(snap1.join("app/outside")).unwrap(),
        PathBuf::from("/etc/passwd"),
        "links stay links, never followed"
    );

    // The service rewrites the file in place and adds one: the snapshot does not change.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(var.join("app/db/main.db"))
        .unwrap();
    std::fs::write(var.join("app/db/main.db"), "v2 data\n").unwrap();
    std::fs::write(var.join("app/new.txt"), "made by v2\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(snap1.join("app/db/main.db")).unwrap(),
        "v1 data\n"
    );

    let r = env.run(&["rollback", "d", "--with-data"]).ok();
    assert!(
        r.stdout
            .contains("data restored from the snapshot of generation 1"),
        "{r}"
    );
    assert_eq!(env.current("d"), Some(1));
    assert_eq!(
        std::fs::read_to_string(var.join("app/db/main.db")).unwrap(),
        "v1 data\n"
    );
    assert!(!var.join("app/new.txt").exists());
    assert_eq!(
        std::fs::metadata(var.join("app/db/main.db"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o600
    );
    // The data of generation 2 was saved first, and the snapshot of 1 is still there.
    let snap2 = var.join(".snapshots/2");
    assert_eq!(
        std::fs::read_to_string(snap2.join("app/db/main.db")).unwrap(),
        "v2 data\n"
    );
    assert_eq!(
        std::fs::read_to_string(snap2.join("app/new.txt")).unwrap(),
        "made by v2\n"
    );
    assert!(snap1.join("app/db/main.db").exists());
    assert_eq!(
        common::children(&var),
        vec![".snapshots".to_string(), "app".to_string()],
        "no temporary leftovers"
    );
    // Forward again with the data of 2.
    env.ok(&["rollback", "d", "--to", "2", "--with-data"]);
    assert_eq!(
        std::fs::read_to_string(var.join("app/db/main.db")).unwrap(),
        "v2 data\n"
    );
}

#[test]
fn keep_prunes_older_snapshots() {
    let env = Env::new();
    with_backup(&env, "k", 2);
    std::fs::create_dir_all(data(&env, "k")).unwrap();
    std::fs::write(data(&env, "k").join("f"), "x").unwrap();
    for (i, v) in ["tool@2", "tool@1", "tool@2"].iter().enumerate() {
        env.ok(&["use", "k", v]);
        std::fs::write(data(&env, "k").join("f"), format!("after switch {i}")).unwrap();
        // Snapshot order is by time: make sure the next one is newer.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(env.current("k"), Some(4));
    let mut snaps = common::children(&data(&env, "k").join(".snapshots"));
    snaps.sort();
    assert_eq!(snaps, vec!["2".to_string(), "3".to_string()]);
}

#[test]
fn rollback_with_data_without_a_snapshot_is_refused_and_changes_nothing() {
    let env = Env::new();
    let err = env.fails(&["rollback", "nope", "--with-data"], 3);
    assert!(err.starts_with("error: no profile named `nope`"), "{err}");
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    env.ok(&["use", "n", "tool@1"]);
    env.ok(&["use", "n", "tool@2"]);
    std::fs::create_dir_all(data(&env, "n")).unwrap();
    std::fs::write(data(&env, "n").join("f"), "now").unwrap();
    let before = common::snapshot(env.root(), None);
    let err = env.fails(&["rollback", "n", "--with-data"], 3);
    let mut lines = err.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "error: profile n has no data snapshot for generation 1 in {} (it has none)",
            data(&env, "n").join(".snapshots").display()
        )
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("hint: snapshots are taken before a switch"));
    assert_eq!(
        common::snapshot(env.root(), None),
        before,
        "nothing changed"
    );
    assert_eq!(env.current("n"), Some(2));
    let err = env.fails(&["rollback", "n", "--to", "7", "--with-data"], 3);
    assert!(
        err.starts_with("error: profile n has no generation 7"),
        "{err}"
    );
}

/// A snapshot or restore killed midway (SIGKILL) leaves berth's temporary directories in
/// `var/<profile>/` and its `.snapshots/`. The next switch of the profile undoes such a
/// restore (the data is as it was before it, whichever step it was killed in), removes the
/// leftovers before it takes its own snapshot, and leaves the user's files alone, even one
/// whose name looks temporary.
#[test]
fn leftovers_of_an_interrupted_snapshot_or_restore_are_undone_by_the_next_switch() {
    let env = Env::new();
    with_backup(&env, "c", 3);
    let var = data(&env, "c");
    let put = |rel: &str, text: &str| {
        let p = var.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("db/main.db", "current");
    put("app/conf", "current conf");
    put(".restore.tmp.notes", "the user's, not berth's");
    let (copy, moving, aside) = ("restore", "restoring", "replaced");
    // What each kill leaves: (names moved out of the data, files planted).
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(String, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            "killed while copying the snapshot, and while snapshotting and pruning",
            vec![],
            vec![
                (
                    format!("{}/db/main.db", stale_temp_name(copy, 1)),
                    "snapshot",
                ),
                (
                    format!(".snapshots/{}/db/main.db", stale_temp_name("9", 2)),
                    "half",
                ),
                (
                    format!(".snapshots/{}/app/conf", stale_temp_name("1", 3)),
                    "pruned",
                ),
            ],
        ),
        (
            "killed while moving the current data aside",
            vec!["db"],
            vec![
                (
                    format!("{}/db/main.db", stale_temp_name(aside, 4)),
                    "current",
                ),
                (
                    format!("{}/db/main.db", stale_temp_name(copy, 5)),
                    "snapshot",
                ),
                (format!("{}/app/conf", stale_temp_name(copy, 5)), "snapshot"),
            ],
        ),
        (
            "killed while moving the copy in",
            vec!["db", "app"],
            vec![
                ("db/main.db".to_string(), "snapshot"),
                (
                    format!("{}/app/conf", stale_temp_name(moving, 6)),
                    "snapshot",
                ),
                (
                    format!("{}/db/main.db", stale_temp_name(aside, 7)),
                    "current",
                ),
                (
                    format!("{}/app/conf", stale_temp_name(aside, 7)),
                    "current conf",
                ),
            ],
        ),
        (
            "killed while removing the data a finished restore replaced",
            vec![],
            vec![(format!("{}/db/main.db", stale_temp_name(aside, 8)), "older")],
        ),
    ];
    for (i, (what, moved, planted)) in cases.into_iter().enumerate() {
        for m in moved {
            std::fs::remove_dir_all(var.join(m)).unwrap();
        }
        for (rel, text) in &planted {
            put(rel, text);
        }
        let from = env.current("c").unwrap();
        let to = if i % 2 == 0 { "tool@2" } else { "tool@1" };
        let r = env.run(&["use", "c", to]).ok();
        assert_eq!(
            common::children(&var),
            [".restore.tmp.notes", ".snapshots", "app", "db"],
            "{what}: {r}"
        );
        for (rel, text) in [
            ("db/main.db", "current"),
            ("app/conf", "current conf"),
            (".restore.tmp.notes", "the user's, not berth's"),
        ] {
            assert_eq!(
                std::fs::read_to_string(var.join(rel)).unwrap(),
                text,
                "{what}: {rel}"
            );
        }
        // The data was put back before the switch's own snapshot was taken.
        let snap = var.join(".snapshots").join(from.to_string());
        assert_eq!(
            std::fs::read_to_string(snap.join("db/main.db")).unwrap(),
            "current",
            "{what}"
        );
        let snaps = common::children(&var.join(".snapshots"));
        assert!(
            snaps.iter().all(|n| n.parse::<u64>().is_ok()),
            "{what}: {snaps:?}"
        );
    }
    // `rollback --with-data` cleans up before it restores, too.
    std::fs::remove_dir_all(var.join("db")).unwrap();
    put(
        &format!("{}/db/main.db", stale_temp_name(aside, 9)),
        "current",
    );
    put(
        &format!("{}/db/main.db", stale_temp_name(copy, 10)),
        "snapshot",
    );
    put("db2/new", "made after the last switch");
    env.run(&["rollback", "c", "--with-data"]).ok();
    assert_eq!(
        common::children(&var),
        [".restore.tmp.notes", ".snapshots", "app", "db"]
    );
    assert_eq!(
        std::fs::read_to_string(var.join("db/main.db")).unwrap(),
        "current"
    );
}
