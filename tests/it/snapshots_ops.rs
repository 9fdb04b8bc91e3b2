//! Snapshots (insta) of what the operations around packages print for people: `apply` (its
//! plan and its result), `config status` and `config diff`, `repo list`, `update`,
//! `search`, `info` of an imported .deb, `run --isolate -v`, `service install` and the unit
//! it writes, and one error each of apply, repo and isolate (store, profile and package
//! errors are in `snapshots_cli`). Filtered as there (`snapshots_cli::settings`), plus what
//! only these outputs hold: key ids, the berth binary's path, the canonical scratch path.
//!
//! To review a changed snapshot: `INSTA_UPDATE=always cargo test --release --test it
//! snapshots_ops`, then `git diff tests/it/snapshots/`.

use crate::common::isolate::{isolated, two_profiles};
use crate::common::native::{build_deb, dpkg_status, Deb};
use crate::common::{have, is_root_or_skip, Env, Run, BERTH};
use crate::snapshots_cli::{escape, placeholder, settings, shown};
use std::path::Path;

/// Runs `f` with the filters of `snapshots_cli` and this suite's own.
fn filtered(env: &Env, f: impl FnOnce()) {
    let mut s = settings(env);
    // The canonical scratch path (the unit file names the root by it).
    if let Ok(real) = std::fs::canonicalize(env.dir()) {
        s.add_filter(&escape(&real.display().to_string()), "[TMP]");
    }
    if let Ok(berth) = std::fs::canonicalize(BERTH) {
        s.add_filter(&escape(&berth.display().to_string()), "[BERTH]");
    }
    // minisign key ids (16 hex digits, upper case).
    s.add_filter(r"\b[0-9A-F]{16}\b", placeholder("key", 16));
    s.bind(f);
}

/// Runs berth on `env`, snapshots the run as `name`, returns it.
#[track_caller]
fn snap(env: &Env, name: &str, args: &[&str]) -> Run {
    let r = env.run(args);
    let text = shown(args, &r);
    filtered(env, || insta::assert_snapshot!(name, text));
    r
}

/// A profile file `c.toml` for profile `c`: package `app` with its config file, and the
/// template `t/c.j2` rendered to `conf/c.ini` with `port`.
fn config_profile(env: &Env, port: u32) -> String {
    env.profile_file("t/c.j2", "port = {{ port }}\n");
    let file = env.profile_file(
        "c.toml",
        &format!(
            "profile = \"c\"\n[packages]\napp = \"*\"\n[config.\"conf/c.ini\"]\n\
             template = \"t/c.j2\"\nvars = {{ port = {port} }}\n"
        ),
    );
    file.to_str().unwrap().to_string()
}

#[test]
fn apply_plan_result_and_config_reports() {
    let env = Env::new();
    env.config_package("app", "1.0", "x = 1\n");
    let file = config_profile(&env, 1);
    snap(&env, "apply_plan", &["apply", "--dry-run", &file]).ok();
    snap(&env, "apply_result", &["apply", &file]).ok();
    snap(&env, "apply_unchanged", &["apply", &file]).ok();
    std::fs::write(env.etc("c", "conf/c.ini"), "port = 1\n# mine\n").unwrap();
    snap(&env, "config_status", &["config", "status", "c"]).ok();
    snap(&env, "config_diff", &["config", "diff", "c"]).ok();
}

#[test]
fn error_apply_no_version_satisfies() {
    let env = Env::new();
    env.config_package("app", "1.0", "x = 1\n");
    let file = env.profile_file("c.toml", "profile = \"c\"\n[packages]\napp = \">= 9\"\n");
    let r = snap(
        &env,
        "error_apply_no_version",
        &["apply", file.to_str().unwrap()],
    );
    assert_ne!(r.code, 0, "{r}");
}

