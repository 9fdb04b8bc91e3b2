//! `berth apply`: a profile file converges a profile (versions, rendered config, users,
//! directories, the switch), a second run changes nothing, `--dry-run` reports exactly the
//! steps the real run carries out, and bad or hostile input is refused with one line, a
//! documented exit code and the root unchanged.

use crate::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const TEMPLATE: &str = "port = {{ port }}\nhost = {{ host }}\n";

fn site(env: &Env, constraint: &str) -> std::path::PathBuf {
    env.profile_file("templates/app.ini.j2", TEMPLATE);
    env.profile_file(
        "site.toml",
        &format!(
            "profile = \"site\"\n[packages]\napp = \"{constraint}\"\n\
             [config.\"app.ini\"]\ntemplate = \"templates/app.ini.j2\"\n\
             vars = {{ port = 8081, host = \"127.0.0.1\" }}\n\
             [[dir]]\npath = \"uploads\"\nmode = \"0750\"\n"
        ),
    )
}

#[test]
fn apply_converges_and_a_second_run_is_unchanged() {
    let env = Env::new();
    env.config_package("app", "1.0", "a = 1\n");
    env.config_package("app", "1.1", "a = 2\n");
    let file = site(&env, ">= 1.0, << 2");
    let r = env.apply(&file, &[]).ok();
    assert!(r.stdout.starts_with("site: changed"), "{r}");
    assert_eq!(
        std::fs::read_to_string(env.etc("site", "app.ini")).unwrap(),
        "port = 8081\nhost = 127.0.0.1\n"
    );
    let out = env
        .shim("app")
        .env("BERTH_PROFILE", "site")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "app 1.1\n");
    let uploads = std::fs::metadata(env.var("site", "uploads")).unwrap();
    assert!(uploads.is_dir());
    assert_eq!(uploads.permissions().mode() & 0o7777, 0o750);
    assert_eq!(uploads.uid(), nix::unistd::geteuid().as_raw());

    let before = snapshot(env.root(), None);
    let again = env.apply(&file, &[]).ok();
    assert_eq!(again.stdout, "site: unchanged\n", "{again}");
    let j = env.json(&["apply", file.to_str().unwrap()]);
    assert_eq!(j["changed"], false);
    assert_eq!(j["changes"].as_array().unwrap().len(), 0);
    assert_eq!(j["generation"], 1);
    assert_eq!(snapshot(env.root(), None), before);
    // The profile file is recorded verbatim in the generation.
    let gen =
        std::fs::read_to_string(env.root().join("generations/site/1/generation.toml")).unwrap();
    assert!(gen.contains("templates/app.ini.j2"), "{gen}");
}

