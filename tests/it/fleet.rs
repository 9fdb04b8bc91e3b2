//! A fleet of ten hosts, each a network namespace with its own berth root, converged by the
//! real `ansible-playbook` with the `berth.core` collection (`examples/fleet/site.yml`) from a
//! signed repository that a real nginx serves in a namespace of its own
//! (`examples/fleet/netns.sh` makes it all and is what `bench/fleet.sh` uses too). One fleet
//! is set up once and goes through the scenarios of issue 24 in order:
//!
//! 1. a fresh converge of every host (two services, web and api, each its own profile); a
//!    second run reports `changed=0` on every host; `--check` changes nothing anywhere;
//! 2. a rollout of a release whose health check fails: the canary switches itself back
//!    (berth's exit 9), the play stops, no other host changed;
//! 3. the repository serves a replayed older index, then an expired one: every host refuses
//!    with berth's reason, and keeps its running version;
//! 4. one host's network is cut while it downloads a release: it fails cleanly (store check
//!    clean, nothing in the cache, profile unchanged) while the others converge, and the next
//!    run converges it.
//!
//! Needs root (network namespaces): as another user it skips, and the skip is counted.

use crate::common::isolate::needs_root;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Hosts in the fleet.
const N: usize = 10;
/// The host whose network is cut (the last: in the rollout's last batch).
const CUT: usize = N;
/// Where nginx listens, inside the fleet's namespaces only.
const REPO_IP: &str = "10.77.0.254";
/// How long the canary's health check of the broken release keeps trying.
const BROKEN_WAIT: &str = "5s";
/// Namespace names start with this, then the test process's pid.
const PREFIX: &str = "bft";

fn repo_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn netns_sh() -> PathBuf {
    repo_dir().join("examples/fleet/netns.sh")
}

/// Runs `netns.sh ARGS` and insists that it works.
#[track_caller]
fn netns(args: &[&str]) -> Run {
    let r = Run::of(Command::new("bash").arg(netns_sh()).args(args));
    assert_eq!(r.code, 0, "netns.sh {args:?}:\n{r}");
    r
}

/// Removes the namespaces of earlier runs whose test process is gone (one killed before its
/// guard could run), so they cannot pile up.
fn remove_stale() {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let mut stale = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit()) && !Path::new("/proc").join(pid).exists() {
            stale.insert(format!("{PREFIX}{pid}"));
        }
    }
    for p in stale {
        let _ = Command::new("bash")
            .arg(netns_sh())
            .args(["down", &p])
            .status();
    }
}

/// The fleet: the publisher's scratch directory (key, repository, packages, nginx, the
/// inventory) and one scratch directory per host (its root is `<dir>/root`). Dropping it
/// kills every process in its namespaces and deletes them, before the directories go.
struct Fleet {
    prefix: String,
    publisher: Env,
    hosts: Vec<Env>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(netns_sh())
            .args(["down", &self.prefix])
            .status();
    }
}

impl Fleet {
    fn up() -> Fleet {
        remove_stale();
        let fleet = Fleet {
            prefix: format!("{PREFIX}{}", std::process::id()),
            publisher: Env::new(),
            hosts: (0..N).map(|_| Env::new()).collect(),
        };
        fleet.publisher.run(&["key", "generate", "release"]).ok();
        fleet
            .publisher
            .run(&["repo", "init", "repo", "--channel", "stable"])
            .ok();
        let dirs: String = fleet
            .hosts
            .iter()
            .map(|h| format!("{}\n", h.dir().display()))
            .collect();
        let list = fleet.publisher.dir().join("host-dirs");
        std::fs::write(&list, dirs).unwrap();
        let r = Run::of(
            Command::new("bash")
                .arg(netns_sh())
                .args(["up", &N.to_string(), &fleet.prefix])
                .arg(fleet.dir())
                .arg(fleet.repo())
                .env("HOST_DIRS", &list),
        );
        assert_eq!(r.code, 0, "netns.sh up:\n{r}");
        fleet
    }

