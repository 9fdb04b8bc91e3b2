//! `berth service install|remove`: the systemd unit of a profile, checked with the real
//! `systemd-analyze verify`, and the refusals of bad input.

use crate::common;

use crate::common::have;
use crate::common::ops::systemd_verify;
use crate::common::Env;

fn profile_with_service(env: &Env, profile: &str, service: &str) {
    env.script_package("tool", "1", "tool");
    let spec = env.spec_file(
        &format!("{profile}.toml"),
        &format!("profile = \"{profile}\"\n[service]\n{service}"),
    );
    env.use_with_spec(profile, &["tool@1"], &spec).ok();
}

#[test]
fn plain_and_isolated_units_pass_systemd_analyze_verify() {
    let env = Env::new();
    profile_with_service(
        &env,
        "plain",
        "exec = \"tool serve --name 'my site' 100%\"\nhealth = \"true\"\n",
    );
    let spec = env.spec_file(
        "iso.toml",
        "profile = \"iso\"\n[service]\nexec = \"tool serve\"\nisolate = true\nuser = \"nobody\"\n\
         capabilities = [\"NET_BIND_SERVICE\"]\n",
    );
    env.use_with_spec("iso", &["tool@1"], &spec).ok();
    let units = env.dir().join("units");
    std::fs::create_dir(&units).unwrap();
    let root = std::fs::canonicalize(env.root()).unwrap();
    let berth = std::fs::canonicalize(common::BERTH).unwrap();
    for (p, isolate) in [("plain", false), ("iso", true)] {
        let v = env.json(&[
            "service",
            "install",
            p,
            "--unit-dir",
            units.to_str().unwrap(),
        ]);
        assert_eq!(v["unit"], format!("berth-{p}.service"));
        assert_eq!(v["changed"], true);
        assert_eq!(v["isolate"], isolate);
        let path = units.join(format!("berth-{p}.service"));
        let text = std::fs::read_to_string(&path).unwrap();
        let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        let expected = if isolate {
            format!(
                "ExecStart={} --root {} run --isolate --user nobody --cap NET_BIND_SERVICE iso -- tool serve",
                berth.display(),
                root.display()
            )
        } else {
            format!(
                "ExecStart={} --root {} run plain -- tool serve --name \"my site\" 100%%",
                berth.display(),
                root.display()
            )
        };
        assert_eq!(exec, expected);
        assert!(text.contains("Restart=on-failure\n"));
        assert!(text.contains(&format!("Environment=BERTH_PROFILE={p}\n")));
        assert!(text.contains("NoNewPrivileges=yes\n"));
        assert!(text.contains("ProtectSystem=strict\n"), "{text}");
        assert!(text.contains("PrivateTmp=yes\n"), "{text}");
        // Writable: what berth writes under the root, nothing else of it.
        let r = root.display();
        let mut rw = format!("ReadWritePaths=-{r}/.lock -{r}/run -{r}/etc/{p} -{r}/var/{p}");
        if isolate {
            rw.push_str(&format!(" -{r}/users"));
        }
        assert!(text.contains(&format!("{rw}\n")), "{rw}\n{text}");
        for dir in ["run", "users", &format!("etc/{p}"), &format!("var/{p}")] {
            assert!(root.join(dir).is_dir(), "{dir} exists for ReadWritePaths=");
        }
        // Berth's fresh /proc in its user namespace needs the host's /proc uncovered: the
        // tunables are made read-only by berth inside instead.
        assert_eq!(
            text.contains("ProtectKernelTunables=yes\n"),
            !isolate,
            "{text}"
        );
        assert_eq!(text.contains("PrivateDevices=yes\n"), isolate, "{text}");
        if have("systemd-analyze", "verify the unit") {
            let (ok, out) = systemd_verify(&path);
            assert!(
                ok,
                "systemd-analyze verify {}:\n{out}\n{text}",
                path.display()
            );
        }
        // Again: unchanged.
        let v = env.json(&[
            "service",
            "install",
            p,
            "--unit-dir",
            units.to_str().unwrap(),
        ]);
        assert_eq!(v["changed"], false);
    }
    let out = env.ok(&[
        "service",
        "remove",
        "plain",
        "--unit-dir",
        units.to_str().unwrap(),
    ]);
    assert!(out.starts_with("plain: removed "), "{out}");
    assert!(!units.join("berth-plain.service").exists());
    assert!(units.join("berth-iso.service").exists());
    let err = env.fails(
        &[
            "service",
            "remove",
            "plain",
            "--unit-dir",
            units.to_str().unwrap(),
        ],
        3,
    );
    assert!(
        err.starts_with("error: no unit berth-plain.service in "),
        "{err}"
    );
}

