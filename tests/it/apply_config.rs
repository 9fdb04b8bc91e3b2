//! Config files with dpkg's conffile rules, for rendered templates (`apply`) and for the
//! packages' config files (every switch, rollback included): untouched → replaced; only the
//! operator changed it → kept; both changed → kept, the new one beside as `.berth-dist`
//! with a notice; `--conf new` → the new one taken, the operator's saved as `.berth-old`.

use crate::common::*;
use std::path::{Path, PathBuf};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn profile(env: &Env, port: u32) -> PathBuf {
    env.profile_file("t/c.j2", "port = {{ port }}\n");
    env.profile_file(
        "c.toml",
        &format!(
            "profile = \"c\"\n[packages]\napp = \"*\"\n[config.\"conf/c.ini\"]\n\
             template = \"t/c.j2\"\nvars = {{ port = {port} }}\n"
        ),
    )
}

#[test]
fn template_conffile_cases() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    let file = env.etc("c", "conf/c.ini");
    let dist = env.etc("c", "conf/c.ini.berth-dist");
    let old = env.etc("c", "conf/c.ini.berth-old");

    // Untouched: a new rendering replaces it.
    env.apply(&profile(&env, 1), &[]).ok();
    assert_eq!(read(&file), "port = 1\n");
    env.apply(&profile(&env, 2), &[]).ok();
    assert_eq!(read(&file), "port = 2\n");
    assert_eq!(env.config_state("c", "conf/c.ini"), "pristine");

    // Only the operator changed it: kept, and applying again changes nothing.
    std::fs::write(&file, "port = 2\n# mine\n").unwrap();
    assert_eq!(env.config_state("c", "conf/c.ini"), "modified");
    let r = env.apply(&profile(&env, 2), &[]).ok();
    assert_eq!(r.stdout, "c: unchanged\n");
    assert_eq!(read(&file), "port = 2\n# mine\n");
    let d = env.ok(&["config", "diff", "c"]);
    assert!(
        d.contains("+# mine") && d.contains("--- shipped/conf/c.ini"),
        "{d}"
    );

    // Both changed: kept, the new one beside it, a notice, state pending.
    let j = env.apply(&profile(&env, 3), &["--json"]).ok();
    let v = j.json();
    assert_eq!(v["changes"][0]["action"], "dist", "{j}");
    assert_eq!(v["pending"][0], "conf/c.ini");
    assert_eq!(read(&file), "port = 2\n# mine\n");
    assert_eq!(read(&dist), "port = 3\n");
    assert_eq!(env.config_state("c", "conf/c.ini"), "pending");
    let r = env.apply(&profile(&env, 3), &[]).ok();
    assert!(
        r.stderr
            .contains("notice: c: config conf/c.ini has a new version waiting"),
        "{r}"
    );

    // --conf new: the waiting one is taken, the operator's saved.
    let dry = env.json(&[
        "apply",
        "--conf",
        "new",
        "--dry-run",
        profile(&env, 3).to_str().unwrap(),
    ]);
    let real = env.json(&["apply", "--conf", "new", profile(&env, 3).to_str().unwrap()]);
    assert_eq!(dry["changes"], real["changes"]);
    assert_eq!(real["changes"][0]["kind"], "take-pending", "{real}");
    assert_eq!(read(&file), "port = 3\n");
    assert_eq!(read(&old), "port = 2\n# mine\n");
    assert!(!dist.exists());
    assert_eq!(env.config_state("c", "conf/c.ini"), "pristine");

    // Both changed again, straight to --conf new.
    std::fs::write(&file, "port = 3\n# again\n").unwrap();
    let real = env.json(&["apply", "--conf", "new", profile(&env, 4).to_str().unwrap()]);
    assert_eq!(real["changes"][0]["action"], "take-new", "{real}");
    assert_eq!(read(&file), "port = 4\n");
    assert_eq!(read(&old), "port = 3\n# again\n");
}

#[test]
fn a_missing_variable_names_the_template_and_line_and_writes_nothing() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    env.apply(&profile(&env, 1), &[]).ok();
    env.profile_file("t/c.j2", "# header\nport = {{ port }}\nhost = {{ host }}\n");
    let before = snapshot(env.root(), None);
    let r = env.apply(&env.dir().join("profiles/c.toml"), &[]).code(6);
    let line = one_error_line(&r);
    assert!(
        line.contains("c.j2:3: ") && line.contains("undefined"),
        "{r}"
    );
    assert_eq!(snapshot(env.root(), None), before);
}

