//! Signed static repositories, end to end with the real binary: publish → update → search →
//! install over a real nginx and over file://, cache reuse seen in nginx's access log,
//! interop with the real `minisign`, and every attack of issue 10, each leaving the previous
//! index and the store exactly as they were.

use crate::common;

use crate::common::nginx::Nginx;
use crate::common::{one_error_line, tool, Env, Run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A publisher (key + repository directory) and a client root, in one scratch directory.
struct Fx {
    env: Env,
}

impl Fx {
    /// Key `release`, repository `repo/` (channel stable) holding myapp 1.0.0 and 1.5.0.
    fn new() -> Fx {
        let fx = Fx { env: Env::new() };
        fx.ok(&["key", "generate", "release"]);
        fx.ok(&["repo", "init", "repo", "--channel", "stable"]);
        let a = fx.env.small_package("myapp", "1.0.0");
        let b = fx.env.small_package("myapp", "1.5.0");
        fx.publish(&[&a, &b], &[]);
        fx
    }

    fn ok(&self, args: &[&str]) -> Run {
        self.env.run(args).ok()
    }

    fn repo(&self) -> PathBuf {
        self.env.dir().join("repo")
    }

    fn pubkey(&self) -> String {
        std::fs::read_to_string(self.env.dir().join("release.pub")).unwrap()
    }

    fn publish(&self, files: &[&Path], extra: &[&str]) -> Value {
        let mut a = vec!["--json", "repo", "publish", "repo", "--key", "release.key"];
        a.extend(files.iter().map(|f| f.to_str().unwrap()));
        a.extend_from_slice(extra);
        self.env.run(&a).ok().json()
    }

    fn add(&self, urls: &[&str]) {
        let key = self.pubkey();
        let mut a = vec!["repo", "add", "origin"];
        a.extend_from_slice(urls);
        a.extend(["--key", key.as_str(), "--channel", "stable"]);
        self.ok(&a);
    }

    fn index(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.repo().join("index.json")).unwrap()).unwrap()
    }

    /// Writes `index` as the repository's index and signs it with the publisher's key.
    fn write_signed(&self, index: &Value) {
        let path = self.repo().join("index.json");
        std::fs::write(&path, serde_json::to_vec_pretty(index).unwrap()).unwrap();
        self.ok(&[
            "key",
            "sign",
            path.to_str().unwrap(),
            "--key",
            "release.key",
        ]);
    }

    fn sig_path(&self) -> PathBuf {
        self.repo().join("index.json.minisig")
    }

    /// The path of the newest published file of `name@version` in the repository.
    fn package_file(&self, name: &str, version: &str) -> PathBuf {
        let idx = self.index();
        let p = idx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["version"] == version)
            .unwrap_or_else(|| panic!("{name}@{version} not in the index"));
        self.repo().join(p["path"].as_str().unwrap())
    }

    /// Every file under the root with its content hash (the lock's holder line excepted).
    fn snapshot(&self) -> BTreeMap<String, String> {
        common::walk(self.env.root())
            .into_iter()
            .map(|(p, m)| {
                let full = self.env.root().join(&p);
                let v = if m.is_dir() {
                    "dir".to_string()
                } else if m.file_type().is_symlink() {
                    format!("link {}", std::fs::read_link(&full).unwrap().display())
                } else if p == ".lock" {
                    "lock".to_string()
                } else {
                    common::sha256_file(&full)
                };
                (p, v)
            })
            .collect()
    }

    /// The installed name@version pairs.
    fn installed(&self) -> Vec<String> {
        self.env
            .listed()
            .into_iter()
            .map(|(n, v, _)| format!("{n}@{v}"))
            .collect()
    }
}

fn flip(path: &Path, offset: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[offset] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[track_caller]
fn fails(r: Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "unexpected exit code:\n{r}");
    assert!(r.stderr.contains(needle), "expected `{needle}` in:\n{r}");
    assert_eq!(
        r.stderr.matches("error:").count(),
        1,
        "one error line expected:\n{r}"
    );
}

