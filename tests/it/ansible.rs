//! The Ansible collection (`contrib/ansible`, `berth.core`) and the example
//! (`examples/ansible/`) run with the real `ansible-playbook` against a throw-away root: the
//! first run converges the example profile and reports changes, the second reports
//! `changed=0`, and check mode (`berth apply --dry-run`) changes nothing; `ansible-doc` shows
//! each module; a failing apply carries berth's error, hint and exit code; `--check --diff`
//! shows the version changes and config steps; `repo` and `install` are idempotent.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An Ansible command whose every writable directory lives in the test's scratch dir (as
/// root or as CI's unprivileged user) and which finds the collection in `contrib/ansible`.
fn ansible(env: &Env, program: &str) -> Command {
    let home = env.dir().join("home");
    let tmp = env.dir().join("ansible-tmp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut c = Command::new(program);
    clean_env(&mut c)
        .env("HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", &tmp)
        .env("ANSIBLE_REMOTE_TEMP", &tmp)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env(
            "ANSIBLE_COLLECTIONS_PATH",
            repo_dir().join("contrib/ansible"),
        )
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_STDOUT_CALLBACK")
        .current_dir(env.dir());
    c
}

fn inventory() -> PathBuf {
    repo_dir().join("examples/ansible/inventory.ini")
}

/// The example playbook converging `profile_src/profile_file` into the env's root.
fn example(env: &Env, profile_src: &Path, profile_file: &str, args: &[&str]) -> Command {
    let mut c = ansible(env, "ansible-playbook");
    c.arg("-i")
        .arg(inventory())
        .arg(repo_dir().join("examples/ansible/playbook.yml"))
        .arg("-e")
        .arg(format!("berth={BERTH}"))
        .arg("-e")
        .arg(format!("berth_root={}", env.root().display()))
        .arg("-e")
        .arg(format!("profile_src={}", profile_src.display()))
        .arg("-e")
        .arg(format!(
            "profile_dest={}",
            env.dir().join("deployed").display()
        ))
        .arg("-e")
        .arg(format!("profile_file={profile_file}"))
        .args(args);
    c
}

fn playbook(env: &Env, check: bool) -> Run {
    let args: &[&str] = if check { &["--check"] } else { &[] };
    Run::of(&mut example(
        env,
        &repo_dir().join("profiles"),
        "site-a.toml",
        args,
    ))
}

fn recap(r: &Run) -> String {
    r.stdout
        .lines()
        .find(|l| l.starts_with("localhost") && l.contains("changed="))
        .unwrap_or_else(|| panic!("no recap line:\n{r}"))
        .to_string()
}

/// Runs `c` with the JSON stdout callback; returns the run and the result of the task
/// named `task` on localhost.
fn json_result(c: &mut Command, task: &str) -> (Run, serde_json::Value) {
    c.env("ANSIBLE_STDOUT_CALLBACK", "json");
    let r = Run::of(c);
    let start = r
        .stdout
        .find('{')
        .unwrap_or_else(|| panic!("no JSON:\n{r}"));
    let doc: serde_json::Value =
        serde_json::from_str(&r.stdout[start..]).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{r}"));
    let result = doc["plays"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"]["name"] == task)
        .unwrap_or_else(|| panic!("no task {task}:\n{r}"))["hosts"]["localhost"]
        .clone();
    (r, result)
}

/// Copies the tree `from` to `to` (files and directories).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn myapp(env: &Env) {
    for v in ["1.4.2", "1.5.0"] {
        env.install_dir(&repo_dir().join(format!("examples/myapp-{v}")));
    }
}

#[test]
fn the_ansible_example_is_idempotent() {
    if !have("ansible-playbook", "the Ansible example") {
        return;
    }
    let env = Env::new();
    myapp(&env);
    let first = playbook(&env, false);
    assert_eq!(first.code, 0, "{first}");
    let line = recap(&first);
    assert!(
        line.contains("changed=2") && line.contains("failed=0"),
        "{first}"
    );
    assert_eq!(env.config_state("site-a", "site.ini"), "pristine");

    let second = playbook(&env, false);
    assert_eq!(second.code, 0, "{second}");
    let line = recap(&second);
    assert!(
        line.contains("changed=0") && line.contains("failed=0"),
        "{second}"
    );

    let before = snapshot(env.root(), None);
    let check = playbook(&env, true);
    assert_eq!(check.code, 0, "{check}");
    assert!(recap(&check).contains("changed=0"), "{check}");
    assert_eq!(snapshot(env.root(), None), before);
}

#[test]
fn ansible_doc_shows_each_module() {
    if !have("ansible-doc", "the Ansible collection") {
        return;
    }
    let env = Env::new();
    for (module, options) in [
        ("apply", &["file", "conf", "root", "command_prefix"][..]),
        ("install", &["name", "root", "command_prefix"][..]),
        (
            "repo",
            &["name", "url", "key", "state", "command_prefix"][..],
        ),
    ] {
        let r = Run::of(
            ansible(&env, "ansible-doc")
                .args(["-t", "module"])
                .arg(format!("berth.core.{module}")),
        );
        assert_eq!(r.code, 0, "{r}");
        assert!(
            r.stdout
                .contains(&format!("BERTH.CORE.{}", module.to_uppercase())),
            "{r}"
        );
        for o in options {
            assert!(
                r.stdout.contains(&format!("- {o}\n")) || r.stdout.contains(&format!("= {o}\n")),
                "{module} {o}:\n{r}"
            );
        }
        assert!(
            r.stdout.contains("EXAMPLES") && r.stdout.contains("RETURN VALUES"),
            "{r}"
        );
    }
}

#[test]
fn a_failing_apply_carries_berths_error_hint_and_exit_code() {
    if !have("ansible-playbook", "the Ansible collection") {
        return;
    }
    let env = Env::new();
    myapp(&env);
    let src = env.dir().join("bad-profiles");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("bad.toml"),
        "profile = \"bad\"\n[packages]\nmyapp = \">>> 1\"\n",
    )
    .unwrap();
    let before = snapshot(env.root(), None);
    let (r, res) = json_result(&mut example(&env, &src, "bad.toml", &[]), "berth apply");
    assert_ne!(r.code, 0, "{r}");
    assert_eq!(res["failed"], true, "{res}");
    let msg = res["msg"].as_str().unwrap();
    assert!(
        msg.contains("bad version constraint `>>> 1`") && !msg.starts_with("error:"),
        "{res}"
    );
    assert!(
        res["hint"]
            .as_str()
            .unwrap()
            .contains("fix the profile file"),
        "{res}"
    );
    assert_eq!(res["rc"], 6, "{res}");
    assert_eq!(snapshot(env.root(), None), before);
}