#[test]
fn a_root_path_with_dollar_and_percent_is_written_so_that_systemd_reads_it_back() {
    let env = Env::new();
    let root = env.dir().join("r$HOME 100%d");
    let src = env.source_with("tool", "1", "", &[("bin/tool*", b"#!/bin/sh\n")]);
    let pkg = env.pack(&src);
    env.run_at(&root, &["install", pkg.to_str().unwrap()]).ok();
    let spec = env.spec_file(
        "site.toml",
        "profile = \"site\"\n[service]\nexec = \"tool\"\nisolate = true\n",
    );
    env.run_at(
        &root,
        &["use", "site", "tool@1", "--spec", spec.to_str().unwrap()],
    )
    .ok();
    let units = env.dir().join("units");
    std::fs::create_dir(&units).unwrap();
    env.run_at(
        &root,
        &[
            "service",
            "install",
            "site",
            "--unit-dir",
            units.to_str().unwrap(),
        ],
    )
    .ok();
    let path = units.join("berth-site.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = std::fs::canonicalize(env.dir()).unwrap();
    let d = dir.display();
    // On the command line systemd expands `$` and `%`: both doubled.
    let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.contains(&format!(
            " --root \"{d}/r$$HOME 100%%d\" run --isolate site"
        )),
        "{exec}"
    );
    // Elsewhere only specifiers: `$` stays one (systemd would keep `$$` as two).
    assert!(
        text.contains(&format!("Environment=\"BERTH_ROOT={d}/r$HOME 100%%d\"\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("\"-{d}/r$HOME 100%%d/var/site\"")),
        "{text}"
    );
    assert!(
        !text.contains("$$HOME 100%%d/"),
        "no `$$` outside ExecStart=: {text}"
    );
    if have("systemd-analyze", "verify the unit") {
        let (ok, out) = systemd_verify(&path);
        assert!(
            ok,
            "systemd-analyze verify {}:\n{out}\n{text}",
            path.display()
        );
    }
}

