//! Issue 23, finding 11: a package name belongs to the repository it was first installed
//! from (or the one `--from` names); another repository offering it is reported, never
//! silently preferred. And what a signed index may hold: no hidden characters, no path part
//! a file system cannot name, times with a zone (offsets included).

use super::{fails, Fx};

fn file_url(dir: &std::path::Path) -> String {
    format!("file://{}/", dir.display())
}

#[test]
fn a_second_repository_offering_an_installed_name_is_reported_not_preferred() {
    let fx = Fx::new();
    fx.add(&[&file_url(&fx.repo())]);
    fx.ok(&["update"]);
    fx.ok(&["install", "myapp"]);
    // Another repository, signed by its own key, publishes a newer myapp.
    fx.ok(&["key", "generate", "other"]);
    fx.ok(&["repo", "init", "other-repo", "--channel", "stable"]);
    let evil = fx.env.small_package("myapp", "9.0");
    let evil = evil.to_str().unwrap();
    fx.ok(&["repo", "publish", "other-repo", evil, "--key", "other.key"]);
    let other_url = file_url(&fx.env.dir().join("other-repo"));
    fx.ok(&["repo", "add", "other", &other_url, "--key", "other.pub"]);
    fx.ok(&["update"]);
    let r = fx.env.run(&["--json", "install", "myapp"]).ok();
    assert_eq!(r.json()[0]["version"], "1.5.0", "{r}");
    assert_eq!(r.json()[0]["repository"], "origin");
    assert!(
        r.stderr.contains("`other`") && r.stderr.contains("`origin`"),
        "a warning names both repositories:\n{r}"
    );
    assert_eq!(fx.installed(), ["myapp@1.5.0"]);
    // Asked for explicitly, it comes from there, and the name is bound to it from then on.
    let r = fx.env.json(&["install", "--from", "other", "myapp"]);
    assert_eq!(r[0]["version"], "9.0");
    assert_eq!(r[0]["repository"], "other");
    let toml = std::fs::read_to_string(fx.env.root().join("repos.toml")).unwrap();
    assert!(toml.contains("myapp = \"other\""), "{toml}");
    fails(
        fx.env.run(&["install", "--from", "nosuch", "myapp"]),
        3,
        "no repository named `nosuch`",
    );
}

#[test]
fn a_name_never_installed_comes_from_the_first_repository_that_offers_it() {
    let fx = Fx::new();
    fx.ok(&["key", "generate", "other"]);
    fx.ok(&["repo", "init", "other-repo", "--channel", "stable"]);
    let evil = fx.env.small_package("myapp", "9.0");
    fx.ok(&[
        "repo",
        "publish",
        "other-repo",
        evil.to_str().unwrap(),
        "--key",
        "other.key",
    ]);
    fx.add(&[&file_url(&fx.repo())]);
    let other_url = file_url(&fx.env.dir().join("other-repo"));
    fx.ok(&["repo", "add", "other", &other_url, "--key", "other.pub"]);
    fx.ok(&["update"]);
    let r = fx.env.run(&["--json", "install", "myapp"]).ok();
    assert_eq!(
        r.json()[0]["version"],
        "1.5.0",
        "not the newer version elsewhere:\n{r}"
    );
    assert!(r.stderr.contains("`other`"), "{r}");
}

/// Signs the publisher's first index, with serial `serial` and `edit` made, and runs `update`.
fn update_with(
    fx: &Fx,
    serial: u64,
    edit: impl FnOnce(&mut serde_json::Value),
) -> crate::common::Run {
    let first = fx.env.dir().join("first-index.json");
    if !first.exists() {
        std::fs::copy(fx.repo().join("index.json"), &first).unwrap();
    }
    let mut idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&first).unwrap()).unwrap();
    idx["serial"] = serial.into();
    edit(&mut idx);
    fx.write_signed(&idx);
    fx.env.run(&["update"])
}

#[test]
fn index_checks_refuse_hidden_characters_and_long_path_parts_and_take_rfc3339_offsets() {
    let fx = Fx::new();
    fx.add(&[&file_url(&fx.repo())]);
    fx.ok(&["update"]);
    let before = fx.snapshot();
    let r = update_with(&fx, 2, |i| {
        i["packages"][0]["description"] = "invoice\u{202E}fdp.exe".into();
    });
    fails(r, 6, "bidirectional or zero-width");
    let r = update_with(&fx, 2, |i| {
        i["packages"][0]["version"] = "1.0.0\u{200B}".into();
    });
    assert!(r.stderr.contains("1.0.0\\u{200b}"), "shown escaped:\n{r}");
    fails(r, 6, "zero-width");
    let long = format!("packages/ab/{}", "x".repeat(256));
    let r = update_with(&fx, 2, |i| i["packages"][0]["path"] = long.clone().into());
    fails(r, 6, "at most 255 bytes");
    assert_eq!(fx.snapshot(), before, "the previous index stays in force");
    // An expiry written with an offset is a time like any other.
    let r = update_with(&fx, 2, |i| {
        let e = i["expires"].as_str().unwrap().replace('Z', "+14:00");
        i["expires"] = e.into();
    });
    r.ok();
    assert_eq!(fx.env.json(&["repo", "list"])[0]["serial"], 2);
    // One without a zone names no instant.
    let r = update_with(&fx, 3, |i| {
        let e = i["expires"].as_str().unwrap().replace('Z', "");
        i["expires"] = e.into();
    });
    fails(r, 6, "is not an RFC 3339 time");
}
