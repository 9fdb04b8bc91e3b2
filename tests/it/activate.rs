//! Shell activation and `berth env` (issue 12, point 2): a real bash, zsh and fish (each
//! when installed; CI installs them) source `berth activate`, `cd` between two directories
//! whose `.berth-profile`s name different profiles, and run the profile's own command with
//! no shim on the way (the command found on PATH is under `<root>/profiles/<p>/bin`); leaving
//! both directories takes the entry off PATH again. `berth env` prints the same environment
//! for scripts and systemd.

use crate::common;

use crate::common::{have, Env};
use std::io::Write;
use std::process::{Command, Stdio};

/// Profiles pa (tool 1) and pb (tool 2); directories a/ and b/ choosing them.
fn fixture() -> Env {
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    env.run(&["use", "pa", "tool@1"]).ok();
    env.run(&["use", "pb", "tool@2"]).ok();
    for (d, p) in [("a", "pa"), ("b", "pb")] {
        std::fs::create_dir_all(env.dir().join(d).join("deep")).unwrap();
        std::fs::write(env.dir().join(d).join(".berth-profile"), format!("{p}\n")).unwrap();
    }
    env
}

/// Feeds `script` to `shell args` on stdin with a clean environment; returns stdout.
fn drive(env: &Env, shell: &str, args: &[&str], script: &str) -> String {
    drive_with_path(env, shell, args, script, "/usr/local/bin:/usr/bin:/bin").0
}

