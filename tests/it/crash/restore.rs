//! Issue 23, finding 5: `rollback --with-data` is one recorded transaction with the switch.
//! Killed at every mutating system call it makes (real strace injects the SIGKILL: `-e
//! inject=SYSCALL:signal=SIGKILL:when=K`), each kill followed by a different switch of the
//! profile (use, drop, apply, rollback, switch in turn): the newest data survives every
//! time, in `var/<profile>/` or in the snapshot of the generation the rollback left.

use crate::common::{clean_env, tools, Env, BERTH};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The system calls that change the file system (an `openat` only with `O_CREAT`).
const MUTATING: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "openat",
];

const NEWEST: &str = "newest data, written after the last switch\n";

/// berth under strace with `args` on `root`: `extra` are strace's own options.
fn traced(root: &Path, extra: &[String], args: &[&str]) -> std::process::Output {
    let mut c = Command::new("strace");
    clean_env(&mut c);
    c.arg("-f")
        .args(extra)
        .arg(BERTH)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null());
    c.output().expect("run strace")
}

/// The kill points of a plain run's log: (system call, K) for every mutating call of the
/// first process (strace counts each call per process and per system call).
fn kill_points(log: &str) -> Vec<(String, usize)> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut main_pid = None;
    let mut out = Vec::new();
    for line in log.lines() {
        if line.contains("resumed>") {
            continue;
        }
        let (pid, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        if !MUTATING.contains(&name) {
            continue;
        }
        if pid != main_pid.get_or_insert_with(|| pid.to_string()).as_str() {
            continue;
        }
        let k = seen.entry(name.to_string()).or_default();
        *k += 1;
        if name == "openat" && !args.contains("O_CREAT") {
            continue;
        }
        out.push((name.to_string(), *k));
    }
    out
}

/// `cp -a src dst`.
fn copy_root(src: &Path, dst: &Path) {
    tools::tool(
        Path::new("/"),
        "cp",
        &["-a", src.to_str().unwrap(), dst.to_str().unwrap()],
    );
}

/// Where the newest data is found in `root`, if anywhere: `var/d/` or a snapshot.
fn newest_in(root: &Path) -> Option<PathBuf> {
    let var = root.join("var/d");
    let mut places = vec![var.join("app/marker")];
    if let Ok(rd) = std::fs::read_dir(var.join(".snapshots")) {
        places.extend(rd.flatten().map(|e| e.path().join("app/marker")));
    }
    places
        .into_iter()
        .find(|p| std::fs::read_to_string(p).ok().as_deref() == Some(NEWEST))
}

#[test]
fn rollback_with_data_killed_at_every_mutating_syscall_never_loses_the_newest_data() {
    if !tools::have(
        "strace",
        "rollback_with_data_killed_at_every_mutating_syscall",
    ) {
        return;
    }
    let env = Env::new();
    env.script_package("tool", "1", "tool");
    env.script_package("tool", "2", "tool");
    env.script_package("other", "1", "other");
    env.script_package("extra", "1", "extra");
    let backup = "[backup]\nbefore_switch = true\nkeep = 9\n";
    let spec = env.spec_file("d.toml", &format!("profile = \"d\"\n{backup}"));
    let apply = env.spec_file(
        "d-apply.toml",
        &format!("profile = \"d\"\n[packages]\ntool = \">= 2\"\n{backup}"),
    );
    env.use_with_spec("d", &["tool@1", "other@1"], &spec).ok();
    let var = env.root().join("var/d");
    let put = |rel: &str, text: &str| {
        let p = var.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("app/db", "generation 1's data\n");
    put("app/logs/one", "1\n");
    put("cache/x", "x\n");
    env.ok(&["use", "d", "tool@2"]);
    put("app/db", "generation 2's data\n");
    put("app/marker", NEWEST);
    put("app/logs/two", "2\n");

    // A plain run, traced, counts the mutating calls.
    let plain = env.dir().join("plain");
    copy_root(env.root(), &plain);
    let log = env.dir().join("strace.log");
    let set = MUTATING.join(",");
    let o = traced(
        &plain,
        &[
            "-o".into(),
            log.to_str().unwrap().into(),
            format!("-etrace={set}"),
        ],
        &["rollback", "d", "--with-data"],
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        newest_in(&plain),
        Some(plain.join("var/d/.snapshots/2/app/marker"))
    );
    let points = kill_points(&std::fs::read_to_string(&log).unwrap());
    assert!(points.len() >= 20, "too few mutating calls: {points:?}");

    let follow: [&[&str]; 5] = [
        &["use", "d", "extra@1"],
        &["drop", "d", "other"],
        &["apply", apply.to_str().unwrap()],
        &["rollback", "d"],
        &["switch", "d", "1"],
    ];
    let mut lost = Vec::new();
    for (i, (call, k)) in points.iter().enumerate() {
        let root = env.dir().join(format!("kill-{i}"));
        copy_root(env.root(), &root);
        let o = traced(
            &root,
            &[
                "-o".into(),
                "/dev/null".into(),
                format!("-etrace={call}"),
                format!("-einject={call}:signal=SIGKILL:when={k}"),
            ],
            &["rollback", "d", "--with-data"],
        );
        assert!(!o.status.success(), "{call} #{k} was never reached: {o:?}");
        let next = follow[i % follow.len()];
        let r = env.run_at(&root, next);
        let after = newest_in(&root);
        let check = env.run_at(&root, &["--json", "check"]);
        if after.is_none() {
            lost.push(format!(
                "killed at {call} #{k}, then `{}`: {r}",
                next.join(" ")
            ));
        }
        if check.json()["problems"] != serde_json::json!([]) {
            lost.push(format!(
                "killed at {call} #{k}, then `{}` ({r}): check is not clean: {check}",
                next.join(" ")
            ));
        }
        crate::common::make_writable(&root);
        let _ = std::fs::remove_dir_all(&root);
    }
    assert!(
        lost.is_empty(),
        "the newest data was lost:\n{}",
        lost.join("\n")
    );
    eprintln!(
        "rollback --with-data: {} kill points, newest data kept at each",
        points.len()
    );
}
