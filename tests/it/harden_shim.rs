//! Issue 8, class 4: the shim, `which` and `run` read `.berth-profile` safely. A fifo, a
//! link to `/dev/zero`, a device, an oversize file and escape sequences end at once with a
//! clear, escaped error; a `.berth-profile` another user wrote in a shared directory is
//! ignored with a warning naming it and its owner; a command calling its own shim is stopped
//! by the depth guard; `berth run` puts an absolute PATH entry first and refuses a root whose
//! path holds `:`.

use crate::common::harden::*;
use crate::common::Env;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Each of these must end well within this (a hang would be killed and fail the test).
const QUICK: Duration = Duration::from_secs(20);

/// Profiles `good` (tool 1, the default) and `evil` (tool 2).
fn fixture() -> Env {
    let env = Env::new();
    let t1 = tool_package(&env, "tool", "1", "tool");
    let t2 = tool_package(&env, "tool", "2", "tool");
    env.install(&t1, &[]);
    env.install(&t2, &[]);
    berth(&env, &["use", "good", "tool@1"]).ok();
    berth(&env, &["use", "evil", "tool@2"]).ok();
    berth(&env, &["default", "good"]).ok();
    env
}

/// A fresh working directory under the scratch directory.
fn workdir(env: &Env, name: &str) -> PathBuf {
    let d = env.dir().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `berth which tool` run from `cwd`.
fn which_from(env: &Env, cwd: &Path) -> Out {
    let mut c = env.cmd(&["which", "tool"]);
    c.current_dir(cwd);
    run_bounded(c, QUICK)
}

/// `berth run -- tool` run from `cwd` (profile chosen like a shim).
fn run_from(env: &Env, cwd: &Path) -> Out {
    let mut c = env.cmd(&["run", "--", "tool"]);
    c.current_dir(cwd);
    run_bounded(c, QUICK)
}

/// The shim, `which` and `run`, all from `cwd`, must fail at once with `needle` in their
/// message, with no raw control character on stderr.
#[track_caller]
fn all_refuse(env: &Env, cwd: &Path, needle: &str) {
    let file = cwd.join(".berth-profile");
    let shim_out = run_bounded(shim(env, "tool", cwd), QUICK).code(127);
    let line = shim_out
        .stderr
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        line.starts_with("berth-shim: tool: ") && line.contains(needle),
        "shim:\n{shim_out}"
    );
    assert_eq!(
        shim_out.stderr.lines().count(),
        1,
        "shim: one line\n{shim_out}"
    );
    assert!(
        line.contains(s(&file)) || s(&file).chars().any(char::is_control),
        "shim names the file:\n{shim_out}"
    );
    assert!(shim_out.stdout.is_empty(), "the command ran:\n{shim_out}");
    let which = which_from(env, cwd).refused(3, &[needle]);
    assert!(which.stdout.is_empty(), "{which}");
    let run = run_from(env, cwd).refused(3, &[needle]);
    assert!(run.stdout.is_empty(), "{run}");
    for out in [&shim_out, &which, &run] {
        assert!(
            !out.stderr.chars().any(|c| c.is_control() && c != '\n'),
            "raw control characters on stderr: {out}"
        );
    }
}