#[test]
fn bad_input_to_service_install_is_refused_in_one_line() {
    let env = Env::new();
    let units = env.dir().join("units");
    std::fs::create_dir(&units).unwrap();
    let u = units.to_str().unwrap();
    // No root yet, then an unknown profile.
    let err = env.fails(&["service", "install", "nope", "--unit-dir", u], 3);
    assert!(err.starts_with("error: no profile named `nope`"), "{err}");
    env.script_package("tool", "1", "tool");
    env.ok(&["use", "bare", "tool@1"]);
    let err = env.fails(&["service", "install", "other", "--unit-dir", u], 3);
    assert!(err.starts_with("error: no profile named `other`"), "{err}");
    // A profile never given a profile file, and one whose file has no [service].
    let err = env.fails(&["service", "install", "bare", "--unit-dir", u], 3);
    assert_eq!(
        err.lines().next().unwrap(),
        "error: profile bare has no [service] in the profile file of generation 1 (it was not made from a profile file)"
    );
    assert!(err
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("hint: add a [service] section"));
    let spec = env.spec_file("n.toml", "profile = \"noservice\"\n[backup]\nkeep = 2\n");
    env.use_with_spec("noservice", &["tool@1"], &spec).ok();
    let err = env.fails(&["service", "install", "noservice", "--unit-dir", u], 3);
    assert!(
        err.starts_with(
            "error: profile noservice has no [service] in the profile file of generation 1\n"
        ),
        "{err}"
    );
    // Bad unit directories.
    let spec = env.spec_file("s.toml", "profile = \"s\"\n[service]\nexec = \"tool\"\n");
    env.use_with_spec("s", &["tool@1"], &spec).ok();
    let missing = env.dir().join("missing");
    let err = env.fails(
        &[
            "service",
            "install",
            "s",
            "--unit-dir",
            missing.to_str().unwrap(),
        ],
        3,
    );
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "error: unit directory {}: no such directory",
            missing.display()
        )
    );
    let file = env.spec_file("afile", "x");
    let err = env.fails(
        &[
            "service",
            "install",
            "s",
            "--unit-dir",
            file.to_str().unwrap(),
        ],
        3,
    );
    assert!(err.contains("not a directory"), "{err}");
    // Hostile profile names.
    let err = env.fails(&["service", "install", "../etc", "--unit-dir", u], 2);
    assert!(
        err.starts_with("error: invalid profile name `../etc`"),
        "{err}"
    );
    let err = env.fails(&["service", "remove", "../etc", "--unit-dir", u], 2);
    assert!(
        err.starts_with("error: invalid profile name `../etc`"),
        "{err}"
    );
    assert!(common::children(&units).is_empty(), "nothing written");
}

#[test]
fn use_spec_refuses_bad_profile_files_and_changes_nothing() {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.ok(&["use", "p", "tool@1"]);
    let before = common::snapshot(env.root(), None);
    let other = env.spec_file("o.toml", "profile = \"q\"\n");
    let r = env.use_with_spec("p", &["tool@1"], &other).code(2);
    assert!(
        r.stderr.starts_with(&format!(
            "error: {}: the profile file is for profile `q`, not `p`",
            other.display()
        )),
        "{r}"
    );
    let typo = env.spec_file("t.toml", "profile = \"p\"\n[servise]\nexec = \"x\"\n");
    let r = env.use_with_spec("p", &["tool@1"], &typo).code(6);
    assert!(
        r.stderr
            .starts_with(&format!("error: {}:2:", typo.display())),
        "{r}"
    );
    let bad_timeout = env.spec_file(
        "b.toml",
        "profile = \"p\"\n[service]\nexec = \"x\"\nhealth_timeout = \"soon\"\n",
    );
    let r = env.use_with_spec("p", &["tool@1"], &bad_timeout).code(6);
    assert!(r.stderr.contains("service.health_timeout `soon`"), "{r}");
    let missing = env.dir().join("missing.toml");
    let r = env.use_with_spec("p", &["tool@1"], &missing).code(3);
    assert!(
        r.stderr
            .starts_with(&format!("error: {}: no such file", missing.display())),
        "{r}"
    );
    assert_eq!(common::snapshot(env.root(), None), before);
}

#[test]
fn run_with_no_command_runs_the_profile_file_service() {
    let env = Env::new();
    let src = env.source_with(
        "tool",
        "1",
        "",
        &[("bin/tool*", b"#!/bin/sh\necho \"tool says $1\"\n")],
    );
    let pkg = env.pack(&src);
    env.run(&["install", pkg.to_str().unwrap()]).ok();
    let spec = env.spec_file(
        "site.toml",
        "profile = \"site\"\n[service]\nexec = \"tool hello\"\n",
    );
    env.run(&["use", "site", "tool@1", "--spec", spec.to_str().unwrap()])
        .ok();
    let r = env.run(&["-v", "run", "site"]).ok();
    assert_eq!(r.stdout, "tool says hello\n", "{r}");
    assert!(r.stderr.contains("the profile file's [service]"), "{r}");
    // Without a profile file, the package has no service: one error line.
    env.run(&["use", "bare", "tool@1"]).ok();
    let r = env.run(&["run", "bare"]);
    assert!(!r.success());
    crate::common::one_error_line(&r);
}
