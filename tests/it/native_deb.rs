//! .deb packages into the store (issue 9, points 1 and 2): real packages built with
//! `dpkg-deb --build` and one fetched from Debian's mirror install side by side under their
//! exact Debian versions, `info` shows their control fields, dependencies, conffiles and the
//! scripts that were not run, each profile runs its own version through its bin/, and a
//! .deb's Depends are checked at `use` against the generation and the host's dpkg status.

use crate::common::children;
use crate::common::have;
use crate::common::native::{build_deb, debian_hello_or_skip, dpkg_status, field, Deb};
use crate::common::Env;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

const V1: &str = "1:2.0~rc1-3";
const V2: &str = "1:2.0-1";

/// Runs berth with the dpkg status file `status` in place of the host's.
fn run_with_status(env: &Env, status: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = env
        .cmd(args)
        .env("BERTH_DPKG_STATUS", status)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Two versions of `demo`: V1 xz and plain; V2 zstd with a conffile, a postinst and a
/// Depends nothing can satisfy (and one the fake host satisfies).
fn two_demos(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let d1 = build_deb(
        env.dir(),
        "demo",
        V1,
        &Deb {
            compression: "xz",
            ..Deb::default()
        },
    );
    let d2 = build_deb(
        env.dir(),
        "demo",
        V2,
        &Deb {
            compression: "zstd",
            conffile: true,
            depends: Some("berth-missing-dep (>= 9) | berth-other-missing, libc6 (>= 2.0)"),
            postinst: true,
            ..Deb::default()
        },
    );
    (d1, d2)
}

#[test]
fn two_versions_of_a_deb_install_side_by_side_with_their_fields() {
    if !have(
        "dpkg-deb",
        "two_versions_of_a_deb_install_side_by_side_with_their_fields",
    ) {
        return;
    }
    let env = Env::new();
    let (d1, d2) = two_demos(&env);
    let status = dpkg_status(env.dir(), &[("libc6", "2.36-9", "install ok installed")]);
    let (code, out, err) = run_with_status(
        &env,
        &status,
        &[
            "--json",
            "install",
            d1.to_str().unwrap(),
            d2.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["version"], V1);
    assert_eq!(rows[1]["version"], V2);
    assert_eq!(rows[1]["scripts_not_run"], serde_json::json!(["postinst"]));
    // One warning, for the one package that has a script, naming it.
    assert_eq!(err.matches("maintainer scripts").count(), 1, "{err}");
    assert!(
        err.contains(&format!("demo@{V2}")) && err.contains("postinst"),
        "{err}"
    );
    assert!(
        !env.dir().join("postinst-ran").exists(),
        "postinst must never run"
    );

    let listed = env.listed();
    let versions: Vec<&str> = listed.iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(versions, vec![V1, V2], "Debian order, exact versions");
    for (v, id) in [(V1, &listed[0].2), (V2, &listed[1].2)] {
        let entry = env.entry_dir("demo", v, id);
        let text = std::fs::read_to_string(entry.join("usr/share/demo/VERSION")).unwrap();
        assert_eq!(text, format!("{v}\n"));
        let mode = std::fs::metadata(entry.join("usr/bin/demo"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "usr/bin/demo stays executable");
    }

    let (_, out, _) = run_with_status(&env, &status, &["--json", "info", &format!("demo@{V1}")]);
    let i1: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(i1["manifest"]["package"]["version"], V1);
    assert_eq!(
        i1["manifest"]["package"]["description"],
        "berth test package demo"
    );
    assert_eq!(
        i1["manifest"]["exports"]["bin"],
        serde_json::json!(["usr/bin", "usr/sbin", "bin", "sbin"])
    );
    assert_eq!(i1["origin"]["format"], "deb");
    assert_eq!(field(&i1, "Package"), "demo");
    assert_eq!(field(&i1, "Version"), V1);
    assert_eq!(field(&i1, "Architecture"), "all");
    assert!(field(&i1, "Description").contains("Second paragraph."));
    assert_eq!(i1["native"]["scripts_not_run"], serde_json::json!([]));

    let (_, out, _) = run_with_status(&env, &status, &["--json", "info", &format!("demo@{V2}")]);
    let i2: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        i2["manifest"]["config"],
        serde_json::json!([{"path": "etc/demo/demo.conf"}])
    );
    assert_eq!(
        i2["native"]["conffiles"],
        serde_json::json!(["/etc/demo/demo.conf"])
    );
    assert_eq!(
        i2["native"]["scripts_not_run"],
        serde_json::json!(["postinst"])
    );
    let deps = i2["native"]["depends"].as_array().unwrap();
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert_eq!(
        deps[0]["dependency"],
        "berth-missing-dep (>= 9) | berth-other-missing"
    );
    assert_eq!(deps[0]["satisfied"], false);
    assert_eq!(deps[0]["found"], "nothing provides it");
    assert_eq!(deps[1]["dependency"], "libc6 (>= 2.0)");
    assert_eq!(deps[1]["satisfied"], true);
    assert_eq!(deps[1]["found"], "libc6 2.36-9 (host)");

    // The human form says the same.
    let (_, human, _) = run_with_status(&env, &status, &["info", &format!("demo@{V2}")]);
    for want in [
        "UNMET",
        "/etc/demo/demo.conf",
        "postinst",
        "never run",
        "Package: demo",
    ] {
        assert!(human.contains(want), "{want} missing from:\n{human}");
    }
}

#[test]
fn each_profile_runs_its_own_version_through_its_bin() {
    if !have(
        "dpkg-deb",
        "each_profile_runs_its_own_version_through_its_bin",
    ) {
        return;
    }
    let env = Env::new();
    let (d1, d2) = two_demos(&env);
    env.run(&["install", d1.to_str().unwrap(), d2.to_str().unwrap()])
        .ok();
    env.run(&["use", "p1", &format!("demo@{V1}")]).ok();
    env.run(&["use", "p2", &format!("demo@{V2}")]).ok();
    let r1 = env.run(&["run", "p1", "--", "demo"]).ok();
    let r2 = env.run(&["run", "p2", "--", "demo"]).ok();
    assert_eq!(r1.stdout, format!("demo {V1}\n"));
    assert_eq!(r2.stdout, format!("demo {V2}\n"));
    assert!(
        !env.dir().join("postinst-ran").exists(),
        "postinst must never run"
    );
    // The profile's merged tree has the package's files at their usual relative paths.
    let share = env.root().join("profiles/p2/usr/share/demo/VERSION");
    assert_eq!(std::fs::read_to_string(share).unwrap(), format!("{V2}\n"));
    // Removing one version by its exact reference leaves the other.
    env.run(&["drop", "p1", "demo"]).ok();
    env.run(&["gc", "--keep", "1", "--grace", "0s"]).ok();
    // (What its postinst made in p2, `demo+scripts`, goes and stays with it.)
    let left: Vec<String> = env
        .listed()
        .into_iter()
        .filter(|(n, _, _)| n == "demo")
        .map(|(_, v, _)| v)
        .collect();
    assert_eq!(left, vec![V2.to_string()]);
}

#[test]
fn reinstalling_the_same_deb_changes_nothing() {
    if !have("dpkg-deb", "reinstalling_the_same_deb_changes_nothing") {
        return;
    }
    let env = Env::new();
    let (_, d2) = two_demos(&env);
    let first = env.install(&d2, &[]);
    let again = env.run(&["--json", "install", d2.to_str().unwrap()]).ok();
    let row = &again.json()[0];
    assert_eq!(row["status"], "unchanged");
    assert_eq!(row["id"], first["id"]);
    assert!(
        !again.stderr.contains("maintainer scripts"),
        "{}",
        again.stderr
    );
}

#[test]
fn unmet_depends_warn_at_use_and_strict_refuses() {
    if !have("dpkg-deb", "unmet_depends_warn_at_use_and_strict_refuses") {
        return;
    }
    let env = Env::new();
    let (_, d2) = two_demos(&env);
    env.install(&d2, &[]);
    let status = dpkg_status(env.dir(), &[("libc6", "2.36-9", "install ok installed")]);
    let spec = format!("demo@{V2}");
    let (code, out, err) = run_with_status(&env, &status, &["--json", "use", "p", &spec]);
    assert_eq!(code, 0, "{err}");
    let want = format!(
        "warning: demo@{V2} Depends: berth-missing-dep (>= 9) | berth-other-missing is not satisfied (nothing provides it)"
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(
        err.matches("warning: demo@").count(),
        1,
        "only the unmet one: {err}"
    );
    let change: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(change["unmet_depends"][0]["package"], spec);
    assert_eq!(change["unmet_depends"][0]["satisfied"], false);

    let before = children(&env.root().join("generations"));
    let (code, _, err) = run_with_status(&env, &status, &["use", "--strict", "strict", &spec]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("error: profile strict: 1 unmet dependency"),
        "{err}"
    );
    assert!(err.contains("berth-missing-dep (>= 9)"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(children(&env.root().join("generations")), before);
    assert!(!env.root().join("profiles/strict").exists());
}

#[test]
fn depends_are_met_by_the_generation_and_the_hosts_installed_packages() {
    if !have(
        "dpkg-deb",
        "depends_are_met_by_the_generation_and_the_hosts_installed_packages",
    ) {
        return;
    }
    let env = Env::new();
    let lib = build_deb(
        env.dir(),
        "libdemo",
        "1.5-1",
        &Deb {
            provides: Some("demo-api (= 2)"),
            ..Deb::default()
        },
    );
    let app = build_deb(
        env.dir(),
        "app",
        "3.0-1",
        &Deb {
            depends: Some("libdemo (>= 1.0), demo-api (>= 2), hostonly (>= 3.0), halfdone"),
            ..Deb::default()
        },
    );
    env.run(&["install", lib.to_str().unwrap(), app.to_str().unwrap()])
        .ok();
    let half = dpkg_status(
        env.dir(),
        &[
            ("hostonly", "3.1-2", "install ok installed"),
            ("halfdone", "1.0", "install ok unpacked"),
        ],
    );
    // Alone, app misses libdemo and demo-api (in no generation) and halfdone (unpacked
    // on the host does not count); hostonly is the host's.
    let (code, _, err) = run_with_status(&env, &half, &["use", "--strict", "p", "app"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("3 unmet dependencies"), "{err}");
    for dep in ["libdemo (>= 1.0)", "demo-api (>= 2)", "halfdone"] {
        assert!(err.contains(dep), "{dep}: {err}");
    }
    assert!(!err.contains("hostonly"), "{err}");
    // With libdemo in the generation, only halfdone is left.
    let (code, _, err) = run_with_status(&env, &half, &["use", "p", "libdemo", "app"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    assert!(
        err.contains("halfdone is not satisfied (nothing provides it)"),
        "{err}"
    );
    // Once the host has it installed, strict passes.
    let full = dpkg_status(
        env.dir(),
        &[
            ("hostonly", "3.1-2", "install ok installed"),
            ("halfdone", "1.0", "install ok installed"),
            ("third", "1", "install ok installed"),
        ],
    );
    let (code, _, err) = run_with_status(&env, &full, &["use", "--strict", "q", "libdemo", "app"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    // Dropping what app depends on is said like `use` says it (and still done).
    let (code, _, err) = run_with_status(&env, &full, &["drop", "q", "libdemo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("warning:").count(), 2, "{err}");
    for dep in ["libdemo (>= 1.0)", "demo-api (>= 2)"] {
        assert!(err.contains(dep), "{dep}: {err}");
    }
    let gen = std::fs::read_link(env.root().join("profiles/q")).unwrap();
    assert!(gen.ends_with("2"), "{gen:?}");
}

#[test]
fn hello_from_the_debian_mirror_installs_and_runs_from_its_profile() {
    let env = Env::new();
    let Some(deb) = debian_hello_or_skip("hello from the Debian mirror") else {
        return;
    };
    let row = env.install(&deb, &[]);
    assert_eq!(row["name"], "hello");
    let version = row["version"].as_str().unwrap().to_string();
    let entry = env.entry_dir("hello", &version, row["id"].as_str().unwrap());
    let exe = std::fs::metadata(entry.join("usr/bin/hello")).unwrap();
    assert!(exe.is_file() && exe.permissions().mode() & 0o111 != 0);
    let info = env.json(&["info", &format!("hello@{version}")]);
    assert_eq!(field(&info, "Package"), "hello");
    assert_eq!(field(&info, "Version"), version);
    assert!(info["native"]["depends"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["dependency"].as_str().unwrap().starts_with("libc6")));
    env.run(&["use", "p", "hello"]).ok();
    let r = env.run(&["run", "p", "--", "hello"]).ok();
    assert_eq!(r.stdout, "Hello, world!\n");
}