    /// The fleet's own directory (nginx, inventory.ini).
    fn dir(&self) -> PathBuf {
        self.publisher.dir().join("fleet")
    }

    fn repo(&self) -> PathBuf {
        self.publisher.dir().join("repo")
    }

    fn ns(&self, k: usize) -> String {
        format!("{}-h{k}", self.prefix)
    }

    fn host(&self, k: usize) -> &Env {
        &self.hosts[k - 1]
    }

    /// Packs `name@version` of the fleet's service (`examples/fleet/svc.py` as `bin/svc`),
    /// broken (its health check fails) or not, with `payload` bytes of noise beside it.
    fn service(&self, name: &str, version: &str, broken: bool, payload: usize) -> PathBuf {
        let svc = std::fs::read(repo_dir().join("examples/fleet/svc.py")).unwrap();
        let noise = noise(payload as u64 + 7, payload);
        let mut files: Vec<(&str, &[u8])> = vec![
            ("bin/svc*", &svc),
            ("share/svc/VERSION", version.as_bytes()),
        ];
        if broken {
            files.push(("share/svc/BROKEN", b"the health check fails\n"));
        }
        if payload > 0 {
            files.push(("share/svc/payload.bin", &noise));
        }
        let src = self.publisher.source(name, version, &files);
        self.publisher.pack(&src)
    }

    /// `berth repo publish repo FILES…`: the next serial.
    fn publish(&self, files: &[&Path]) -> Value {
        let mut a = vec!["--json", "repo", "publish", "repo", "--key", "release.key"];
        a.extend(files.iter().map(|f| f.to_str().unwrap()));
        self.publisher.run(&a).ok().json()
    }

    /// The index and its signature as served now, to serve again later.
    fn save_index(&self, name: &str) -> PathBuf {
        let d = self.publisher.dir().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["index.json", "index.json.minisig"] {
            std::fs::copy(self.repo().join(f), d.join(f)).unwrap();
        }
        d
    }

    fn serve_index(&self, saved: &Path) {
        for f in ["index.json", "index.json.minisig"] {
            std::fs::copy(saved.join(f), self.repo().join(f)).unwrap();
        }
    }

    /// The ansible-playbook command of `examples/fleet/site.yml` on this fleet with the
    /// versions given, the JSON callback, and every writable path in the scratch directory.
    /// The health checks get 30 s (a loaded CI machine starts a service slowly), except
    /// web's in a rollout of its broken release, where the canary waits only [`BROKEN_WAIT`].
    fn playbook(&self, web: &str, api: &str, extra: &[&str]) -> Command {
        let health = if web == "2.0" { BROKEN_WAIT } else { "30s" };
        let home = self.publisher.dir().join("home");
        let tmp = self.publisher.dir().join("ansible-tmp");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let mut c = Command::new("ansible-playbook");
        clean_env(&mut c)
            .env("HOME", &home)
            .env("ANSIBLE_LOCAL_TEMP", &tmp)
            .env("ANSIBLE_REMOTE_TEMP", &tmp)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_FORKS", "20")
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_STDOUT_CALLBACK", "json")
            .env(
                "ANSIBLE_COLLECTIONS_PATH",
                repo_dir().join("contrib/ansible"),
            )
            .env_remove("ANSIBLE_CONFIG")
            .current_dir(self.publisher.dir())
            .stdin(Stdio::null())
            .arg("-i")
            .arg(self.dir().join("inventory.ini"))
            .arg(repo_dir().join("examples/fleet/site.yml"))
            .arg("-e")
            .arg(format!("berth={BERTH}"))
            .arg("-e")
            .arg(format!(
                "repo_key={}",
                self.publisher.dir().join("release.pub").display()
            ))
            .arg("-e")
            .arg(format!(
                r#"{{"versions": {{"web": "{web}", "api": "{api}"}}, "health_timeouts": {{"web": "{health}", "api": "30s"}}}}"#
            ))
            .args(extra);
        c
    }

