//! The rendered config of a profile file's templates belongs to its generation: rollback,
//! switch, the automatic switch back after a failed health check and `apply` of an older
//! profile file each put back the rendering of the generation they go to, by the same
//! 3-way rule as package config files; and a pre-switch hook that refuses leaves `etc/`
//! and `var/` byte-identical.

use crate::common::harden::{listing, sha_hex};
use crate::common::*;
use std::path::{Path, PathBuf};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// `site.toml` rendering `conf/site.ini` as `port = {port}`, with `extra` appended.
fn site(env: &Env, port: u32, extra: &str) -> PathBuf {
    env.profile_file("t/site.j2", "port = {{ port }}\n");
    env.profile_file(
        "site.toml",
        &format!(
            "profile = \"web\"\n[packages]\napp = \"*\"\n[config.\"conf/site.ini\"]\n\
             template = \"t/site.j2\"\nvars = {{ port = {port} }}\n{extra}"
        ),
    )
}

#[test]
fn rollback_switch_and_an_older_file_put_back_the_generations_rendering() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    let file = env.etc("web", "conf/site.ini");
    env.apply(&site(&env, 1, ""), &[]).ok();
    env.apply(&site(&env, 2, ""), &[]).ok();
    assert_eq!(read(&file), "port = 2\n");

    env.ok(&["rollback", "web"]);
    assert_eq!(
        read(&file),
        "port = 1\n",
        "rollback puts back generation 1's"
    );
    assert_eq!(env.config_state("web", "conf/site.ini"), "pristine");

    env.ok(&["switch", "web", "2"]);
    assert_eq!(read(&file), "port = 2\n");
    assert_eq!(env.config_state("web", "conf/site.ini"), "pristine");

    // `apply` of the older file: the same rendering as generation 1's, in a new generation.
    let r = env.apply(&site(&env, 1, ""), &["--json"]).ok();
    assert_eq!(r.json()["generation"], 3, "{r}");
    assert_eq!(read(&file), "port = 1\n");

    // A template that changes while the profile file stays: a new generation too, whose
    // rendering a rollback undoes.
    env.profile_file("t/site.j2", "port = {{ port }}\nworkers = 4\n");
    let r = env.apply(&env.dir().join("profiles/site.toml"), &[]).ok();
    assert!(r.stdout.contains("config renders differently"), "{r}");
    assert_eq!(read(&file), "port = 1\nworkers = 4\n");
    env.ok(&["rollback", "web"]);
    assert_eq!(read(&file), "port = 1\n");
    assert_eq!(env.config_state("web", "conf/site.ini"), "pristine");
}

#[test]
fn an_operators_edit_survives_a_rollback_of_the_rendering() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    let file = env.etc("web", "conf/site.ini");
    let dist = env.etc("web", "conf/site.ini.berth-dist");
    env.apply(&site(&env, 1, ""), &[]).ok();
    env.apply(&site(&env, 2, ""), &[]).ok();
    std::fs::write(&file, "port = 2\n# mine\n").unwrap();
    let r = env.run(&["rollback", "web"]).ok();
    assert_eq!(read(&file), "port = 2\n# mine\n", "the edit is kept");
    assert_eq!(
        read(&dist),
        "port = 1\n",
        "generation 1's rendering waits beside it"
    );
    assert!(
        r.stderr.contains("generation 1 renders it differently"),
        "a notice: {r}"
    );
    assert_eq!(env.config_state("web", "conf/site.ini"), "pending");
    // Back to generation 2: its rendering is the one the edit was made on; the edit stays.
    env.ok(&["switch", "web", "2"]);
    assert_eq!(read(&file), "port = 2\n# mine\n");
}

#[test]
fn the_automatic_switch_back_restores_the_old_generations_rendering() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    let file = env.etc("web", "conf/site.ini");
    let ok = "[service]\nexec = \"app\"\nrestart = \"true\"\nhealth = \"true\"\n";
    env.apply(&site(&env, 1, ok), &[]).ok();
    let failing = "[service]\nexec = \"app\"\nrestart = \"true\"\nhealth = \"false\"\n\
                   health_timeout = \"1s\"\n";
    let r = env.apply(&site(&env, 2, failing), &[]).code(9);
    assert!(r.stderr.contains("switched back to generation 1"), "{r}");
    assert_eq!(env.current("web"), Some(1));
    assert_eq!(
        read(&file),
        "port = 1\n",
        "generation 1 runs with its own config"
    );
    assert_eq!(env.config_state("web", "conf/site.ini"), "pristine");
}

#[test]
fn a_refused_pre_switch_hook_leaves_etc_and_var_byte_identical() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    let refuse = "[hooks]\npre-switch = \"exit 3\"\n[[dir]]\npath = \"uploads\"\n";
    let listing = |env: &Env| {
        (
            listing(&env.root().join("etc")),
            listing(&env.root().join("var")),
        )
    };
    // A first apply: nothing of the profile may appear.
    let before = listing(&env);
    env.apply(&site(&env, 1, refuse), &[]).code(9);
    assert_eq!(listing(&env), before, "first apply, refused");
    assert!(!env.etc("web", "conf/site.ini").exists());

    // A later one: the new rendering, the new directory, nothing of them.
    env.apply(&site(&env, 1, ""), &[]).ok();
    let before = listing(&env);
    let r = env.apply(&site(&env, 2, refuse), &[]).code(9);
    assert!(r.stderr.contains("nothing was changed"), "{r}");
    assert_eq!(listing(&env), before, "later apply, refused");
    assert_eq!(read(&env.etc("web", "conf/site.ini")), "port = 1\n");
    assert_eq!(env.current("web"), Some(1));
}

#[test]
fn renderings_go_with_their_generations_and_check_names_a_missing_one() {
    let env = Env::new();
    env.config_package("app", "1.0", "x\n");
    for port in 1..=3 {
        env.apply(&site(&env, port, ""), &[]).ok();
    }
    let kept = || {
        std::fs::read_dir(env.etc("web", ".berth/rendered"))
            .unwrap()
            .count()
    };
    assert_eq!(kept(), 3);
    env.ok(&["gc", "--keep", "1"]);
    assert_eq!(
        kept(),
        1,
        "the renderings of pruned generations went with them"
    );
    env.ok(&["check"]);

    // A rendering a generation names, gone: check says which and the switch leaves the
    // file as it is, with a warning.
    env.apply(&site(&env, 4, ""), &[]).ok();
    let h = sha_hex(b"port = 4\n");
    std::fs::remove_file(env.etc("web", &format!(".berth/rendered/{h}"))).unwrap();
    let r = env.run(&["check"]);
    assert_ne!(r.code, 0, "{r}");
    assert!(
        r.stdout.contains("generation 4 recorded for it is missing"),
        "{r}"
    );
    env.ok(&["rollback", "web"]);
    let r = env.run(&["switch", "web", "4"]).ok();
    assert!(
        r.stderr.contains("the rendering generation 4 had is gone"),
        "{r}"
    );
    assert_eq!(read(&env.etc("web", "conf/site.ini")), "port = 3\n");
}