/// A publisher's key and repository (`repo/`, channel stable, myapp 1.0.0 and 1.5.0) and a
/// client that trusts it over file://.
fn with_repository() -> Env {
    let env = Env::new();
    env.ok(&["key", "generate", "release"]);
    env.ok(&["repo", "init", "repo", "--channel", "stable"]);
    let a = env.small_package("myapp", "1.0.0");
    let b = env.small_package("myapp", "1.5.0");
    env.ok(&[
        "repo",
        "publish",
        "repo",
        "--key",
        "release.key",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    let key = std::fs::read_to_string(env.dir().join("release.pub")).unwrap();
    let url = format!("file://{}/", env.dir().join("repo").display());
    env.ok(&[
        "repo",
        "add",
        "origin",
        &url,
        "--key",
        &key,
        "--channel",
        "stable",
    ]);
    env
}

#[test]
fn repository_reports() {
    let env = with_repository();
    snap(&env, "repo_list_before_update", &["repo", "list"]).ok();
    snap(&env, "update", &["update"]).ok();
    snap(&env, "repo_list", &["repo", "list"]).ok();
    snap(&env, "search", &["search", "myapp"]).ok();
}

#[test]
fn error_repo_unknown_package() {
    let env = with_repository();
    env.ok(&["update"]);
    let r = snap(&env, "error_repo_unknown_package", &["install", "nope"]);
    assert_ne!(r.code, 0, "{r}");
}

#[test]
fn info_of_an_imported_deb() {
    if !have("dpkg-deb", "info of an imported .deb") {
        return;
    }
    let env = Env::new();
    let deb = build_deb(
        env.dir(),
        "demo",
        "1:2.0-1",
        &Deb {
            compression: "xz",
            conffile: true,
            depends: Some("berth-missing-dep (>= 9) | berth-other-missing, libc6 (>= 2.0)"),
            postinst: true,
            ..Deb::default()
        },
    );
    let status = dpkg_status(env.dir(), &[("libc6", "2.36-9", "install ok installed")]);
    let with_status = |args: &[&str]| Run::of(env.cmd(args).env("BERTH_DPKG_STATUS", &status));
    with_status(&["install", deb.to_str().unwrap()]).ok();
    let args = ["info", "demo"];
    let r = with_status(&args).ok();
    let text = shown(&args, &r);
    filtered(&env, || insta::assert_snapshot!("info_deb", text));
}

#[test]
fn run_isolate_verbose() {
    // As root: the log names the kind of isolation, which differs without root.
    if !is_root_or_skip("run --isolate -v (as root)") {
        return;
    }
    let env = Env::new();
    two_profiles(&env);
    let args = ["-v", "a", "--", "/usr/bin/app"];
    let r = isolated(&env, &args).ok();
    let text = shown(&["run", "--isolate", "-v", "a", "--", "/usr/bin/app"], &r);
    filtered(&env, || {
        insta::assert_snapshot!("run_isolate_verbose", text);
    });
}

#[test]
fn error_isolate_unknown_capability() {
    // As root: without root, `--cap` is refused for that first.
    if !is_root_or_skip("run --isolate --cap (as root)") {
        return;
    }
    let env = Env::new();
    two_profiles(&env);
    let args = ["--cap", "NO_SUCH_CAP", "a", "--", "/usr/bin/app"];
    let r = isolated(&env, &args);
    assert_ne!(r.code, 0, "{r}");
    let text = shown(
        &[
            "run",
            "--isolate",
            "--cap",
            "NO_SUCH_CAP",
            "a",
            "--",
            "/usr/bin/app",
        ],
        &r,
    );
    filtered(&env, || {
        insta::assert_snapshot!("error_isolate_unknown_capability", text);
    });
}

#[test]
fn service_install_and_its_unit() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    let spec = env.spec_file(
        "site.toml",
        "profile = \"site\"\n[service]\nexec = \"tool serve --port 8080\"\nhealth = \"true\"\n",
    );
    env.use_with_spec("site", &["tool@1"], &spec).ok();
    let units = env.dir().join("units");
    std::fs::create_dir(&units).unwrap();
    let units = units.to_str().unwrap();
    snap(
        &env,
        "service_install",
        &["service", "install", "site", "--unit-dir", units],
    )
    .ok();
    let unit = std::fs::read_to_string(Path::new(units).join("berth-site.service")).unwrap();
    filtered(&env, || insta::assert_snapshot!("service_unit", unit));
}