    fn play(&self, web: &str, api: &str, extra: &[&str]) -> Play {
        let start = Instant::now();
        let p = Play::of(Run::of(&mut self.playbook(web, api, extra)));
        eprintln!(
            "fleet: web {web}, api {api} {extra:?}: exit {} in {:.1?}",
            p.run.code,
            start.elapsed()
        );
        p
    }

    /// What host `k`'s service on `port` says its version is (curl in the host's namespace).
    fn version(&self, k: usize, port: u16) -> Option<String> {
        for _ in 0..100 {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.ns(k), "curl", "-fsS", "-m", "2"])
                .arg(format!("http://127.0.0.1:{port}/version"))
                .output()
                .unwrap();
            if out.status.success() {
                return Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Host `k`'s root as files, leaving out what an index update or a download may touch
    /// (`repos/`, `cache/`) and the lock.
    fn state(&self, k: usize) -> Snapshot {
        snapshot(self.host(k).root(), None)
            .into_iter()
            .filter(|(p, _)| !p.starts_with("repos") && !p.starts_with("cache"))
            .collect()
    }

    fn states(&self) -> Vec<Snapshot> {
        (1..=N).map(|k| self.state(k)).collect()
    }

    /// Bytes host `k` has received on its open TCP connections to the repository.
    fn receiving(&self, k: usize) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(k), "ss", "-tinH", "dst", REPO_IP])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("bytes_received:"))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    }
}

/// One ansible-playbook run, read through the JSON callback.
struct Play {
    run: Run,
    doc: Value,
}

impl Play {
    fn of(run: Run) -> Play {
        let start = run
            .stdout
            .find("{\n")
            .unwrap_or_else(|| panic!("no JSON from ansible-playbook:\n{run}"));
        let doc = serde_json::from_str(&run.stdout[start..])
            .unwrap_or_else(|e| panic!("bad JSON ({e}):\n{run}"));
        Play { run, doc }
    }

    /// The recap's number `what` (ok, changed, failures …) for host `k` (0 when the host
    /// never ran).
    fn stat(&self, k: usize, what: &str) -> u64 {
        self.doc["stats"][format!("h{k}")][what]
            .as_u64()
            .unwrap_or(0)
    }

    /// Host `k`'s results of every task named `task`, in play order (one per loop item).
    fn results(&self, k: usize, task: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for play in self.doc["plays"].as_array().unwrap() {
            for t in play["tasks"].as_array().unwrap() {
                if t["task"]["name"] != task {
                    continue;
                }
                let r = &t["hosts"][format!("h{k}")];
                if r.is_null() {
                    continue;
                }
                match r["results"].as_array() {
                    Some(items) => out.extend(items.iter().cloned()),
                    None => out.push(r.clone()),
                }
            }
        }
        out
    }

    /// Host `k`'s result of `berth apply` for `service`.
    fn apply(&self, k: usize, service: &str) -> Option<Value> {
        self.results(k, "berth apply")
            .into_iter()
            .find(|r| r["item"]["name"] == service)
    }
}

impl std::fmt::Display for Play {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstats: {}\n--- stderr\n{}",
            self.run.code, self.doc["stats"], self.run.stderr
        )
    }
}