#[test]
fn dry_run_reports_exactly_what_the_real_run_does_and_changes_nothing() {
    let env = Env::new();
    env.config_package("app", "1.0", "a = 1\n");
    env.config_package("app", "2.0", "a = 2\n");
    let file = site(&env, "1.0");
    env.apply(&file, &[]).ok();
    // Now change the constraint, the vars and the directory's mode.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("\"1.0\"", "\"*\"")
            .replace("8081", "9090")
            .replace("0750", "0700"),
    )
    .unwrap();
    let before = snapshot(env.root(), None);
    let dry = env.json(&["apply", file.to_str().unwrap(), "--dry-run"]);
    assert_eq!(
        snapshot(env.root(), None),
        before,
        "--dry-run changed the root"
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["changed"], true);
    let real = env.json(&["apply", file.to_str().unwrap()]);
    assert_eq!(real["dry_run"], false);
    assert_eq!(dry["changes"], real["changes"], "plan {dry}\nrun {real}");
    assert_eq!(dry["generation"], real["generation"]);
    assert_eq!(real["generation"], 2);
    let kinds: Vec<&str> = real["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dir", "config", "switch"], "{real}");
    assert_eq!(real["changes"][2]["packages"][0], "app 1.0 -> 2.0");
    // The generation records the profile file: `diff` shows what changed in it.
    let d = env.ok(&["diff", "site"]);
    for line in [
        "profile file: - app = \"1.0\"",
        "profile file: + app = \"*\"",
    ] {
        assert!(d.contains(line), "no `{line}` in:\n{d}");
    }
    assert_eq!(
        std::fs::metadata(env.var("site", "uploads"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o700
    );
}

#[test]
fn constraints_pick_the_newest_satisfying_version() {
    let env = Env::new();
    for v in ["1.0", "1.5", "1.10", "2.0~rc1", "2.0"] {
        env.script_package("app", v, "app");
    }
    for (constraint, want) in [
        ("1.5", "1.5"),
        ("*", "2.0"),
        ("1.*", "1.10"),
        (">= 1.0, << 2.0", "2.0~rc1"),
        (">= 1.0, << 2~", "1.10"),
        (">> 1.0, <= 1.5", "1.5"),
        ("= 1.0", "1.0"),
    ] {
        let file = env.profile_file(
            "p.toml",
            &format!("profile = \"p\"\n[packages]\napp = \"{constraint}\"\n"),
        );
        let j = env.json(&["apply", file.to_str().unwrap(), "--dry-run"]);
        let line = j["changes"][0]["packages"][0].as_str().unwrap().to_string();
        assert!(
            line.starts_with(&format!("app {want} ")),
            "{constraint}: {j}"
        );
    }
}

#[test]
fn a_wrong_directory_mode_is_corrected_and_its_content_kept() {
    let env = Env::new();
    env.config_package("app", "1.0", "a\n");
    let file = site(&env, "1.0");
    env.apply(&file, &[]).ok();
    let up = env.var("site", "uploads");
    std::fs::write(up.join("photo.jpg"), b"data").unwrap();
    std::fs::set_permissions(&up, std::fs::Permissions::from_mode(0o777)).unwrap();
    let j = env.json(&["apply", file.to_str().unwrap()]);
    assert_eq!(j["changes"][0]["kind"], "dir");
    assert_eq!(j["changes"][0]["action"], "fix");
    assert_eq!(
        std::fs::metadata(&up).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    assert_eq!(std::fs::read(up.join("photo.jpg")).unwrap(), b"data");
}

#[test]
fn users_are_created_when_missing_and_never_changed() {
    if !is_root_or_skip("apply creating a system user") {
        return;
    }
    let env = Env::new();
    env.config_package("app", "1.0", "a\n");
    let user = format!("berth-t{}", std::process::id() % 100_000);
    let file = env.profile_file(
        "u.toml",
        &format!(
            "profile = \"u\"\n[packages]\napp = \"1.0\"\n[[user]]\nname = \"{user}\"\n\
             [[dir]]\npath = \"data\"\nowner = \"{user}\"\nmode = \"0700\"\n"
        ),
    );
    let r = env.apply(&file, &["--json"]);
    let cleanup = || {
        let _ = std::process::Command::new("userdel").arg(&user).status();
    };
    if r.code != 0 {
        cleanup();
        panic!("{r}");
    }
    let j = r.json();
    assert_eq!(j["changes"][0]["kind"], "user", "{j}");
    let pw = std::process::Command::new("getent")
        .args(["passwd", &user])
        .output()
        .unwrap();
    let line = stdout(&pw);
    let data = std::fs::metadata(env.var("u", "data")).unwrap();
    let again = env.apply(&file, &[]);
    cleanup();
    assert!(line.ends_with(":/usr/sbin/nologin\n"), "{line}");
    let uid: u32 = line.split(':').nth(2).unwrap().parse().unwrap();
    assert_eq!(data.uid(), uid);
    assert_eq!(data.permissions().mode() & 0o7777, 0o700);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(again.stdout, "u: unchanged\n");
}

#[test]
fn a_missing_user_is_a_clear_error_without_root() {
    if nix::unistd::geteuid().is_root() {
        eprintln!("SKIP (needs a non-root user): a missing user as non-root");
        tools::log_skip("need a user who is not root", "a missing user as non-root");
        return;
    }
    let env = Env::new();
    let file = env.profile_file(
        "u.toml",
        "profile = \"u\"\n[[user]]\nname = \"berth-no-such-user\"\n",
    );
    let r = env.apply(&file, &[]).code(8);
    let line = one_error_line(&r);
    assert!(
        line.contains("berth-no-such-user") && line.contains("root"),
        "{r}"
    );
}

/// Every refused input: one error line, the documented exit code, the root unchanged.
#[test]
fn bad_and_hostile_input_is_refused_with_the_root_unchanged() {
    let env = Env::new();
    env.config_package("app", "1.0", "a\n");
    let good = site(&env, "1.0");
    env.apply(&good, &[]).ok();
    let outside = env.dir().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.j2"), "secret\n").unwrap();
    std::os::unix::fs::symlink(
        outside.join("secret.j2"),
        env.dir().join("profiles/link.j2"),
    )
    .unwrap();
    let p = |body: &str| format!("profile = \"site\"\n[packages]\napp = \"1.0\"\n{body}");
    let cases: Vec<(&str, String, i32, &str)> = vec![
        (
            "unknown key",
            p("[servise]\nexec = \"x\"\n"),
            6,
            "bad.toml:4:",
        ),
        (
            "bad constraint",
            p("").replace("\"1.0\"", "\">= 1, <<\""),
            6,
            "bad version constraint",
        ),
        (
            "bad relation",
            p("").replace("\"1.0\"", "\"> 1\""),
            6,
            "unknown relation",
        ),
        (
            "unknown package",
            p("").replace("app =", "nope ="),
            3,
            "nope: no version satisfies",
        ),
        (
            "no such version",
            p("").replace("\"1.0\"", "\"9.*\""),
            3,
            "available: 1.0",
        ),
        (
            "config ..",
            p("[config.\"../x\"]\ntemplate = \"templates/app.ini.j2\"\n"),
            6,
            "must be relative",
        ),
        (
            "absolute dir",
            p("[[dir]]\npath = \"/etc/x\"\n"),
            6,
            "must be relative",
        ),
        (
            "all-digit user name",
            p("[[user]]\nname = \"0\"\n"),
            6,
            "user or group name `0` must be",
        ),
        (
            "user name starting with a digit",
            p("[[user]]\nname = \"1abc\"\n"),
            6,
            "start with a letter",
        ),
        (
            "user name starting with -",
            p("[[user]]\nname = \"-x\"\n"),
            6,
            "start with a letter",
        ),
        (
            "owner as a bare number",
            p("[[dir]]\npath = \"d\"\nowner = \"0\"\n"),
            6,
            "write `uid:0` for an id",
        ),
        (
            "group as a bare number",
            p("[[dir]]\npath = \"d\"\ngroup = \"4\"\n"),
            6,
            "write `gid:4` for an id",
        ),
        (
            "service user as a bare number",
            p("[service]\nexec = \"app\"\nuser = \"0\"\n"),
            6,
            "service.user: `0` is a number",
        ),
        (
            "uid out of range",
            p("[[dir]]\npath = \"d\"\nowner = \"uid:4294967295\"\n"),
            6,
            "valid id",
        ),
        (
            "template ..",
            p("[config.\"x\"]\ntemplate = \"../outside/secret.j2\"\n"),
            6,
            "must be relative",
        ),
        (
            "symlinked template",
            p("[config.\"x\"]\ntemplate = \"link.j2\"\n"),
            6,
            "link.j2",
        ),
        (
            "missing template",
            p("[config.\"x\"]\ntemplate = \"none.j2\"\n"),
            3,
            "none.j2: no such file",
        ),
        (
            "missing variable",
            p("[config.\"x\"]\ntemplate = \"templates/app.ini.j2\"\nvars = { port = 1 }\n"),
            6,
            "app.ini.j2:2: ",
        ),
        (
            "setuid mode",
            p("[[dir]]\npath = \"x\"\nmode = \"4755\"\n"),
            6,
            "setuid",
        ),
        (
            "bad profile name",
            "profile = \"../x\"\n".into(),
            6,
            "profile name",
        ),
        (
            "no such owner",
            p("[[dir]]\npath = \"x\"\nowner = \"berth-no-such-user\"\n"),
            3,
            "no such user",
        ),
    ];
    let before = snapshot(env.root(), None);
    for (what, text, code, needle) in &cases {
        let file = env.profile_file("bad.toml", text);
        for dry in [false, true] {
            let mut args = vec![];
            if dry {
                args.push("--dry-run");
            }
            let r = env.apply(&file, &args);
            assert_eq!(r.code, *code, "{what}:\n{r}");
            let line = one_error_line(&r);
            assert!(line.contains(needle), "{what}: `{needle}` not in:\n{r}");
        }
        assert_eq!(
            snapshot(env.root(), None),
            before,
            "{what} changed the root"
        );
    }
    // A missing profile file, and a directory given as one.
    let r = env.apply(&env.dir().join("nope.toml"), &[]).code(3);
    assert!(
        one_error_line(&r).contains("nope.toml: no such file"),
        "{r}"
    );
    let r = env.apply(&env.dir().join("profiles"), &[]).code(6);
    assert!(one_error_line(&r).contains("not a regular file"), "{r}");
    assert_eq!(snapshot(env.root(), None), before);
}

#[test]
fn a_symlinked_var_or_etc_directory_is_never_followed() {
    let env = Env::new();
    env.config_package("app", "1.0", "a\n");
    let file = site(&env, "1.0");
    let outside = env.dir().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(env.root().join("var")).unwrap();
    std::os::unix::fs::symlink(&outside, env.root().join("var/site")).unwrap();
    let r = env.apply(&file, &[]).code(1);
    assert!(one_error_line(&r).contains("is a symlink"), "{r}");
    assert_eq!(children(&outside), Vec::<String>::new());
    assert!(!env.root().join("profiles/site").exists());

    std::fs::remove_file(env.root().join("var/site")).unwrap();
    std::fs::create_dir_all(env.root().join("etc")).unwrap();
    std::os::unix::fs::symlink(&outside, env.root().join("etc/site")).unwrap();
    let r = env.apply(&file, &[]).code(1);
    assert!(one_error_line(&r).contains("is a symlink"), "{r}");
    assert_eq!(children(&outside), Vec::<String>::new());
    assert!(!env.root().join("profiles/site").exists());
}

#[test]
fn the_example_profiles_apply_without_root_or_network() {
    let env = Env::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for v in ["1.4.2", "1.5.0"] {
        let src = examples.join(format!("examples/myapp-{v}"));
        env.install_dir(&src);
    }
    for (p, want) in [("site-a", "1.5.0"), ("site-b", "1.4.2")] {
        let file = examples.join(format!("profiles/{p}.toml"));
        let j = env.json(&["apply", file.to_str().unwrap()]);
        assert_eq!(j["changed"], true, "{j}");
        let again = env.apply(&file, &[]).ok();
        assert_eq!(again.stdout, format!("{p}: unchanged\n"));
        let out = env.shim("myapp").env("BERTH_PROFILE", p).output().unwrap();
        assert!(stdout(&out).contains(want), "{p}: {}", stdout(&out));
        assert_eq!(env.config_state(p, "site.ini"), "pristine");
    }
}

#[test]
fn an_owner_given_as_an_explicit_id_is_that_id() {
    let env = Env::new();
    env.config_package("app", "1.0", "a\n");
    let me = nix::unistd::geteuid().as_raw();
    let file = env.profile_file(
        "ids.toml",
        &format!(
            "profile = \"ids\"\n[packages]\napp = \"1.0\"\n[[dir]]\npath = \"d\"\nowner = \"uid:{me}\"\nmode = \"0750\"\n"
        ),
    );
    env.apply(&file, &[]).ok();
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(env.var("ids", "d")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (me, 0o750));
    // Applying again changes nothing: the id is read back as the same owner.
    assert_eq!(env.apply(&file, &[]).ok().stdout, "ids: unchanged\n");
}

#[test]
fn hostile_templates_paths_and_modes_are_refused_with_one_readable_line() {
    // Issue 23, finding 6: templates have fuel and an output cap; config and dir paths with
    // control characters, config files writable by others and dirs writable by others
    // without the sticky bit are refused, dry or not, the root unchanged, nothing raw echoed.
    let env = Env::new();
    env.config_package("app", "1.0", "a = 1\n");
    env.profile_file(
        "templates/loop.j2",
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}\n",
    );
    env.profile_file(
        "templates/big.j2",
        "{% for a in range(100) %}{{ 'x' * 1000000 }}{% endfor %}\n",
    );
    env.profile_file("templates/ok.j2", "ok\n");
    env.apply(
        &env.profile_file(
            "good.toml",
            "profile = \"site\"\n[packages]\napp = \"1.0\"\n",
        ),
        &[],
    )
    .ok();
    let p = |body: &str| format!("profile = \"site\"\n[packages]\napp = \"1.0\"\n{body}");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "nested loops",
            p("[config.\"loop.ini\"]\ntemplate = \"templates/loop.j2\"\n"),
            "templates/loop.j2",
        ),
        (
            "huge output",
            p("[config.\"big.ini\"]\ntemplate = \"templates/big.j2\"\n"),
            "over the limit of 16 MiB",
        ),
        (
            "OSC in a config path",
            p("[config.\"a\\u001b]0;pwned\\u0007.ini\"]\ntemplate = \"templates/ok.j2\"\n"),
            "config path `a\\u{1b}]0;pwned\\u{7}.ini` has control",
        ),
        (
            "bidi in a dir path",
            p("[[dir]]\npath = \"up\\u202eloads\"\n"),
            "dir path `up\\u{202e}loads` has control",
        ),
        (
            "config 0666",
            p("[config.\"w.ini\"]\ntemplate = \"templates/ok.j2\"\nmode = \"0666\"\n"),
            "`0666` lets every local user write the file",
        ),
        (
            "config 1777",
            p("[config.\"w.ini\"]\ntemplate = \"templates/ok.j2\"\nmode = \"1777\"\n"),
            "`1777` lets every local user write the file",
        ),
        (
            "dir 0777",
            p("[[dir]]\npath = \"shared\"\nmode = \"0777\"\n"),
            "write `1777` (with the sticky bit)",
        ),
    ];
    let before = snapshot(env.root(), None);
    for (what, text, needle) in &cases {
        let file = env.profile_file("bad.toml", text);
        for dry in [true, false] {
            let args: &[&str] = if dry { &["--dry-run"] } else { &[] };
            let r = env.apply(&file, args);
            assert_eq!(r.code, 6, "{what}:\n{r}");
            let line = one_error_line(&r);
            println!("{what}: {line}");
            assert!(line.contains(needle), "{what}: `{needle}` not in:\n{line}");
            assert!(
                !r.all().chars().any(|c| c.is_control() && c != '\n'),
                "{what}: raw control characters echoed: {:?}",
                r.all()
            );
        }
        assert_eq!(
            snapshot(env.root(), None),
            before,
            "{what} changed the root"
        );
    }
    // A template that loops too long names itself and says what ran out.
    let r = env.apply(&env.profile_file("bad.toml", &cases[0].1), &["--dry-run"]);
    assert!(one_error_line(&r).contains("steps"), "{r}");
    // A shared dir with the sticky bit, asked for explicitly, is fine.
    let ok = env.profile_file(
        "sticky.toml",
        &p("[[dir]]\npath = \"shared\"\nmode = \"1777\"\n"),
    );
    env.apply(&ok, &[]).ok();
    let m = std::fs::metadata(env.var("site", "shared")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o1777);
}