#[test]
fn a_fifo_berth_profile_does_not_hang_anything() {
    let env = fixture();
    let dir = workdir(&env, "fifo");
    nix::unistd::mkfifo(
        &dir.join(".berth-profile"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    all_refuse(&env, &dir, "is not a regular file");
}

#[test]
fn a_berth_profile_linked_to_dev_zero_is_refused_unread() {
    let env = fixture();
    let dir = workdir(&env, "zero");
    std::os::unix::fs::symlink("/dev/zero", dir.join(".berth-profile")).unwrap();
    all_refuse(&env, &dir, "is a symlink");
    // A link to a good-looking file is not followed either.
    let dir = workdir(&env, "link");
    std::fs::write(env.dir().join("named"), "evil\n").unwrap();
    std::os::unix::fs::symlink(env.dir().join("named"), dir.join(".berth-profile")).unwrap();
    all_refuse(&env, &dir, "is a symlink");
}

#[test]
fn a_device_berth_profile_is_refused_unread() {
    if !needs_root("mknod a character device") {
        return;
    }
    let env = fixture();
    let dir = workdir(&env, "dev");
    nix::sys::stat::mknod(
        &dir.join(".berth-profile"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
        nix::sys::stat::makedev(1, 5),
    )
    .unwrap();
    all_refuse(&env, &dir, "is not a regular file");
}

#[test]
fn an_oversize_berth_profile_is_refused() {
    let env = fixture();
    let dir = workdir(&env, "big");
    let mut content = b"evil\n".to_vec();
    content.extend(std::iter::repeat_n(b' ', 1 << 20));
    std::fs::write(dir.join(".berth-profile"), content).unwrap();
    all_refuse(&env, &dir, "is larger than 256 bytes");
}

#[test]
fn an_empty_or_invalid_berth_profile_says_what_is_wrong() {
    let env = fixture();
    let dir = workdir(&env, "empty");
    std::fs::write(dir.join(".berth-profile"), "\n \n").unwrap();
    all_refuse(&env, &dir, "is empty");
    let dir = workdir(&env, "invalid");
    std::fs::write(dir.join(".berth-profile"), "../evil\n").unwrap();
    all_refuse(&env, &dir, "invalid profile name `../evil`");
}

/// Escape sequences in the content or the directory name are shown escaped, never raw.
#[test]
fn escape_sequences_never_reach_the_terminal() {
    let env = fixture();
    let dir = workdir(&env, "esc");
    std::fs::write(dir.join(".berth-profile"), b"\x1b]0;owned\x07\x1b[2Jevil\n").unwrap();
    all_refuse(&env, &dir, "invalid profile name");
    let out = run_bounded(shim(&env, "tool", &dir), QUICK);
    assert!(out.stderr.contains("\\u{1b}]0;owned\\u{7}"), "{out}");
    assert!(!out.stderr.contains('\u{1b}') && !out.stderr.contains('\u{7}'));

    let dir = workdir(&env, "dir\u{1b}[31mred");
    std::fs::write(dir.join(".berth-profile"), "x".repeat(300)).unwrap();
    for out in [
        run_bounded(shim(&env, "tool", &dir), QUICK).code(127),
        which_from(&env, &dir).code(3),
        run_from(&env, &dir).code(3),
    ] {
        assert!(out.stderr.contains("dir\\u{1b}[31mred"), "{out}");
        assert!(
            !out.stderr.contains('\u{1b}'),
            "raw escape on stderr: {out}"
        );
    }
}

/// A good `.berth-profile` still works (so the refusals above are about the file alone).
#[test]
fn a_plain_berth_profile_chooses_the_profile() {
    let env = fixture();
    let dir = workdir(&env, "plain/sub/dir");
    std::fs::write(env.dir().join("plain/.berth-profile"), "evil\n").unwrap();
    let out = run_bounded(shim(&env, "tool", &dir), QUICK).ok();
    assert_eq!(out.stdout.trim(), "tool 2");
    let out = which_from(&env, &dir).ok();
    assert!(out.stdout.contains("chosen by") && out.stdout.contains("plain/.berth-profile"));
    let out = run_bounded(shim(&env, "tool", env.dir()), QUICK).ok();
    assert_eq!(out.stdout.trim(), "tool 1", "the default elsewhere");
}

/// A system user for the second-user test, created once per test process.
fn second_user() -> (u32, u32) {
    static USER: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *USER.get_or_init(|| {
        const NAME: &str = "berth-harden";
        if nix::unistd::User::from_name(NAME).unwrap().is_none() {
            let out = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    NAME,
                ])
                .output()
                .expect("run useradd");
            // Another test binary may have created it meanwhile.
            assert!(
                out.status.success() || nix::unistd::User::from_name(NAME).unwrap().is_some(),
                "useradd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let u = nix::unistd::User::from_name(NAME).unwrap().unwrap();
        (u.uid.as_raw(), u.gid.as_raw())
    })
}

/// Another local user writes `.berth-profile` naming `evil` in a shared, sticky directory
/// (like /tmp). root's shim, `which` and `run` there must ignore it, say so, and use the
/// default profile.
#[test]
fn another_user_cannot_steer_roots_shim() {
    if !needs_root("create a second user and run as root") {
        return;
    }
    let (uid, gid) = second_user();
    let env = fixture();
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = workdir(&env, "shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let sub = workdir(&env, "shared/project");
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = shared.join(".berth-profile");
    let out = Command::new("sh")
        .arg("-c")
        .arg("echo evil > \"$1\"")
        .arg("sh")
        .arg(&file)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), uid);
    let warning = format!(
        "ignoring {} (owned by uid {uid}, not by you or root)",
        file.display()
    );
    for cwd in [&shared, &sub] {
        let out = run_bounded(shim(&env, "tool", cwd), QUICK).ok();
        assert_eq!(
            out.stdout.trim(),
            "tool 1",
            "steered by another user: {out}"
        );
        assert!(
            out.stderr
                .contains(&format!("berth-shim: tool: warning: {warning}")),
            "{out}"
        );
        let out = which_from(&env, cwd).ok();
        assert!(out.stdout.contains("profile good"), "{out}");
        assert!(out.stderr.contains(&warning), "{out}");
        let out = run_from(&env, cwd).ok();
        assert_eq!(out.stdout.trim(), "tool 1", "{out}");
        assert!(out.stderr.contains(&warning), "{out}");
    }
    // root's own file there is honoured.
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, "evil\n").unwrap();
    let out = run_bounded(shim(&env, "tool", &sub), QUICK).ok();
    assert_eq!(out.stdout.trim(), "tool 2");
    assert!(out.stderr.is_empty(), "{out}");
}

/// A command that runs its own name through PATH, where the shims come first, would exec
/// itself forever; the depth guard stops it with a clear error.
#[test]
fn a_command_calling_its_own_shim_is_stopped() {
    let env = fixture();
    for (name, body) in [
        ("loop", "#!/bin/sh\nexec loop \"$@\"\n"),
        ("nest", "#!/bin/sh\nnest \"$@\"\n"),
    ] {
        let exe = format!("bin/{name}*");
        let src = env.source(name, "1", &[(exe.as_str(), body.as_bytes())]);
        env.install(&env.pack(&src), &[]);
        berth(&env, &["use", "good", name]).ok();
        let path = format!("{}:/usr/bin:/bin", env.root().join("shims").display());
        let mut c = shim(&env, name, env.dir());
        c.env("PATH", path);
        let out = run_bounded(c, QUICK).code(127);
        assert!(
            out.stderr
                .contains(&format!("berth-shim: {name}: shims are nested 16 deep")),
            "{out}"
        );
        assert!(
            out.stderr.contains("calling its own shim in a loop"),
            "{out}"
        );
    }
}

/// `berth run`: the profile's bin/ is the first PATH entry, absolute even when the root was
/// given as a relative path.
#[test]
fn run_puts_an_absolute_path_entry_first() {
    let env = fixture();
    let out = run_bounded(
        env.cmd_at(
            "root",
            &[
                "run",
                "good",
                "--",
                "sh",
                "-c",
                "echo \"$PATH\"; echo \"$BERTH_PROFILE\"; tool",
            ],
        ),
        QUICK,
    )
    .ok();
    let mut lines = out.stdout.lines();
    let first = lines.next().unwrap().split(':').next().unwrap().to_string();
    assert_eq!(first, format!("{}/profiles/good/bin", env.root().display()));
    assert_eq!(lines.next(), Some("good"));
    assert_eq!(lines.next(), Some("tool 1"));
}

/// A root whose path holds `:` cannot be put on PATH: `run` refuses it (exit 2) instead of
/// splitting it into two relative entries.
#[test]
fn run_refuses_a_root_whose_path_holds_a_colon() {
    let env = Env::new();
    let root = env.dir().join("a:b").join("root");
    let t1 = tool_package(&env, "tool", "1", "tool");
    let berth_at = |args: &[&str]| run_bounded(env.cmd_at(&root, args), QUICK);
    berth_at(&["install", s(&t1)]).ok();
    berth_at(&["use", "p", "tool"]).ok();
    // The message itself says what to do (move the root), so no hint line is asked for.
    let out = berth_at(&["run", "p", "--", "tool"]).code(2);
    assert!(
        out.error_line()
            .contains("contains `:`, which cannot be put on PATH"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "the command ran: {out}");
    // The shim itself does not use PATH and still works.
    let out = run_bounded(
        {
            let mut c = Command::new(root.join("shims/tool"));
            c.env("BERTH_PROFILE", "p");
            c
        },
        QUICK,
    )
    .ok();
    assert_eq!(out.stdout.trim(), "tool 1");
}