#[test]
fn a_fleet_converges_rolls_out_canary_first_and_refuses_what_it_must() {
    if needs_root("the fleet test (network namespaces)") {
        return;
    }
    for (tool, why) in [
        ("ip", "the fleet test's network namespaces"),
        ("nginx", "the fleet test's repository"),
        ("ansible-playbook", "the fleet test"),
        ("curl", "the fleet's health checks"),
    ] {
        if !have(tool, why) {
            return;
        }
    }
    let start = Instant::now();
    let fleet = Fleet::up();
    eprintln!("fleet: up in {:.1?}", start.elapsed());
    let web1 = fleet.service("web", "1.0", false, 0);
    let api1 = fleet.service("api", "1.0", false, 0);
    fleet.publish(&[&web1, &api1]);
    let serial1 = fleet.save_index("serial-1");

    // 1. Fresh converge of every host, then nothing to do, then check mode changes nothing.
    let p = fleet.play("1.0", "1.0", &[]);
    assert_eq!(p.run.code, 0, "{p}");
    for k in 1..=N {
        assert_eq!(p.stat(k, "failures"), 0, "h{k}: {p}");
        for (svc, port) in [("web", 8001), ("api", 8002)] {
            let r = p.apply(k, svc).unwrap_or_else(|| panic!("h{k} {svc}: {p}"));
            assert_eq!(r["changed"], true, "h{k} {svc}: {r}");
            assert_eq!(fleet.host(k).current(svc), Some(1), "h{k} {svc}");
            assert_eq!(fleet.version(k, port).as_deref(), Some("1.0"), "h{k} {svc}");
        }
    }
    let p = fleet.play("1.0", "1.0", &[]);
    assert_eq!(p.run.code, 0, "{p}");
    for k in 1..=N {
        assert_eq!(
            (p.stat(k, "changed"), p.stat(k, "failures")),
            (0, 0),
            "h{k}: {p}"
        );
        assert!(p.stat(k, "ok") > 0, "h{k} ran: {p}");
    }
    let before: Vec<Snapshot> = (1..=N)
        .map(|k| snapshot(fleet.host(k).root(), None))
        .collect();
    let p = fleet.play("1.0", "1.0", &["--check"]);
    assert_eq!(p.run.code, 0, "{p}");
    for k in 1..=N {
        assert_eq!(p.stat(k, "changed"), 0, "h{k}: {p}");
        assert_eq!(
            snapshot(fleet.host(k).root(), None),
            before[k - 1],
            "check mode changed h{k}"
        );
    }

    // 2. A release whose health check fails: the canary switches back, nobody else moves.
    let web2 = fleet.service("web", "2.0", true, 0);
    fleet.publish(&[&web2]);
    let serial2 = fleet.save_index("serial-2");
    let before = fleet.states();
    let p = fleet.play("2.0", "1.0", &[]);
    assert_ne!(p.run.code, 0, "{p}");
    let canary = p.apply(1, "web").unwrap_or_else(|| panic!("{p}"));
    assert_eq!(canary["failed"], true, "{canary}");
    assert_eq!(canary["rc"], 9, "{canary}");
    let msg = canary["msg"].as_str().unwrap();
    assert!(
        msg.contains("health check of web generation 2 failed")
            && msg.contains("switched back to generation 1"),
        "{canary}"
    );
    assert_eq!(fleet.host(1).current("web"), Some(1));
    assert_eq!(fleet.host(1).generations("web"), vec![1, 2]);
    assert_eq!(fleet.version(1, 8001).as_deref(), Some("1.0"));
    for k in 2..=N {
        assert!(p.apply(k, "web").is_none(), "h{k} converged: {p}");
        assert_eq!(fleet.state(k), before[k - 1], "h{k} changed");
        assert_eq!(fleet.version(k, 8001).as_deref(), Some("1.0"), "h{k}");
    }

    // 3. A replayed older index, then an expired one: refused everywhere, per host.
    fleet.serve_index(&serial1);
    let before = fleet.states();
    let p = fleet.play("1.0", "1.0", &[]);
    assert_ne!(p.run.code, 0, "{p}");
    refused_everywhere(&fleet, &p, &before, "index serial 1 is older than serial 2");
    let mut expired: Value =
        serde_json::from_slice(&std::fs::read(serial2.join("index.json")).unwrap()).unwrap();
    expired["serial"] = 3.into();
    expired["generated"] = "2020-01-01T00:00:00Z".into();
    expired["expires"] = "2020-01-31T00:00:00Z".into();
    let index = fleet.repo().join("index.json");
    std::fs::write(&index, serde_json::to_vec_pretty(&expired).unwrap()).unwrap();
    fleet
        .publisher
        .run(&[
            "key",
            "sign",
            index.to_str().unwrap(),
            "--key",
            "release.key",
        ])
        .ok();
    let p = fleet.play("1.0", "1.0", &[]);
    assert_ne!(p.run.code, 0, "{p}");
    refused_everywhere(&fleet, &p, &before, "index expired at 2020-01-31T00:00:00Z");
    fleet.serve_index(&serial2);

    // 4. api 2.0 (2 MiB that do not compress) rolls out; host CUT's network goes down while
    // it downloads (its link slowed so that the cut lands mid-download).
    let api2 = fleet.service("api", "2.0", false, 2 << 20);
    fleet.publish(&[&api2]);
    let api2_sha = sha256_file(&api2);
    let before = fleet.state(CUT);
    let (prefix, cut) = (fleet.prefix.as_str(), CUT.to_string());
    netns(&["slow", prefix, &cut, "4mbit"]);
    let out = fleet.publisher.dir().join("cut-play.json");
    let mut child = fleet
        .playbook("1.0", "2.0", &[])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while fleet.receiving(CUT) < 256 << 10 {
        if start.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "h{CUT} never got 256 KiB into its download:\n{}",
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    netns(&["cut", prefix, &cut]);
    let output = child.wait_with_output().unwrap();
    let p = Play::of(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    });
    assert_ne!(p.run.code, 0, "{p}");
    let failed = p.apply(CUT, "api").unwrap_or_else(|| panic!("{p}"));
    assert_eq!(failed["failed"], true, "{failed}");
    assert!(
        failed["msg"].as_str().unwrap().contains(REPO_IP),
        "the error names the download: {failed}"
    );
    for k in 1..N {
        assert_eq!(p.stat(k, "failures"), 0, "h{k}: {p}");
        assert_eq!(fleet.host(k).current("api"), Some(2), "h{k}");
    }
    let host = fleet.host(CUT);
    assert_eq!(fleet.state(CUT), before, "h{CUT}: nothing half installed");
    assert!(
        !host.root().join("cache").join(&api2_sha).exists(),
        "h{CUT} kept a partial download: {:?}",
        children(&host.root().join("cache"))
    );
    host.run(&["check"]).ok();
    assert_eq!(fleet.version(CUT, 8002).as_deref(), Some("1.0"));

    netns(&["mend", prefix, &cut]);
    netns(&["fast", prefix, &cut]);
    let p = fleet.play("1.0", "2.0", &[]);
    assert_eq!(p.run.code, 0, "{p}");
    for k in 1..=N {
        let r = p.apply(k, "api").unwrap_or_else(|| panic!("h{k}: {p}"));
        assert_eq!(r["changed"], k == CUT, "h{k}: {r}");
        assert_eq!(fleet.host(k).current("api"), Some(2), "h{k}");
    }
    assert_eq!(fleet.version(CUT, 8002).as_deref(), Some("2.0"));
    host.run(&["check"]).ok();
}

/// Every host failed the repository task with `needle` in berth's message, converged
/// nothing, and its services still run the version they ran.
#[track_caller]
fn refused_everywhere(fleet: &Fleet, p: &Play, before: &[Snapshot], needle: &str) {
    let mut messages = BTreeMap::new();
    for k in 1..=N {
        let r = p
            .results(k, "Repository with its pinned key, newest index")
            .pop()
            .unwrap_or_else(|| panic!("h{k}: {p}"));
        assert_eq!(r["failed"], true, "h{k}: {r}");
        assert_eq!(r["rc"], 5, "h{k}: {r}");
        messages.insert(k, r["msg"].as_str().unwrap_or("").to_string());
        assert!(p.apply(k, "web").is_none(), "h{k} converged: {p}");
        assert_eq!(fleet.state(k), before[k - 1], "h{k} changed");
        assert_eq!(fleet.version(k, 8001).as_deref(), Some("1.0"), "h{k}");
        let repos = fleet.host(k).json(&["repo", "list"]);
        assert_eq!(repos[0]["serial"], 2, "h{k}: the last good index stays");
    }
    assert!(
        messages.values().all(|m| m.contains(needle)),
        "every host names `{needle}`: {messages:#?}"
    );
}
