//! The Ansible example (`examples/ansible/`) run with the real `ansible-playbook` against a
//! throw-away root: the first run converges the example profile and reports changes, the
//! second reports `changed=0`, and check mode (`berth apply --dry-run`) changes nothing.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn playbook(env: &Env, check: bool) -> Run {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ex = repo.join("examples/ansible");
    // As root or as CI's unprivileged user: every directory Ansible writes is ours.
    let home = env.dir().join("home");
    let tmp = env.dir().join("ansible-tmp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut c = Command::new("ansible-playbook");
    clean_env(&mut c)
        .env("HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", &tmp)
        .env("ANSIBLE_REMOTE_TEMP", &tmp)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env_remove("ANSIBLE_CONFIG")
        .current_dir(env.dir())
        .arg("-i")
        .arg(ex.join("inventory.ini"))
        .arg(ex.join("playbook.yml"))
        .arg("-e")
        .arg(format!("berth={BERTH}"))
        .arg("-e")
        .arg(format!("berth_root={}", env.root().display()))
        .arg("-e")
        .arg(format!("profile_src={}", repo.join("profiles").display()))
        .arg("-e")
        .arg(format!(
            "profile_dest={}",
            env.dir().join("deployed").display()
        ))
        .arg("-e")
        .arg("profile_file=site-a.toml");
    if check {
        c.arg("--check");
    }
    Run::of(&mut c)
}

fn recap(r: &Run) -> String {
    r.stdout
        .lines()
        .find(|l| l.starts_with("localhost") && l.contains("changed="))
        .unwrap_or_else(|| panic!("no recap line:\n{r}"))
        .to_string()
}

#[test]
fn the_ansible_example_is_idempotent() {
    if !have("ansible-playbook", "the Ansible example") {
        return;
    }
    let env = Env::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for v in ["1.4.2", "1.5.0"] {
        env.install_dir(&repo.join(format!("examples/myapp-{v}")));
    }
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