/// As [`drive`], starting with `path` as PATH; returns stdout and stderr.
fn drive_with_path(
    env: &Env,
    shell: &str,
    args: &[&str],
    script: &str,
    path: &str,
) -> (String, String) {
    let mut c = Command::new(shell);
    c.args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", env.dir())
        .env("TERM", "dumb")
        .current_dir(env.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{shell} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// What every shell must print for the same walk: a/, a/deep, b/, then out of both.
fn expected(env: &Env) -> String {
    let root = env.root().display().to_string();
    format!(
        "tool 1\n{root}/profiles/pa/bin/tool\ntool 1\ntool 2\n{root}/profiles/pb/bin/tool\nnone\nPATH /usr/local/bin:/usr/bin:/bin\n"
    )
}

fn activation(env: &Env, shell: &str) -> String {
    let berth = common::BERTH;
    let root = env.root().display();
    match shell {
        "fish" => format!("{berth} --root '{root}' activate fish | source\n"),
        _ => format!("eval \"$({berth} --root '{root}' activate {shell})\"\n"),
    }
}

fn walk(env: &Env, which: &str, none: &str) -> String {
    let d = env.dir().display();
    format!("cd '{d}/a'\ntool\n{which}\ncd deep\ntool\ncd '{d}/b'\ntool\n{which}\ncd /\n{none}\n")
}

#[test]
fn bash_switches_profile_on_cd_with_no_shim() {
    if !have("bash", "activation in bash") {
        return;
    }
    let env = fixture();
    // PROMPT_COMMAND runs before each prompt of an interactive shell.
    let script = activation(&env, "bash")
        + &walk(&env, "type -P tool", "type -P tool || echo none")
        + "echo \"PATH $PATH\"\n";
    let out = drive(&env, "bash", &["--norc", "--noprofile", "-i"], &script);
    assert_eq!(out, expected(&env));
}

#[test]
fn zsh_switches_profile_on_cd_with_no_shim() {
    if !have("zsh", "activation in zsh") {
        return;
    }
    let env = fixture();
    let script = activation(&env, "zsh")
        + &walk(&env, "whence -p tool", "whence -p tool || echo none")
        + "echo \"PATH $PATH\"\n";
    let out = drive(&env, "zsh", &["-f"], &script);
    assert_eq!(out, expected(&env));
}

#[test]
fn fish_switches_profile_on_cd_with_no_shim() {
    if !have("fish", "activation in fish") {
        return;
    }
    let env = fixture();
    let script = activation(&env, "fish")
        + &walk(&env, "command -s tool", "command -s tool; or echo none")
        + "echo \"PATH\" (string join : $PATH)\n";
    let out = drive(&env, "fish", &["--no-config"], &script);
    assert_eq!(out, expected(&env));
}

#[test]
fn berth_profile_in_the_environment_wins_over_the_directory() {
    if !have("bash", "activation in bash") {
        return;
    }
    let env = fixture();
    let d = env.dir().display();
    let script = activation(&env, "bash")
        + &format!("cd '{d}/a'\ntool\nexport BERTH_PROFILE=pb\ntool\nunset BERTH_PROFILE\ntool\n");
    let out = drive(&env, "bash", &["--norc", "--noprofile", "-i"], &script);
    assert_eq!(out, "tool 1\ntool 2\ntool 1\n");
}

#[test]
fn a_broken_berth_profile_warns_and_leaves_path_alone() {
    if !have("bash", "activation in bash") {
        return;
    }
    let env = fixture();
    let d = env.dir().display();
    std::fs::create_dir_all(env.dir().join("bad")).unwrap();
    std::fs::write(env.dir().join("bad/.berth-profile"), "../etc\n").unwrap();
    std::fs::create_dir_all(env.dir().join("gone")).unwrap();
    std::fs::write(env.dir().join("gone/.berth-profile"), "nosuch\n").unwrap();
    let script = activation(&env, "bash")
        + &format!("cd '{d}/bad'\necho \"PATH $PATH\"\ncd '{d}/gone'\necho \"PATH $PATH\"\n");
    let (stdout, stderr) = drive_with_path(
        &env,
        "bash",
        &["--norc", "--noprofile", "-i"],
        &script,
        "/usr/bin:/bin",
    );
    assert_eq!(stdout, "PATH /usr/bin:/bin\nPATH /usr/bin:/bin\n");
    assert!(
        stderr.contains("berth: invalid profile name `../etc`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("berth: profile nosuch") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn env_prints_the_profile_environment_for_scripts_and_systemd() {
    let env = fixture();
    let bin = env.root().join("profiles/pa/bin").display().to_string();
    let out = env
        .cmd(&["env", "pa"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("BERTH_PROFILE=pa\nPATH={bin}:/usr/bin:/bin\n")
    );
    let out = env
        .cmd(&["env", "pa", "--shell", "bash"])
        .env("PATH", "/usr/bin")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("export BERTH_PROFILE='pa';\nexport PATH='{bin}:/usr/bin';\n")
    );
    // Without a profile: chosen like a shim, from the working directory.
    let out = env
        .cmd(&["--json", "env"])
        .current_dir(env.dir().join("b/deep"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["profile"], "pb");
    assert_eq!(v["env"]["BERTH_PROFILE"], "pb");
    assert!(v["chosen_by"].as_str().unwrap().contains(".berth-profile"));
    // The environment really runs the profile's command.
    let out = Command::new("sh")
        .args([
            "-c",
            "eval \"$(\"$0\" --root \"$1\" env pb --shell bash)\"; tool",
        ])
        .arg(common::BERTH)
        .arg(env.root())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool 2\n");
}

#[test]
fn env_of_an_unknown_profile_or_a_bad_name_is_refused() {
    let env = fixture();
    let r = env.run(&["env", "nosuch"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no profile named `nosuch`"),
        "{}",
        r.stderr
    );
    let r = env.run(&["env", "../x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = env.run(&["activate", "tcsh"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// `hook-env` asks whether the profile exists through the root's dir handle: with
/// `<root>/profiles` replaced by a link to an outside directory (standing for `/etc`) that
/// holds a link of the profile's name, the profile is not found (a one-line warning, exit
/// 0: a hook never breaks the shell), nothing outside is put on PATH, and the outside
/// directory is untouched.
#[test]
fn hook_env_never_follows_a_symlinked_profiles_dir() {
    use common::harden::{assert_same, listing};
    let env = fixture();
    let hook = |env: &Env| {
        let mut c = env.cmd(&["hook-env", "bash"]);
        c.env("BERTH_PROFILE", "pa").env("PATH", "/usr/bin:/bin");
        common::Run::of(&mut c).ok()
    };
    let bin = env.root().join("profiles/pa/bin");
    let r = hook(&env);
    assert!(r.stdout.contains(&bin.display().to_string()), "{r}");
    let etc = env.dir().join("etc");
    std::fs::create_dir(&etc).unwrap();
    std::os::unix::fs::symlink(env.dir().join("a"), etc.join("pa")).unwrap();
    let profiles = env.root().join("profiles");
    std::fs::rename(&profiles, env.dir().join("aside-profiles")).unwrap();
    std::os::unix::fs::symlink(&etc, &profiles).unwrap();
    let before = listing(&etc);
    let r = hook(&env);
    assert!(!r.stdout.contains("profiles/pa"), "{r}");
    assert!(
        r.stderr.contains("berth: profile pa") && r.stderr.contains("does not exist"),
        "{r}"
    );
    assert_same(&before, &listing(&etc), "after hook-env");
}
