//! A switch of a profile whose profile file has a `[service]`: restart, health check, and
//! the automatic switch back when the new version is unhealthy — with a real HTTP service
//! in two versions started on 127.0.0.1 by the profile's restart command and asked with
//! curl. And the `pre-switch`/`post-switch` hooks.

use crate::common;

use crate::common::ops::Service;
use crate::common::Env;

#[test]
fn failed_health_check_switches_back_and_the_old_version_serves_again() {
    let env = Env::new();
    env.http_service("1", false);
    env.http_service("2", true);
    let svc = Service::new(&env);
    let spec = env.spec_file("web.toml", &svc.spec("web", "3s"));
    let r = env.use_with_spec("web", &["svc@1"], &spec).ok();
    assert!(r.stdout.contains("healthy after"), "{r}");
    assert_eq!(svc.get("/version").as_deref(), Some("1"));

    let r = env.run(&["use", "web", "svc@2"]).code(9);
    let line = r.stderr.lines().next().unwrap();
    assert!(
        line.starts_with("error: health check of web generation 2 failed"),
        "{r}"
    );
    assert!(
        line.contains(&svc.health_command()),
        "names the command: {r}"
    );
    assert!(line.contains("500"), "has curl's output: {r}");
    assert!(
        line.contains("switched back to generation 1, restarted it, and it is healthy"),
        "{r}"
    );
    assert_eq!(env.current("web"), Some(1));
    assert_eq!(env.generations("web"), vec![1, 2], "the failed one stays");
    assert_eq!(svc.get_eventually("/version").as_deref(), Some("1"));
    assert_eq!(svc.get("/health").as_deref(), Some("ok"));
}

#[test]
fn passing_health_check_keeps_the_new_version() {
    let env = Env::new();
    env.http_service("1", false);
    env.http_service("3", false);
    let svc = Service::new(&env);
    let spec = env.spec_file("web.toml", &svc.spec("web", "20s"));
    env.use_with_spec("web", &["svc@1"], &spec).ok();
    let v = env.json(&["use", "web", "svc@3"]);
    assert_eq!(v["to"], 2);
    let notes: Vec<String> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("restarted: ")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("healthy after")),
        "{notes:?}"
    );
    assert_eq!(env.current("web"), Some(2));
    assert_eq!(svc.get("/version").as_deref(), Some("3"));
    // The profile file is carried forward: a rollback restarts and checks too.
    let r = env.run(&["rollback", "web"]).ok();
    assert!(r.stdout.contains("healthy after"), "{r}");
    assert_eq!(svc.get_eventually("/version").as_deref(), Some("1"));
}

#[test]
fn a_failing_restart_command_switches_back_too() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    let ok = env.spec_file(
        "ok.toml",
        "profile = \"r\"\n[service]\nexec = \"tool\"\nrestart = \"true\"\n",
    );
    env.use_with_spec("r", &["tool@1"], &ok).ok();
    let bad = env.spec_file(
        "bad.toml",
        "profile = \"r\"\n[service]\nexec = \"tool\"\nrestart = \"echo cannot start; exit 4\"\n",
    );
    let r = env.use_with_spec("r", &["tool@2"], &bad).code(9);
    assert!(
        r.stderr.starts_with(
            "error: restart of r generation 2 failed: `echo cannot start; exit 4` exited 4, output: cannot start; switched back to generation 1"
        ),
        "{r}"
    );
    assert_eq!(env.current("r"), Some(1));
}

#[test]
fn a_service_without_restart_or_unit_is_not_restarted_and_says_so() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    let spec = env.spec_file("s.toml", "profile = \"s\"\n[service]\nexec = \"tool\"\n");
    let r = env.use_with_spec("s", &["tool@1"], &spec).ok();
    assert!(
        r.stderr
            .contains("warning: s was not restarted: no unit berth-s.service"),
        "{r}"
    );
}

#[test]
fn hooks_get_the_profile_and_generations_and_a_failing_pre_switch_changes_nothing() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    let log = env.dir().join("hooks.log");
    let hook = |when: &str| {
        format!(
            "echo \"{when} $BERTH_PROFILE from=$BERTH_FROM_GENERATION to=$BERTH_TO_GENERATION\" >> {}",
            log.display()
        )
    };
    let spec = env.spec_file(
        "h.toml",
        &format!(
            "profile = \"h\"\n[hooks]\npre-switch = '{}'\npost-switch = '{}'\n",
            hook("pre"),
            hook("post")
        ),
    );
    env.use_with_spec("h", &["tool@1"], &spec).ok();
    env.ok(&["use", "h", "tool@2"]);
    env.ok(&["rollback", "h"]);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "pre h from= to=1\npost h from= to=1\n\
         pre h from=1 to=2\npost h from=1 to=2\n\
         pre h from=2 to=1\npost h from=2 to=1\n"
    );

    let failing = env.spec_file(
        "bad.toml",
        "profile = \"h\"\n[hooks]\npre-switch = \"echo not now; exit 3\"\n",
    );
    let before = common::snapshot(env.root(), None);
    let r = env.use_with_spec("h", &["tool@2"], &failing).code(9);
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        "error: pre-switch hook of h failed: `echo not now; exit 3` exited 3, output: not now; \
         nothing was changed (h stays at generation 1)"
    );
    assert_eq!(env.current("h"), Some(1));
    assert_eq!(env.generations("h"), vec![1, 2], "no generation was made");
    assert_eq!(
        common::snapshot(env.root(), None),
        before,
        "the root is unchanged"
    );
}

#[test]
fn a_failing_post_switch_hook_warns_and_the_switch_stands() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    let spec = env.spec_file(
        "p.toml",
        "profile = \"p\"\n[hooks]\npost-switch = \"echo oops >&2; exit 1\"\n",
    );
    let r = env.use_with_spec("p", &["tool@1"], &spec).ok();
    assert!(
        r.stderr.contains("warning: post-switch hook `echo oops >&2; exit 1` exited 1, output: oops; generation 1 stays current"),
        "{r}"
    );
    assert_eq!(env.current("p"), Some(1));
}

#[test]
fn a_health_check_child_that_left_its_process_group_ends_at_the_time_limit() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    let pidfile = env.dir().join("escaped.pid");
    // The child starts a new session (out of the command's process group) and writes its
    // pid; the check itself hangs past the 1s timeout.
    let health = format!(
        "setsid sh -c 'echo $$ > {}; exec sleep 300' & sleep 300",
        pidfile.display()
    );
    let spec = env.spec_file(
        "e.toml",
        &format!(
            "profile = \"e\"\n[service]\nexec = \"tool\"\nrestart = \"true\"\nhealth = \"{health}\"\n\
             health_timeout = \"1s\"\n"
        ),
    );
    let r = env.use_with_spec("e", &["tool@1"], &spec);
    assert_ne!(r.code, 0, "the health check cannot pass: {r}");
    assert!(
        r.stderr.contains("health check of e generation 1 failed"),
        "{r}"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("the child wrote its pid")
        .trim()
        .parse()
        .unwrap();
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    if alive {
        // Do not leave it behind when the test fails.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    assert!(
        !alive,
        "the health check's setsid child {pid} still runs after berth returned: {r}"
    );
}