#[test]
fn check_diff_shows_versions_and_config_steps_and_changes_nothing() {
    if !have("ansible-playbook", "the Ansible collection") {
        return;
    }
    let env = Env::new();
    myapp(&env);
    // The profile files are where the playbook copies them: check mode copies nothing.
    let deployed = env.dir().join("deployed");
    copy_tree(&repo_dir().join("profiles"), &deployed);
    let before = snapshot(env.root(), None);
    let (r, res) = json_result(
        &mut example(&env, &deployed, "site-a.toml", &["--check", "--diff"]),
        "berth apply",
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(res["changed"], true, "{res}");
    assert_eq!(res["dry_run"], true, "{res}");
    let after = res["diff"]["after"]
        .as_str()
        .unwrap_or_else(|| panic!("{res}"));
    assert!(after.contains("package myapp 1.5.0\n"), "{res}");
    assert!(after.contains("config site.ini (create)\n"), "{res}");
    assert!(
        after.contains("dir uploads ") && after.contains(" 0750 (create)\n"),
        "{res}"
    );
    assert_eq!(snapshot(env.root(), None), before);

    // Converged, then the profile file moves to 1.4.2: the diff shows the version change.
    assert_eq!(
        Run::of(&mut example(&env, &deployed, "site-a.toml", &[])).code,
        0
    );
    let text = std::fs::read_to_string(deployed.join("site-a.toml"))
        .unwrap()
        .replace("\">= 1.4, << 2\"", "\"1.4.2\"");
    std::fs::write(deployed.join("site-a.toml"), text).unwrap();
    let before = snapshot(env.root(), None);
    let (r, res) = json_result(
        &mut example(&env, &deployed, "site-a.toml", &["--check", "--diff"]),
        "berth apply",
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        res["diff"]["before"], "generation 1\npackage myapp 1.5.0\n",
        "{res}"
    );
    assert!(
        res["diff"]["after"]
            .as_str()
            .unwrap()
            .contains("package myapp 1.4.2\n"),
        "{res}"
    );
    assert_eq!(snapshot(env.root(), None), before);
}

#[test]
fn repo_and_install_modules_are_idempotent() {
    if !have("ansible-playbook", "the Ansible collection") {
        return;
    }
    let env = Env::new();
    let pkg = env.pack(&repo_dir().join("examples/myapp-1.5.0"));
    let key = env.dir().join("release");
    let k = Run::of(
        clean_env(&mut Command::new(BERTH))
            .args(["key", "generate"])
            .arg(&key),
    );
    assert_eq!(k.code, 0, "{k}");
    let play = env.dir().join("modules.yml");
    std::fs::write(
        &play,
        format!(
            r#"- hosts: servers
  gather_facts: false
  tasks:
    - name: repo
      berth.core.repo:
        berth: {BERTH}
        root: {root}
        name: origin
        url: ["file://{dir}/repo/"]
        key: {dir}/release.pub
    - name: install
      berth.core.install:
        berth: {BERTH}
        root: {root}
        name: ["{pkg}"]
"#,
            root = env.root().display(),
            dir = env.dir().display(),
            pkg = pkg.display(),
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = ansible(&env, "ansible-playbook");
        c.arg("-i").arg(inventory()).arg(&play).args(args);
        Run::of(&mut c)
    };
    let check = run(&["--check"]);
    assert!(recap(&check).contains("changed=2"), "{check}");
    // Check mode changed nothing: no repository, no package.
    assert_eq!(env.json(&["repo", "list"]), serde_json::json!([]));
    assert_eq!(env.json(&["list"]), serde_json::json!([]));
    let first = run(&[]);
    assert!(
        recap(&first).contains("changed=2") && recap(&first).contains("failed=0"),
        "{first}"
    );
    let repos = env.json(&["repo", "list"]);
    assert_eq!(repos[0]["name"], "origin", "{repos}");
    let second = run(&[]);
    assert!(
        recap(&second).contains("changed=0") && recap(&second).contains("failed=0"),
        "{second}"
    );
    let check = run(&["--check"]);
    assert!(recap(&check).contains("changed=0"), "{check}");
}
