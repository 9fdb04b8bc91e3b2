//! Issue 23, finding 3: a switch that awaits its restart and health check is recorded
//! before the link moves ("pending N+1, from N"). berth killed meanwhile leaves no hook,
//! restart or health process behind (the supervisor of each command ends them), `check`
//! reports the pending switch, and the next switch of the profile (or `check --repair`)
//! finishes it: checks again and keeps it, or switches back. And the campaign of the
//! issue's "Done when": 100 SIGKILLs at random moments of `berth apply` with hooks and a
//! health check that take a while.

use crate::common::crash::{problems, spawn};
use crate::common::Env;
use std::time::{Duration, Instant};

/// Processes whose command line holds `marker`, as (pid, command line).
pub fn marked(marker: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        // A zombie has an empty command line: it is gone, its parent has not reaped it.
        if line.contains(marker) {
            out.push((pid, line));
        }
    }
    out
}

/// Waits (up to a generous bound, so a loaded machine cannot fail it) until no process
/// holds `marker`; returns what is still there.
pub fn left_after_grace(marker: &str) -> Vec<(i32, String)> {
    let start = Instant::now();
    loop {
        let left = marked(marker);
        if left.is_empty() || start.elapsed() > Duration::from_secs(10) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills whatever holds `marker` (so that a failing test leaves nothing running).
fn reap(marker: &str) {
    for (pid, _) in marked(marker) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Starts berth with `args`, SIGKILLs it as soon as `seen` holds (or never, when it ends
/// first), reaps it; true when the kill interrupted it.
pub fn kill_when(env: &Env, args: &[&str], seen: impl Fn() -> bool) -> bool {
    let mut child = spawn(env, args);
    while child.try_wait().unwrap().is_none() {
        if seen() {
            std::thread::sleep(Duration::from_millis(30));
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let hit = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    hit
}

/// Whether a process holding `marker` runs.
fn running(marker: &str) -> bool {
    !marked(marker).is_empty()
}

fn pending_problems(env: &Env) -> Vec<serde_json::Value> {
    problems(env, &[])
        .into_iter()
        .filter(|p| p["path"].as_str().unwrap_or("").ends_with("pending.toml"))
        .collect()
}

#[test]
fn a_switch_killed_during_its_health_check_is_pending_and_the_next_command_finishes_it() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    env.script_package("other", "1", "other");
    let flag = env.dir().join("healthy");
    // Unique in the process table: the health command and the grandchild it starts.
    let marker = format!("10{}.25", std::process::id() % 100_000);
    let health = format!(
        "tool | grep -q 'tool 1' && exit 0; [ -e {} ] && exit 0; sleep {marker} & wait; exit 1",
        flag.display()
    );
    let spec = env.spec_file(
        "h.toml",
        &format!(
            "profile = \"h\"\n[service]\nexec = \"tool\"\nrestart = \"true\"\n\
             health = {health:?}\nhealth_timeout = \"1s\"\n"
        ),
    );
    env.use_with_spec("h", &["tool@1"], &spec).ok();

    // Killed while generation 2 is being checked: its health command and the grandchild
    // that left berth's reach die with berth; the switch is recorded as pending.
    assert!(
        kill_when(&env, &["use", "h", "tool@2"], || running(&marker)),
        "berth ended before the kill"
    );
    let left = left_after_grace(&marker);
    reap(&marker);
    assert!(left.is_empty(), "outlived berth: {left:?}");
    assert_eq!(env.current("h"), Some(2));
    let p = pending_problems(&env);
    assert_eq!(p.len(), 1, "{p:?}");
    let detail = p[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("switch to generation 2 (from 1)"),
        "{detail}"
    );

    // Still unhealthy: the next switch checks again, switches back, says so, then goes on.
    let v = env.json(&["use", "h", "other@1"]);
    let notes = v["notes"].to_string();
    assert!(notes.contains("failed again"), "{v}");
    assert!(notes.contains("switched back to generation 1"), "{v}");
    assert_eq!(
        v["from"], 1,
        "the new switch starts from the good generation: {v}"
    );
    assert!(pending_problems(&env).is_empty());
    assert!(problems(&env, &[]).is_empty());
    let good = env.current("h").unwrap();

    // Killed again; this time the new generation turns healthy: `check --repair` finishes
    // the switch by checking it again, and it stays.
    assert!(
        kill_when(&env, &["use", "h", "tool@2"], || running(&marker)),
        "berth ended before the kill"
    );
    let left = left_after_grace(&marker);
    reap(&marker);
    assert!(left.is_empty(), "outlived berth: {left:?}");
    let pending_to = env.current("h").unwrap();
    assert_ne!(pending_to, good);
    assert_eq!(pending_problems(&env).len(), 1);
    std::fs::write(&flag, "").unwrap();
    let r = env.run(&["check", "--repair"]);
    assert!(r.code == 0 || r.code == 5, "{r}");
    assert!(problems(&env, &[]).is_empty());
    assert_eq!(env.current("h"), Some(pending_to), "healthy now: it stays");
}

/// The finishing step is itself a switch that waits on a health check: berth killed while
/// it checks the pending generation again leaves the record as it was (nothing half
/// finished, no process left), and the command after finishes it.
#[test]
fn a_kill_while_a_pending_switch_is_being_finished_leaves_it_pending_for_the_next_command() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    env.script_package("other", "1", "other");
    let marker = format!("30{}.25", std::process::id() % 100_000);
    // Generation 1 is healthy; anything with tool 2 never is.
    let health = format!("tool | grep -q 'tool 1' && exit 0; sleep {marker} & wait; exit 1");
    let spec = env.spec_file(
        "f.toml",
        &format!(
            "profile = \"f\"\n[service]\nexec = \"tool\"\nrestart = \"true\"\n\
             health = {health:?}\nhealth_timeout = \"1s\"\n"
        ),
    );
    env.use_with_spec("f", &["tool@1"], &spec).ok();
    assert!(
        kill_when(&env, &["use", "f", "tool@2"], || running(&marker)),
        "berth ended before the kill"
    );
    reap(&marker);
    assert_eq!(pending_to(&env, "f"), Some(2));

    // Each of these finishes the pending switch first: killed while it checks generation 2
    // again, it leaves the same record and the same link, and nothing running.
    for args in [
        &["check", "--repair"][..],
        &["use", "f", "other@1"],
        &["rollback", "f"],
    ] {
        assert!(
            kill_when(&env, args, || running(&marker)),
            "berth {args:?} ended before the kill"
        );
        let left = left_after_grace(&marker);
        reap(&marker);
        assert!(left.is_empty(), "outlived berth {args:?}: {left:?}");
        assert_eq!(pending_to(&env, "f"), Some(2), "after a kill of {args:?}");
        assert_eq!(env.current("f"), Some(2), "after a kill of {args:?}");
        let p = pending_problems(&env);
        assert_eq!(p.len(), 1, "{p:?}");
    }

    // Left alone, the next command finishes it (fails again, switches back) and goes on.
    let v = env.json(&["use", "f", "other@1"]);
    let notes = v["notes"].to_string();
    assert!(notes.contains("switched back to generation 1"), "{v}");
    assert_eq!(v["from"], 1, "{v}");
    assert_eq!(pending_to(&env, "f"), None);
    assert!(problems(&env, &[]).is_empty(), "{:?}", problems(&env, &[]));
}

#[test]
fn a_restart_command_may_leave_its_daemon_running() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    let marker = format!("20{}.5", std::process::id() % 100_000);
    let spec = env.spec_file(
        "d.toml",
        &format!(
            "profile = \"d\"\n[service]\nexec = \"tool\"\n\
             restart = \"sleep {marker} >/dev/null 2>&1 &\"\n"
        ),
    );
    env.use_with_spec("d", &["tool@1"], &spec).ok();
    let daemon = marked(&marker);
    reap(&marker);
    assert!(
        daemon.iter().any(|(_, l)| l.starts_with("sleep ")),
        "the service a restart command started runs on: {daemon:?}"
    );
}

/// The generation `profile`'s pending record names, if there is one.
fn pending_to(env: &Env, profile: &str) -> Option<u64> {
    let p = env
        .root()
        .join("etc")
        .join(profile)
        .join(".berth/pending.toml");
    let text = std::fs::read_to_string(p).ok()?;
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["to"].as_integer().map(|n| n as u64)
}

#[test]
fn apply_killed_at_100_random_moments_leaves_a_checked_or_pending_generation_and_no_process() {
    use crate::common::crash::{Moments, Span};
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    let log = env.dir().join("healthy.log");
    // Every hook and health command sleeps a little, under a number no other process has.
    let marker = format!("{:05}7", std::process::id() % 100_000);
    let spec = |want: &str| {
        format!(
            "profile = \"b\"\n[packages]\ntool = \"{want}\"\n\
             [hooks]\npre-switch = \"sleep 0.02{marker}\"\npost-switch = \"sleep 0.02{marker}\"\n\
             [service]\nexec = \"tool\"\nrestart = \"sleep 0.02{marker}\"\n\
             health = \"sleep 0.05{marker} & wait; echo $BERTH_TO_GENERATION >> {}\"\n\
             health_timeout = \"10s\"\n",
            log.display()
        )
    };
    let files = [
        env.spec_file("b1.toml", &spec(">= 1, << 2")),
        env.spec_file("b2.toml", &spec(">= 2")),
    ];
    // The file that changes the profile: the other version than the current one's.
    let changing = || {
        let on_one = env
            .current("b")
            .is_some_and(|n| env.gen_packages("b", n).iter().any(|p| p == "tool@1"));
        let f = &files[usize::from(on_one)];
        vec!["apply".to_string(), f.display().to_string()]
    };
    let start = Instant::now();
    assert!(env.run(&["apply", files[0].to_str().unwrap()]).success());
    // How long a whole apply takes, switch, hooks and health check included.
    let t0 = Instant::now();
    let a = changing();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert!(env.run(&a).success());
    let span = Span(t0.elapsed());
    let mut moments = Moments::new(0x23_5eed, 100);
    let (mut hits, mut pending_seen, mut next_cleaned) = (0, 0, 0);
    for i in 0..100 {
        let a = changing();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let at = span.at(moments.fraction(i));
        let mut child = crate::common::crash::spawn(&env, &a);
        std::thread::sleep(at);
        let hit = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        hits += usize::from(hit);
        let left = left_after_grace(&marker);
        reap(&marker);
        assert!(left.is_empty(), "round {i}: outlived berth: {left:?}");
        if let Some(now) = env.current("b") {
            let healthy: Vec<u64> = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            assert!(
                healthy.contains(&now) || pending_to(&env, "b") == Some(now),
                "round {i}: b is at generation {now}, never checked healthy ({healthy:?}) \
                 and not recorded pending"
            );
            pending_seen += usize::from(pending_to(&env, "b").is_some());
        }
        if !problems(&env, &[]).is_empty() {
            // The next command on the profile finishes what was left.
            let r = env.run(&a);
            assert!(r.success(), "round {i}: {r}");
            let p = problems(&env, &[]);
            assert!(p.is_empty(), "round {i}: after the next apply: {p:?}");
            next_cleaned += 1;
        }
    }
    eprintln!(
        "apply: {hits} of 100 kills hit, {pending_seen} left a pending switch, {next_cleaned} \
         left something the next apply finished, {:.0?} in all",
        start.elapsed()
    );
    assert!(hits >= 60, "only {hits} of 100 kills interrupted apply");
    assert!(
        pending_seen > 0,
        "no kill landed in a restart or health check"
    );
}

#[test]
fn apply_shows_a_pending_switch_in_its_dry_run_and_reports_finishing_it() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    let flag = env.dir().join("healthy");
    let marker = format!("30{}.25", std::process::id() % 100_000);
    let health = format!(
        "tool | grep -q 'tool 1' && exit 0; [ -e {} ] && exit 0; sleep {marker} & wait; exit 1",
        flag.display()
    );
    let file = |v: &str| {
        env.profile_file(
            "a.toml",
            &format!(
                "profile = \"a\"\n[packages]\ntool = \"{v}\"\n[service]\nexec = \"tool\"\n\
                 restart = \"true\"\nhealth = {health:?}\nhealth_timeout = \"1s\"\n"
            ),
        )
    };
    env.apply(&file("1"), &[]).ok();
    let two = file("2");
    let two = two.to_str().unwrap();
    assert!(
        kill_when(&env, &["apply", two], || running(&marker)),
        "berth ended before the kill"
    );
    let left = left_after_grace(&marker);
    reap(&marker);
    assert!(left.is_empty(), "outlived berth: {left:?}");
    assert_eq!(env.current("a"), Some(2));

    // The dry run says what the real run will finish first, and changes nothing.
    let before = crate::common::snapshot(env.root(), None);
    let dry = env.json(&["apply", "--dry-run", two]);
    let notes = dry["notes"].to_string();
    assert!(
        notes.contains("switch to generation 2 (from 1)") && notes.contains("finishes it first"),
        "{dry}"
    );
    assert_eq!(crate::common::snapshot(env.root(), None), before);

    // Healthy now: the real run finishes the switch and its report says so.
    std::fs::write(&flag, "").unwrap();
    let r = env.json(&["apply", two]);
    let notes = r["notes"].to_string();
    assert!(notes.contains("generation 2 is healthy and stays"), "{r}");
    assert_eq!(r["changed"], false, "nothing else to do: {r}");
    assert!(pending_problems(&env).is_empty());
    assert_eq!(env.current("a"), Some(2));
}
