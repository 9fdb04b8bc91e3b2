//! Maintainer scripts run confined at `use`, and what they made becomes the made entry
//! `P+scripts`: hostile scripts change nothing of the host, a failing one is reported and
//! the profile is still made, a hanging one is killed at the limit, a rollback brings back
//! the older made entry, and real Debian packages (php) come out as `dpkg -i` leaves them.

use crate::common::have;
use crate::common::isolate::{needs_isolation, needs_root};
use crate::common::native::{build_deb, debian_deb, Deb};
use crate::common::Env;
use serde_json::Value;

/// Installs `demo@version` with `postinst` and uses it in profile `p`.
fn demo(env: &Env, version: &str, postinst: &str) -> crate::common::Run {
    let deb = build_deb(
        env.dir(),
        "demo",
        version,
        &Deb {
            postinst_text: Some(postinst),
            ..Deb::default()
        },
    );
    env.run(&["install", "-q", deb.to_str().unwrap()]).ok();
    env.run(&["use", "p", &format!("demo@{version}")])
}

fn report(env: &Env, version: &str) -> Value {
    let info = env.json(&["info", &format!("demo@{version}")]);
    info["native"]["scripts"][0]["runs"][0].clone()
}

fn skip(test: &str) -> bool {
    !have("dpkg-deb", test) || needs_isolation(test)
}

