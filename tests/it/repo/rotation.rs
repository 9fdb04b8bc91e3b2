//! Issue 23, findings 7 and 8: a package by name comes from the next mirror when one serves
//! wrong bytes of the right size (and the error, when all lie, names a mirror, never the
//! cache); key rotation and `repo remove` keep the last-seen serial, so an older validly
//! signed index stays a rollback.

use super::{fails, flip, Fx};
use std::path::{Path, PathBuf};

fn file_url(dir: &Path) -> String {
    format!("file://{}/", dir.display())
}

/// A copy of the publisher's repository whose `myapp@1.5.0` file has one byte flipped.
fn lying_mirror(fx: &Fx, name: &str) -> PathBuf {
    let copy = fx.env.dir().join(name);
    crate::common::tool(
        fx.env.dir(),
        "cp",
        &["-a", fx.repo().to_str().unwrap(), copy.to_str().unwrap()],
    );
    let rel = fx
        .package_file("myapp", "1.5.0")
        .strip_prefix(fx.repo())
        .unwrap()
        .to_path_buf();
    flip(&copy.join(rel), 200);
    copy
}

/// Every regular file under `<root>/cache/`.
fn cached_files(fx: &Fx) -> Vec<String> {
    crate::common::walk(&fx.env.root().join("cache"))
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn install_by_name_takes_the_next_mirror_when_one_serves_wrong_bytes_of_the_right_size() {
    let fx = Fx::new();
    let bad = lying_mirror(&fx, "bad");
    fx.add(&[&file_url(&bad), &file_url(&fx.repo())]);
    fx.ok(&["update"]);
    let r = fx.env.run(&["--json", "install", "myapp@1.5.0"]).ok();
    assert_eq!(r.json()[0]["version"], "1.5.0", "{r}");
    assert!(
        r.stderr.contains(&bad.display().to_string()) && r.stderr.contains("sha256"),
        "the lying mirror is named in a warning:\n{r}"
    );
    assert_eq!(fx.installed(), ["myapp@1.5.0"]);
    // What stays in the cache is the good copy.
    let good = crate::common::sha256_file(&fx.package_file("myapp", "1.5.0"));
    let cached = cached_files(&fx);
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(
        crate::common::sha256_file(&fx.env.root().join("cache").join(&cached[0])),
        good
    );
    // Reused, not downloaded again.
    assert_eq!(
        fx.env.json(&["install", "myapp@1.5.0"])[0]["downloaded"],
        false
    );
}

#[test]
fn when_every_mirror_lies_the_error_names_a_mirror_and_nothing_is_cached() {
    let fx = Fx::new();
    let bad1 = lying_mirror(&fx, "bad1");
    let bad2 = lying_mirror(&fx, "bad2");
    fx.add(&[&file_url(&bad1), &file_url(&bad2)]);
    fx.ok(&["update"]);
    let r = fx.env.run(&["install", "myapp@1.5.0"]);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("");
    assert!(
        line.contains(&format!("{}/packages/", bad1.display())) && line.contains("sha256 is"),
        "the error names the first lying mirror:\n{r}"
    );
    assert!(!line.contains("cache/"), "the cache is not blamed:\n{r}");
    fails(r, 5, "the signed index says");
    assert!(fx.installed().is_empty());
    assert!(cached_files(&fx).is_empty(), "{:?}", cached_files(&fx));
}

/// The publisher's current index and signature, saved to `dir`.
fn save_index(fx: &Fx, dir: &str) -> PathBuf {
    let d = fx.env.dir().join(dir);
    std::fs::create_dir_all(&d).unwrap();
    for f in ["index.json", "index.json.minisig"] {
        std::fs::copy(fx.repo().join(f), d.join(f)).unwrap();
    }
    d
}

fn serve_saved(fx: &Fx, d: &Path) {
    for f in ["index.json", "index.json.minisig"] {
        std::fs::copy(d.join(f), fx.repo().join(f)).unwrap();
    }
}

fn serial(fx: &Fx) -> serde_json::Value {
    fx.env.json(&["repo", "list"])[0]["serial"].clone()
}

#[test]
fn repo_remove_keeps_the_last_seen_serial_so_re_adding_refuses_an_older_signed_index() {
    let fx = Fx::new();
    let one = save_index(&fx, "serial1");
    let next = fx.env.small_package("myapp", "2.0.0");
    fx.publish(&[&next], &[]);
    let url = file_url(&fx.repo());
    fx.add(&[&url]);
    fx.ok(&["update"]);
    assert_eq!(serial(&fx), 2);
    let removed = fx.env.json(&["repo", "remove", "origin"]);
    assert_eq!(removed["kept_serial"], 2);
    // A mirror (or an attacker) serves the old, validly signed serial 1.
    serve_saved(&fx, &one);
    fx.add(&[&url]);
    let before = fx.snapshot();
    fails(fx.env.run(&["update"]), 5, "older than serial 2");
    assert_eq!(fx.snapshot(), before, "nothing kept");
    // --forget forgets it: serial 1 is then a first index like any other.
    fx.ok(&["repo", "remove", "origin", "--forget"]);
    fx.add(&[&url]);
    fx.ok(&["update"]);
    assert_eq!(serial(&fx), 1);
}

#[test]
fn repo_key_rotation_keeps_the_serial_with_two_keys_pinned_at_once() {
    let fx = Fx::new();
    let one = save_index(&fx, "serial1");
    let next = fx.env.small_package("myapp", "2.0.0");
    fx.publish(&[&next], &[]);
    let two = save_index(&fx, "serial2");
    fx.add(&[&file_url(&fx.repo())]);
    fx.ok(&["update"]);
    let old_id = fx.env.json(&["repo", "list"])[0]["keys"][0]
        .as_str()
        .unwrap()
        .to_string();
    let new_id = fx.env.json(&["key", "generate", "release2"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let added = fx
        .env
        .json(&["repo", "key", "add", "origin", "release2.pub"]);
    assert_eq!(added["status"], "added");
    assert_eq!(added["pinned"], serde_json::json!([old_id, new_id]));
    // Both keys sign while the publisher switches: the old one's index is still good.
    assert_eq!(fx.env.json(&["update"])[0]["status"], "unchanged");
    // The old key goes; the index it signed can no longer be verified and is dropped, but
    // its serial stays the floor.
    let removed = fx.env.json(&["repo", "key", "remove", "origin", &old_id]);
    assert_eq!(removed["pinned"], serde_json::json!([new_id]));
    assert_eq!(removed["serial"], 2);
    assert_eq!(removed["index_dropped"], true);
    // Serial 1, re-signed with the new key: validly signed, and still a rollback.
    serve_saved(&fx, &one);
    let idx = fx.index();
    let path = fx.repo().join("index.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&idx).unwrap()).unwrap();
    fx.ok(&[
        "key",
        "sign",
        path.to_str().unwrap(),
        "--key",
        "release2.key",
    ]);
    fails(fx.env.run(&["update"]), 5, "older than serial 2");
    // The publisher's next index, signed by the new key, is accepted.
    serve_saved(&fx, &two);
    fx.ok(&[
        "repo",
        "publish",
        "repo",
        "--key",
        "release2.key",
        "--accept-existing",
    ]);
    fx.ok(&["update"]);
    assert_eq!(serial(&fx), 3);
    // The last key is never removed.
    fails(
        fx.env.run(&["repo", "key", "remove", "origin", &new_id]),
        4,
        "the only key pinned",
    );
}

#[test]
fn a_key_file_with_two_key_lines_is_refused() {
    let fx = Fx::new();
    fx.ok(&["key", "generate", "release2"]);
    let two = format!(
        "{}{}",
        fx.pubkey(),
        std::fs::read_to_string(fx.env.dir().join("release2.pub")).unwrap()
    );
    std::fs::write(fx.env.dir().join("two.pub"), two).unwrap();
    let url = file_url(&fx.repo());
    fails(
        fx.env
            .run(&["repo", "add", "origin", &url, "--key", "two.pub"]),
        2,
        "2 key lines",
    );
    assert!(!fx.env.root().join("repos.toml").exists());
    fx.add(&[&url]);
    fails(
        fx.env.run(&["repo", "key", "add", "origin", "two.pub"]),
        2,
        "2 key lines",
    );
}