#[test]
fn publish_update_search_install_by_name_over_nginx() {
    let fx = Fx::new();
    let nginx = Nginx::serve(&fx.repo());
    fx.add(&[&nginx.url()]);
    let up = fx.env.json(&["update"]);
    assert_eq!(up[0]["status"], "updated");
    assert_eq!(up[0]["serial"], 1);
    let hits = fx.env.json(&["search", "myapp"]);
    assert_eq!(hits[0]["name"], "myapp");
    assert_eq!(hits[0]["versions"], serde_json::json!(["1.0.0", "1.5.0"]));
    assert_eq!(hits[0]["repository"], "origin");
    // Newest by Debian order, then an exact version.
    let row = fx.env.json(&["install", "myapp"]);
    assert_eq!(row[0]["version"], "1.5.0");
    assert_eq!(row[0]["repository"], "origin");
    assert_eq!(row[0]["downloaded"], true);
    let idx = fx.index();
    let pub_id = idx["packages"][1]["store_id"].as_str().unwrap();
    assert_eq!(
        row[0]["id"], pub_id,
        "the index's store id is the installed id"
    );
    fx.env.json(&["install", "myapp@1.0.0"]);
    assert_eq!(fx.installed(), ["myapp@1.0.0", "myapp@1.5.0"]);
    let list = fx.env.json(&["repo", "list"]);
    assert_eq!(list[0]["serial"], 1);
    assert_eq!(list[0]["packages"], 2);
    fails(
        fx.env.run(&["install", "myapp@9.9"]),
        3,
        "available: 1.0.0, 1.5.0",
    );
    fails(fx.env.run(&["install", "nosuch"]), 3, "no package `nosuch`");
    // A missing file stays a missing file, repositories or not.
    fails(
        fx.env.run(&["install", "gone-1.0.berth"]),
        3,
        "no such file",
    );
}

#[test]
fn install_by_name_over_file_url_with_tarball_and_debian_order() {
    let fx = Fx::new();
    let src = fx.env.dir().join("tool");
    common::write_tree(&src, &[("bin/tool*", b"#!/bin/sh\n"), ("README", b"r\n")]);
    tool(
        fx.env.dir(),
        "tar",
        &["-czf", "tool-2.1.tar.gz", "-C", "tool", "."],
    );
    let a = fx.env.small_package("myapp", "1.10.0");
    let p = fx.publish(&[&fx.env.dir().join("tool-2.1.tar.gz"), &a], &[]);
    assert_eq!(p["packages"][0]["kind"], "tarball");
    assert_eq!(p["serial"], 2);
    let url = format!("file://{}/", fx.repo().display());
    fx.add(&[&url]);
    fx.ok(&["update"]);
    let row = fx.env.json(&["install", "myapp"]);
    assert_eq!(
        row[0]["version"], "1.10.0",
        "1.10.0 > 1.5.0 in Debian order"
    );
    let row = fx.env.json(&["install", "tool"]);
    assert_eq!(
        (row[0]["name"].as_str(), row[0]["version"].as_str()),
        (Some("tool"), Some("2.1"))
    );
    assert_eq!(row[0]["id"], p["packages"][0]["store_id"]);
    fx.ok(&["repo", "verify", "repo", "--key", "release.pub"]);
}

#[test]
fn cached_artifact_is_reused_and_unchanged_index_costs_a_304() {
    let fx = Fx::new();
    let nginx = Nginx::serve(&fx.repo());
    fx.add(&[&nginx.url()]);
    fx.ok(&["update"]);
    let second = fx.env.json(&["update"]);
    assert_eq!(second[0]["status"], "unchanged");
    let statuses: Vec<u16> = nginx.hits("/index.json").iter().map(|h| h.0).collect();
    assert_eq!(statuses, [200, 304], "If-None-Match/If-Modified-Since sent");
    assert_eq!(
        nginx.hits(".minisig").len(),
        1,
        "no signature fetched for a 304"
    );
    fx.env.json(&["install", "myapp@1.5.0"]);
    fx.ok(&["remove", "myapp@1.5.0"]);
    let row = fx.env.json(&["install", "myapp@1.5.0"]);
    assert_eq!(row[0]["downloaded"], false);
    let pkg = nginx.hits("myapp-1.5.0.berth");
    assert_eq!(pkg.len(), 1, "one download only: {:?}", nginx.requests());
    assert_eq!(pkg[0].0, 200);
}