#[test]
fn package_config_follows_dpkg_rules_across_use_and_rollback() {
    let env = Env::new();
    env.config_package("app", "1.0", "v = 1\n");
    env.config_package("app", "1.1", "v = 2\n");
    env.config_package("app", "1.2", "v = 3\n");
    let conf = env.etc("p", "app/etc/app.conf");
    let dist = env.etc("p", "app/etc/app.conf.berth-dist");

    env.ok(&["use", "p", "app@1.0"]);
    assert_eq!(read(&conf), "v = 1\n");
    // Untouched: replaced on upgrade, and back on rollback.
    env.ok(&["use", "p", "app@1.1"]);
    assert_eq!(read(&conf), "v = 2\n");
    env.ok(&["rollback", "p"]);
    assert_eq!(read(&conf), "v = 1\n");
    env.ok(&["switch", "p", "2"]);
    assert_eq!(read(&conf), "v = 2\n");
    assert_eq!(env.config_state("p", "app/etc/app.conf"), "pristine");

    // The operator edits it; a rollback keeps the edit, the old copy waits beside it.
    std::fs::write(&conf, "v = 2\nmine = yes\n").unwrap();
    assert_eq!(env.config_state("p", "app/etc/app.conf"), "modified");
    let r = env.run(&["rollback", "p"]).ok();
    assert!(
        r.stderr.contains("notice:") && r.stderr.contains("app.conf"),
        "{r}"
    );
    assert_eq!(read(&conf), "v = 2\nmine = yes\n");
    assert_eq!(read(&dist), "v = 1\n");
    assert_eq!(env.config_state("p", "app/etc/app.conf"), "pending");

    // Forward again: the edit still wins, the new copy waits.
    env.ok(&["switch", "p", "2"]);
    assert_eq!(read(&conf), "v = 2\nmine = yes\n");
    assert_eq!(read(&dist), "v = 2\n");

    // apply's switch follows the same rules: the edit is kept, 1.2's copy waits.
    let file = env.profile_file("p.toml", "profile = \"p\"\n[packages]\napp = \"1.2\"\n");
    let r = env.apply(&file, &[]).ok();
    assert!(r.stdout.contains("app 1.1 -> 1.2"), "{r}");
    assert!(r.stderr.contains("app/etc/app.conf.berth-dist"), "{r}");
    assert_eq!(read(&conf), "v = 2\nmine = yes\n");
    assert_eq!(read(&dist), "v = 3\n");

    // --conf new takes it and saves the operator's copy.
    let j = env.json(&["apply", "--conf", "new", file.to_str().unwrap()]);
    assert_eq!(j["changes"][0]["kind"], "take-pending", "{j}");
    assert_eq!(read(&conf), "v = 3\n");
    assert_eq!(
        read(&env.etc("p", "app/etc/app.conf.berth-old")),
        "v = 2\nmine = yes\n"
    );
    assert!(!dist.exists());
    assert_eq!(env.config_state("p", "app/etc/app.conf"), "pristine");
}

#[test]
fn config_commands_refuse_unknown_profiles_and_files() {
    let env = Env::new();
    let r = env.run(&["config", "status", "nope"]).code(3);
    assert!(
        one_error_line(&r).contains("no profile named `nope`"),
        "{r}"
    );
    env.config_package("app", "1.0", "x\n");
    env.ok(&["use", "p", "app@1.0"]);
    let r = env.run(&["config", "diff", "p", "../etc/passwd"]).code(3);
    assert!(one_error_line(&r).contains("has no config file"), "{r}");
    let r = env.run(&["config", "status", "../x"]).code(2);
    one_error_line(&r);
    assert_eq!(env.ok(&["config", "diff", "p"]), "");
}

#[test]
fn config_path_names_the_file_to_edit_by_the_path_the_service_sees() {
    let env = Env::new();
    env.config_package("app", "1.0", "v = 1\n");
    env.config_package("app", "1.1", "v = 2\n");
    env.ok(&["use", "p", "app@1.0"]);
    let conf = env.etc("p", "app/etc/app.conf");
    // By the path inside the view, and by the name `config status` gives: the same file.
    let printed = env.ok(&["config", "path", "p", "/etc/app.conf"]);
    assert_eq!(printed.trim(), conf.to_str().unwrap());
    let j = env.json(&["config", "path", "p", "app/etc/app.conf"]);
    assert_eq!(j["path"], conf.to_str().unwrap(), "{j}");
    // The operator's edit there survives an upgrade (the new copy waits) and a rollback.
    std::fs::write(&conf, "v = 1\nmine = yes\n").unwrap();
    env.ok(&["use", "p", "app@1.1"]);
    assert_eq!(read(&conf), "v = 1\nmine = yes\n");
    env.ok(&["rollback", "p"]);
    assert_eq!(read(&conf), "v = 1\nmine = yes\n");
    // Unknown files and profiles: one line, exit 3, the root as it was.
    let before = snapshot(env.root(), None);
    let r = env.run(&["config", "path", "p", "/etc/passwd"]).code(3);
    let line = one_error_line(&r);
    assert!(
        line.contains("no config file `/etc/passwd`") && line.contains("/etc/app.conf"),
        "{r}"
    );
    env.run(&["config", "path", "nope", "/etc/app.conf"])
        .code(3);
    env.run(&["config", "path", "../p", "/etc/app.conf"])
        .code(2);
    assert_eq!(snapshot(env.root(), None), before);
}