#[test]
fn a_hostile_postinst_changes_nothing_of_the_host() {
    if skip("a_hostile_postinst_changes_nothing_of_the_host") {
        return;
    }
    let env = Env::new();
    let escape = env.dir().join("escaped");
    let root = env.root().display().to_string();
    let script = format!(
        "#!/bin/sh\necho x > /etc/berth-host-file\necho x > /root/berth-host-file\n\
         echo x > '{root}/berth-host-file'\nrm -rf '{root}/store'\necho x > '{}'\n\
         sysctl -w kernel.hostname=pwned 2>&1; echo pwned > /proc/sys/kernel/hostname\n\
         echo made > /etc/demo-made.conf\nexit 0\n",
        escape.display()
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    demo(&env, "1.0", &script).ok();
    for p in [
        std::path::PathBuf::from("/etc/berth-host-file"),
        "/root/berth-host-file".into(),
        env.root().join("berth-host-file"),
        escape,
    ] {
        assert!(!p.exists(), "{} written on the host", p.display());
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        hostname
    );
    assert!(env.root().join("store").is_dir());
    // What it made in its own view is the made entry's, as config.
    let made = env.json(&["info", "demo+scripts"]);
    assert_eq!(made["manifest"]["made"]["for"], "demo");
    let config = made["manifest"]["config"].as_array().unwrap();
    assert!(
        config.iter().any(|c| c["path"] == "etc/demo-made.conf"),
        "{made}"
    );
}

#[test]
fn a_failing_postinst_is_reported_and_the_profile_still_made() {
    if skip("a_failing_postinst_is_reported_and_the_profile_still_made") {
        return;
    }
    let env = Env::new();
    let r = demo(
        &env,
        "1.0",
        "#!/bin/sh\nmkdir -p /var/lib/demo\necho boom-output\nexit 3\n",
    )
    .ok();
    assert!(r.stderr.contains("boom-output"), "{}", r.stderr);
    let rep = report(&env, "1.0");
    assert_eq!(rep["status"], "exit status 3", "{rep}");
    assert!(rep["output"].as_str().unwrap().contains("boom-output"));
    let gen = env.json(&["generations", "p"]);
    assert!(gen.to_string().contains("demo+scripts"), "{gen}");
    // -q silences the warning.
    let env2 = Env::new();
    let deb = build_deb(
        env2.dir(),
        "demo",
        "1.0",
        &Deb {
            postinst_text: Some("#!/bin/sh\necho boom-output\nexit 3\n"),
            ..Deb::default()
        },
    );
    env2.run(&["install", "-q", deb.to_str().unwrap()]).ok();
    let r = env2.run(&["-q", "use", "p", "demo"]).ok();
    assert!(!r.stderr.contains("boom-output"), "{}", r.stderr);
}

#[test]
fn a_hanging_postinst_is_killed_at_the_limit() {
    if skip("a_hanging_postinst_is_killed_at_the_limit") {
        return;
    }
    let env = Env::new();
    let deb = build_deb(
        env.dir(),
        "demo",
        "1.0",
        &Deb {
            postinst_text: Some("#!/bin/sh\nsleep 600 &\nsleep 600\n"),
            ..Deb::default()
        },
    );
    env.run(&["install", "-q", deb.to_str().unwrap()]).ok();
    let started = std::time::Instant::now();
    let r = crate::common::Run::of(
        env.cmd(&["use", "p", "demo"])
            .env("BERTH_SCRIPT_TIMEOUT", "2"),
    )
    .ok();
    assert!(started.elapsed().as_secs() < 30, "{r:?}");
    let rep = report(&env, "1.0");
    assert!(
        rep["status"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 2 s"),
        "{rep}"
    );
}

#[test]
fn a_rollback_brings_back_the_older_made_entry() {
    if skip("a_rollback_brings_back_the_older_made_entry") {
        return;
    }
    let env = Env::new();
    let script = |v: &str| format!("#!/bin/sh\necho {v} > /etc/demo-made.conf\n");
    demo(&env, "1.0", &script("one")).ok();
    demo(&env, "2.0", &script("two")).ok();
    let made = |env: &Env| -> String {
        let out = env.ok(&["run", "p", "--isolate", "--", "cat", "/etc/demo-made.conf"]);
        out.trim().to_string()
    };
    assert_eq!(made(&env), "two");
    env.run(&["rollback", "p"]).ok();
    assert_eq!(made(&env), "one");
    // Dropping the package drops what its scripts made.
    env.run(&["drop", "p", "demo"]).ok();
    let gen = env.json(&["generations", "p"]);
    let last = gen
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or(gen);
    assert!(!last.to_string().contains("demo+scripts"), "{last}");
}

#[test]
fn info_lists_each_script_with_what_was_understood() {
    // Unprivileged, the user namespace maps one uid: root's files of the host (passwd,
    // /var/lib) stay unwritable to the scripts, so adduser and mkdir fail there.
    let test = "info_lists_each_script_with_what_was_understood";
    if skip(test) || needs_root(test) {
        return;
    }
    let env = Env::new();
    let deb = build_deb(
        env.dir(),
        "demo",
        "1.0",
        &Deb {
            postinst_text: Some(
                "#!/bin/sh\nset -e\nadduser --system --group --home /var/lib/demo demo\n\
                 mkdir -p /var/log/demo\nchown demo:adm /var/log/demo\nchmod 2750 /var/log/demo\n\
                 update-alternatives --install /usr/bin/demo-alt demo-alt /usr/bin/demo 10\n\
                 invoke-rc.d demo start\n",
            ),
            ..Deb::default()
        },
    );
    env.run(&["install", "-q", deb.to_str().unwrap()]).ok();
    let before = env.ok(&["info", "demo"]);
    assert!(before.contains("postinst: never run"), "{before}");
    env.run(&["use", "p", "demo"]).ok();
    let made = env.json(&["info", "demo+scripts"]);
    let m = &made["manifest"];
    assert_eq!(m["user"][0]["name"], "demo", "{m}");
    let w = m["writable"].as_array().unwrap();
    let log = w.iter().find(|w| w["path"] == "var/log/demo").unwrap();
    assert_eq!(log["owner"], "demo:adm");
    let lines = m["made"]["scripts"][0]["made"].to_string();
    for want in [
        "/usr/bin/demo-alt -> /usr/bin/demo (alternative demo-alt, priority 10)",
        "not done: invoke-rc.d demo start",
        "user demo",
    ] {
        assert!(lines.contains(want), "{want} missing from {lines}");
    }
    let alt = env.ok(&[
        "run",
        "p",
        "--isolate",
        "--",
        "readlink",
        "/usr/bin/demo-alt",
    ]);
    assert_eq!(alt.trim(), "/usr/bin/demo");
    let human = env.ok(&["info", "demo"]);
    assert!(human.contains("postinst (demo+scripts-1.0-"), "{human}");
    assert!(human.contains("alternative demo-alt"), "{human}");
}

#[test]
fn php_from_debian_gets_its_php_link_ini_and_default_modules() {
    let test = "php_from_debian_gets_its_php_link_ini_and_default_modules";
    if skip(test) || needs_root(test) {
        return;
    }
    let mut debs = Vec::new();
    for (n, v) in [
        ("php-common", "2:93"),
        ("php8.2-common", "8.2.32-1~deb12u1"),
        ("php8.2-cli", "8.2.32-1~deb12u1"),
    ] {
        match debian_deb(n, v) {
            Ok(d) => debs.push(d),
            Err(why) => {
                crate::common::tools::unavailable(
                    test,
                    &format!("apt-get download {n}={v}: {why}"),
                );
                return;
            }
        }
    }
    let env = Env::new();
    let mut args = vec!["install", "-q"];
    args.extend(debs.iter().map(|d| d.to_str().unwrap()));
    env.run(&args).ok();
    env.run(&["use", "php", "php-common", "php8.2-common", "php8.2-cli"])
        .ok();
    let out = env.ok(&[
        "run",
        "php",
        "--isolate",
        "--",
        "sh",
        "-c",
        "readlink /usr/bin/php; php -m; test -f /etc/php/8.2/cli/php.ini && echo has-ini",
    ]);
    assert!(out.starts_with("/usr/bin/php8.2\n"), "{out}");
    assert!(out.lines().any(|l| l == "ctype"), "{out}");
    assert!(out.contains("has-ini"), "{out}");
    let cli = env.json(&["info", "php8.2-cli+scripts"]);
    let config = cli["manifest"]["config"].to_string();
    assert!(config.contains("etc/php/8.2/cli/php.ini"), "{config}");
    let common = env.json(&["info", "php8.2-common+scripts"]);
    assert!(
        common["manifest"]["config"]
            .to_string()
            .contains("etc/php/8.2/mods-available/ctype.ini"),
        "{common}"
    );
}