#[test]
fn mirrors_are_tried_in_order() {
    let fx = Fx::new();
    let nginx = Nginx::serve(&fx.repo());
    let dead = format!(
        "http://127.0.0.1:{}/",
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    fx.add(&[&dead, &nginx.url()]);
    fx.ok(&["update"]);
    fx.ok(&["install", "myapp"]);
    assert_eq!(fx.installed(), ["myapp@1.5.0"]);
}

#[test]
fn transport_failures_name_the_url() {
    let fx = Fx::new();
    let nginx = Nginx::serve(&fx.repo());
    let key = fx.pubkey();
    let missing = format!("{}nothing-here/", nginx.url());
    fx.ok(&["repo", "add", "gone", &missing, "--key", &key]);
    fails(
        fx.env.run(&["update", "gone"]),
        3,
        "nothing-here/index.json: not found (HTTP 404)",
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/");
    fx.ok(&["repo", "add", "dead", &dead, "--key", &key]);
    fails(fx.env.run(&["update", "dead"]), 1, "connection refused");
    fails(
        fx.env.run(&["repo", "add", "x", "ftp://h/", "--key", &key]),
        2,
        "unsupported scheme",
    );
    fails(
        fx.env
            .run(&["repo", "add", "x", "/srv", "--key", "RWQnope"]),
        2,
        "invalid public key",
    );
    // TLS with a certificate nobody trusts: refused, naming the URL.
    let tls = Nginx::serve_tls(&fx.repo());
    fx.ok(&["repo", "add", "tls", &tls.url(), "--key", &key]);
    fails(fx.env.run(&["update", "tls"]), 1, "TLS failed");
    fx.ok(&["repo", "remove", "gone"]);
    fails(
        fx.env.run(&["repo", "remove", "gone"]),
        3,
        "no repository named `gone`",
    );
}

// ---------------------------------------------------------------- interop with minisign

fn minisign(dir: &Path, args: &[&str]) {
    let out = Command::new("minisign")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run minisign (apt-get install minisign)");
    assert!(
        out.status.success(),
        "minisign {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn index_signed_by_minisign_is_accepted_and_berth_signatures_verify_with_minisign() {
    let fx = Fx::new();
    let d = fx.env.dir();
    // berth -> minisign: the index and a detached package signature.
    minisign(d, &["-V", "-p", "release.pub", "-m", "repo/index.json"]);
    let pkg = fx.env.small_package("other", "1.0");
    fx.ok(&["key", "sign", pkg.to_str().unwrap(), "--key", "release.key"]);
    minisign(d, &["-V", "-p", "release.pub", "-m", pkg.to_str().unwrap()]);
    // minisign -> berth: a key made by minisign -G -W signs the index (and can publish).
    minisign(d, &["-G", "-W", "-p", "mk.pub", "-s", "mk.key"]);
    minisign(d, &["-S", "-s", "mk.key", "-m", "repo/index.json"]);
    let key = std::fs::read_to_string(d.join("mk.pub")).unwrap();
    let url = format!("file://{}/", fx.repo().display());
    fx.ok(&["repo", "add", "origin", &url, "--key", &key]);
    fx.ok(&["update"]);
    fx.ok(&["install", "myapp@1.0.0"]);
    let p = fx
        .env
        .run(&[
            "--json",
            "repo",
            "publish",
            "repo",
            pkg.to_str().unwrap(),
            "--key",
            "mk.key",
            "--accept-existing",
        ])
        .ok();
    assert_eq!(p.json()["serial"], 2);
    let up = fx.env.json(&["update"]);
    assert_eq!(up[0]["serial"], 2);
    // A local file signed by minisign installs with --signature against the pinned key.
    minisign(d, &["-S", "-s", "mk.key", "-m", pkg.to_str().unwrap()]);
    let sig = format!("{}.minisig", pkg.display());
    fx.ok(&["install", pkg.to_str().unwrap(), "--signature", &sig]);
}

#[test]
fn legacy_minisign_signature_is_refused() {
    let fx = Fx::new();
    let d = fx.env.dir();
    minisign(d, &["-G", "-W", "-p", "mk.pub", "-s", "mk.key"]);
    minisign(d, &["-S", "-l", "-s", "mk.key", "-m", "repo/index.json"]);
    let key = std::fs::read_to_string(d.join("mk.pub")).unwrap();
    let url = format!("file://{}/", fx.repo().display());
    fx.ok(&["repo", "add", "origin", &url, "--key", &key]);
    let before = fx.snapshot();
    fails(
        fx.env.run(&["update"]),
        5,
        "legacy (non-prehashed) minisign signature refused",
    );
    assert_eq!(fx.snapshot(), before);
}

// ---------------------------------------------------------------- policy for local files

#[test]
fn require_signatures_refuses_unsigned_local_installs_unless_insecure() {
    let fx = Fx::new();
    fx.add(&[&format!("file://{}/", fx.repo().display())]);
    std::fs::write(
        fx.env.root().join("config.toml"),
        "require_signatures = true\n",
    )
    .unwrap();
    let pkg = fx.env.small_package("local", "1.0");
    let p = pkg.to_str().unwrap();
    let before = fx.snapshot();
    fails(fx.env.run(&["install", p]), 5, "require_signatures = true");
    assert_eq!(fx.snapshot(), before);
    // A signature by an unpinned key is refused too.
    fx.ok(&["key", "generate", "other"]);
    fx.ok(&["key", "sign", p, "--key", "other.key", "-o", "bad.minisig"]);
    let r = fx.env.run(&["install", p, "--signature", "bad.minisig"]);
    // A local file's error speaks of the file, not of a repository or its index.
    assert!(
        !r.stderr.contains("(local)") && !r.stderr.contains("previous index"),
        "{r}"
    );
    fails(r, 5, "which is not trusted");
    assert_eq!(fx.snapshot(), before);
    fx.ok(&["key", "sign", p, "--key", "release.key"]);
    let sig = format!("{p}.minisig");
    let row = fx.env.json(&["install", p, "--signature", &sig]);
    assert!(row[0]["signed_by"].as_str().unwrap().len() == 16);
    let other = fx.env.small_package("local2", "1.0");
    let r = fx
        .env
        .run(&["install", other.to_str().unwrap(), "--insecure"])
        .ok();
    assert!(r.stderr.contains("WITHOUT a signature"), "{r}");
}

#[test]
fn publish_refuses_other_bytes_for_a_published_version_and_takes_deb_and_rpm() {
    let fx = Fx::new();
    let d = fx.env.dir();
    // Same name@version, other content.
    let src = fx
        .env
        .source("myapp", "1.5.0", &[("bin/other*", b"#!/bin/sh\n")]);
    let out = d.join("rebuilt");
    std::fs::create_dir_all(&out).unwrap();
    fx.ok(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let before = std::fs::read(fx.repo().join("index.json")).unwrap();
    fails(
        fx.env.run(&[
            "repo",
            "publish",
            "repo",
            "rebuilt/myapp-1.5.0.berth",
            "--key",
            "release.key",
        ]),
        4,
        "published packages are immutable",
    );
    assert_eq!(std::fs::read(fx.repo().join("index.json")).unwrap(), before);
    // A real .deb (dpkg-deb) and a real .rpm (rpmbuild): kinds told by content.
    common::write_tree(
        &d.join("deb/usr/share/drupal7"),
        &[("index.php", b"<?php\n")],
    );
    common::write_tree(&d.join("deb/DEBIAN"), &[("control", b"Package: drupal7\nVersion: 7.60-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: d\n")]);
    tool(
        d,
        "dpkg-deb",
        &[
            "--build",
            "--root-owner-group",
            "deb",
            "drupal7_7.60-1_all.deb",
        ],
    );
    let rpm = build_rpm(d);
    let p = fx.publish(&[&d.join("drupal7_7.60-1_all.deb"), &rpm], &[]);
    assert_eq!(p["packages"][0]["kind"], "deb");
    assert_eq!(p["packages"][0]["package"], "drupal7@7.60-1");
    assert_eq!(p["packages"][1]["kind"], "rpm");
    assert_eq!(p["packages"][1]["package"], "hello@1.0-1");
    fx.ok(&["repo", "verify", "repo", "--key", "release.pub"]);
    // A damaged repository is reported offline.
    flip(&fx.package_file("drupal7", "7.60-1"), 100);
    fails(
        fx.env
            .run(&["repo", "verify", "repo", "--key", "release.pub"]),
        5,
        "1 problem(s)",
    );
}

fn build_rpm(d: &Path) -> PathBuf {
    let top = d.join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    std::fs::write(
        top.join("SPECS/hello.spec"),
        "Name: hello\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n%description\nt\n%install\nmkdir -p %{buildroot}/usr/share/hello\necho hi > %{buildroot}/usr/share/hello/hi\n%files\n/usr/share/hello/hi\n",
    )
    .unwrap();
    tool(
        d,
        "rpmbuild",
        &[
            "--define",
            &format!("_topdir {}", top.display()),
            "-bb",
            "rpmbuild/SPECS/hello.spec",
        ],
    );
    top.join("RPMS/noarch/hello-1.0-1.noarch.rpm")
}

#[test]
fn key_files_are_private_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fx::new();
    let mode = std::fs::metadata(fx.env.dir().join("release.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    fails(
        fx.env.run(&["key", "generate", "release"]),
        4,
        "already exists",
    );
    // An encrypted key needs its password to sign.
    let out = fx
        .env
        .cmd(&["key", "generate", "enc"])
        .env("BERTH_KEY_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(out.status.success());
    fails(
        fx.env.run(&[
            "repo",
            "publish",
            "repo",
            "--key",
            "enc.key",
            "--accept-existing",
        ]),
        2,
        "BERTH_KEY_PASSWORD",
    );
    let out = fx
        .env
        .cmd(&[
            "repo",
            "publish",
            "repo",
            "--key",
            "enc.key",
            "--accept-existing",
        ])
        .env("BERTH_KEY_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[path = "repo/attacks.rs"]
mod attacks;
/// Issue 24: releases that cost their changed bytes (HTTP range requests).
#[path = "repo/delta.rs"]
mod delta;
/// Issue 23: pinning names to repositories and what an index may hold.
#[path = "repo/pinning.rs"]
mod pinning;
/// Issue 23: mirrors that lie, key rotation and tombstones.
#[path = "repo/rotation.rs"]
mod rotation;
/// The attack tests.
#[path = "repo/stream.rs"]
mod stream;
/// Issue 23: credentials, redirects and timeouts over HTTP.
#[path = "repo/trust_http.rs"]
mod trust_http;

/// A symlink planted in the cache (the cached file, its sha256 directory, or `cache/`
/// itself, pointing at a directory standing for `/etc`) is never followed by an install of
/// a cached package: the outside target is untouched, and the install either downloads a
/// fresh copy without following the link or refuses naming the link (exit 1).
#[test]
fn symlinks_planted_in_the_cache_are_never_followed() {
    use common::harden::{assert_same, listing};
    for part in ["file", "sha-dir", "cache"] {
        let fx = Fx::new();
        let url = format!("file://{}/", fx.repo().display());
        fx.add(&[&url]);
        fx.ok(&["update"]);
        fx.env.json(&["install", "myapp@1.5.0"]);
        fx.ok(&["remove", "myapp@1.5.0"]);
        let sha = fx.index()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["version"] == "1.5.0")
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string();
        let sha_dir = fx.env.root().join("cache").join(&sha);
        let names: Vec<_> = std::fs::read_dir(&sha_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{part}: one cached file: {names:?}");
        let cached = sha_dir.join(&names[0]);
        // The outside directory holds what the link's place held: the same bytes, so a
        // followed link would pass every size and hash check.
        let etc = fx.env.dir().join(format!("etc-{part}"));
        let (link, target) = match part {
            "file" => (cached.clone(), etc.join(&names[0])),
            "sha-dir" => (sha_dir.clone(), etc.clone()),
            _ => (fx.env.root().join("cache"), etc.clone()),
        };
        let inside = if part == "cache" {
            etc.join(&sha)
        } else {
            etc.clone()
        };
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::copy(&cached, inside.join(&names[0])).unwrap();
        if part == "file" {
            std::fs::remove_file(&link).unwrap();
        } else {
            let aside = fx.env.dir().join(format!("aside-{part}"));
            std::fs::rename(&link, &aside).unwrap();
        }
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let before = listing(&etc);
        let r = fx.env.run(&["--json", "install", "myapp@1.5.0"]);
        assert_same(&before, &listing(&etc), &format!("{part}: after install"));
        if part == "file" {
            // Not followed: the link is replaced by a fresh, verified download.
            let row = r.ok().json();
            assert_eq!(row[0]["downloaded"], true, "{part}");
            assert!(
                std::fs::symlink_metadata(&link).unwrap().is_file(),
                "{part}"
            );
            assert_eq!(fx.installed(), ["myapp@1.5.0"], "{part}");
        } else {
            let r = r.code(1);
            let want = format!(
                "{} is a symlink; berth refuses to follow it",
                link.display()
            );
            assert!(
                r.all().contains(&want),
                "{part}: does not name the link:\n{}",
                r.all()
            );
            assert_eq!(std::fs::read_link(&link).unwrap(), target, "{part}");
            assert!(fx.installed().is_empty(), "{part}: {:?}", fx.installed());
        }
    }
}

/// Serves `dir` over HTTP/1.1 on 127.0.0.1, one connection at a time, for `requests`
/// requests; a file under `packages/` is announced whole (Content-Length) but only its
/// first half is sent before the connection closes, as a dropped connection does.
fn serve_cutting_packages(dir: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            // Skip the request's headers.
            let mut h = String::new();
            while reader.read_line(&mut h).unwrap() > 2 {
                h.clear();
            }
            let path = line
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let Ok(body) = std::fs::read(dir.join(path)) else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let sent = if path.starts_with("packages/") {
                &body[..body.len() / 2]
            } else {
                &body[..]
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(sent);
        }
    });
    (url, handle)
}

#[test]
fn a_download_cut_short_is_refused_naming_the_url_and_the_bytes() {
    let fx = Fx::new();
    // update: index.json and its signature; install: one package file.
    let (url, server) = serve_cutting_packages(fx.repo(), 3);
    fx.add(&[&url]);
    fx.ok(&["update"]);
    let before = fx.snapshot();
    let r = fx.env.run(&["install", "myapp@1.5.0"]);
    fails(r, 1, "the connection ended after");
    server.join().unwrap();
    let after = fx.snapshot();
    // Nothing changed but the cache's directories: no partial download is kept.
    let outside_cache = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(k, _)| k.as_str() != "cache" && !k.starts_with("cache/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        outside_cache(&before),
        outside_cache(&after),
        "the root changed"
    );
    let cached: Vec<&String> = after
        .iter()
        .filter(|(k, v)| k.starts_with("cache/") && v.as_str() != "dir")
        .map(|(k, _)| k)
        .collect();
    assert!(cached.is_empty(), "a partial download was kept: {cached:?}");
    assert!(fx.installed().is_empty());
}

#[test]
fn a_fifo_index_in_a_file_repository_is_refused_at_once_and_never_holds_the_lock() {
    let fx = Fx::new();
    let url = format!("file://{}/", fx.repo().display());
    fx.add(&[&url]);
    let index = fx.repo().join("index.json");
    std::fs::remove_file(&index).unwrap();
    nix::unistd::mkfifo(&index, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let before = fx.snapshot();
    // No writer ever opens the FIFO: before, `update` blocked here forever, lock held.
    let start = std::time::Instant::now();
    let r = fx.env.run(&["update"]);
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "{r}");
    let line = one_error_line(&r);
    assert!(line.contains("index.json") && line.contains("fifo"), "{r}");
    assert!(!r.success());
    assert_eq!(fx.snapshot(), before);
    // The lock is free: another change goes through at once.
    let pkg = fx.env.small_package("other", "1.0");
    fx.ok(&["install", "--lock-timeout", "0", pkg.to_str().unwrap()]);
}

#[test]
fn a_key_or_signature_path_that_is_a_fifo_is_refused_without_blocking() {
    let fx = Fx::new();
    let fifo = fx.env.dir().join("key.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let url = format!("file://{}/", fx.repo().display());
    let r = fx
        .env
        .run(&["repo", "add", "x", &url, "--key", fifo.to_str().unwrap()]);
    assert!(!r.success());
    assert!(one_error_line(&r).contains("fifo"), "{r}");
    let pkg = fx.env.small_package("other", "1.0");
    let r = fx.env.run(&[
        "install",
        pkg.to_str().unwrap(),
        "--signature",
        fifo.to_str().unwrap(),
    ]);
    assert!(!r.success());
    assert!(one_error_line(&r).contains("fifo"), "{r}");
}
