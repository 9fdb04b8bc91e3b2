//! Attacks on a repository client. Each starts from a client that trusts serial 1 and has
//! installed a package from it; the server then serves something hostile, and the client
//! must refuse it with one clear error and leave its root byte for byte as it was (the
//! previous index stays in force, nothing reaches the store or the cache).

use super::{fails, flip, Fx};
use crate::common::nginx::Nginx;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// A client at serial 1 (myapp@1.0.0 installed) and the publisher's serial 2 (adds
/// myapp@2.0.0) not yet fetched; the serial-1 index and signature are kept in `old/`.
fn setup() -> (Fx, Nginx) {
    let fx = Fx::new();
    let nginx = Nginx::serve(&fx.repo());
    fx.add(&[&nginx.url()]);
    fx.ok(&["update"]);
    fx.ok(&["install", "myapp@1.0.0"]);
    let old = fx.env.dir().join("old");
    std::fs::create_dir_all(&old).unwrap();
    for f in ["index.json", "index.json.minisig"] {
        std::fs::copy(fx.repo().join(f), old.join(f)).unwrap();
    }
    let next = fx.env.small_package("myapp", "2.0.0");
    fx.publish(&[&next], &[]);
    (fx, nginx)
}

/// Runs `update` against the tampered server and checks the refusal and the unchanged root.
#[track_caller]
fn refused(fx: &Fx, code: i32, needle: &str) {
    let before = fx.snapshot();
    fails(fx.env.run(&["update"]), code, needle);
    assert_eq!(fx.snapshot(), before, "the root changed");
    let list = fx.env.json(&["repo", "list"]);
    assert_eq!(list[0]["serial"], 1, "the previous index stays in force");
}

#[test]
fn flipped_byte_in_the_index() {
    let (fx, _n) = setup();
    flip(&fx.repo().join("index.json"), 40);
    refused(&fx, 5, "bad signature");
}

#[test]
fn flipped_byte_in_each_line_of_the_signature() {
    let (fx, _n) = setup();
    let good = std::fs::read(fx.sig_path()).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let mut starts = vec![0];
    starts.extend(
        text.match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|i| *i < text.len()),
    );
    assert_eq!(starts.len(), 4);
    let lines: Vec<&str> = text.lines().collect();
    for (n, start) in starts.iter().enumerate() {
        // The first byte of every line, and the middle of the three signed lines (the
        // untrusted comment's text is, by minisign's design, not covered by the signature).
        let mut offsets = vec![*start];
        if n > 0 {
            offsets.push(start + lines[n].len() / 2);
        }
        for off in offsets {
            std::fs::write(fx.sig_path(), &good).unwrap();
            flip(&fx.sig_path(), off);
            let before = fx.snapshot();
            let r = fx.env.run(&["update"]);
            assert_eq!(r.code, 5, "line {} byte {off}: {r}", n + 1);
            assert!(
                r.stderr.contains("signature") || r.stderr.contains("not pinned"),
                "{r}"
            );
            assert_eq!(fx.snapshot(), before, "line {} byte {off}", n + 1);
        }
    }
    std::fs::write(fx.sig_path(), &good).unwrap();
    fx.ok(&["update"]);
}

#[test]
fn signature_by_an_unpinned_key() {
    let (fx, _n) = setup();
    fx.ok(&["key", "generate", "intruder"]);
    let idx = fx.repo().join("index.json");
    fx.ok(&[
        "key",
        "sign",
        idx.to_str().unwrap(),
        "--key",
        "intruder.key",
    ]);
    refused(&fx, 5, "which is not pinned");
}

#[test]
fn older_serial_is_a_rollback() {
    let (fx, _n) = setup();
    fx.ok(&["update"]);
    fx.ok(&["install", "myapp@2.0.0"]);
    // The server goes back to serial 1, correctly signed.
    for f in ["index.json", "index.json.minisig"] {
        std::fs::copy(fx.env.dir().join("old").join(f), fx.repo().join(f)).unwrap();
    }
    let before = fx.snapshot();
    fails(
        fx.env.run(&["update"]),
        5,
        "index serial 1 is older than serial 2",
    );
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn same_serial_with_other_bytes_is_a_replay() {
    let (fx, _n) = setup();
    let mut idx = fx.index();
    idx["serial"] = 1.into();
    refused_after(&fx, &idx, "serial 1 was seen before with different content");
}

#[test]
fn expired_index_is_a_freeze() {
    let (fx, _n) = setup();
    let mut idx = fx.index();
    idx["generated"] = "2020-01-01T00:00:00Z".into();
    idx["expires"] = "2020-01-31T00:00:00Z".into();
    refused_after(&fx, &idx, "index expired at 2020-01-31T00:00:00Z");
}

#[test]
fn expiry_too_far_ahead() {
    let (fx, _n) = setup();
    fx.publish(&[], &["--valid-for", "365d"]);
    refused(&fx, 5, "more than 90 days from now");
}

#[test]
fn wrong_channel() {
    let (fx, _n) = setup();
    let mut idx = fx.index();
    idx["channel"] = "testing".into();
    refused_after(&fx, &idx, "index is for channel `testing`");
}

#[test]
fn oversized_signature() {
    let (fx, _n) = setup();
    let mut sig = std::fs::read(fx.sig_path()).unwrap();
    sig.extend(std::iter::repeat_n(b'A', 10_000));
    std::fs::write(fx.sig_path(), sig).unwrap();
    refused(&fx, 5, "the signature is larger than 8192 bytes");
}

fn refused_after(fx: &Fx, idx: &serde_json::Value, needle: &str) {
    fx.write_signed(idx);
    refused(fx, 5, needle);
}

/// `install myapp@2.0.0` after a good update, against a tampered package file.
#[track_caller]
fn install_refused(fx: &Fx, code: i32, needle: &str) {
    let before = fx.snapshot();
    fails(fx.env.run(&["install", "myapp@2.0.0"]), code, needle);
    assert_eq!(fx.snapshot(), before, "the root changed");
    assert_eq!(fx.installed(), ["myapp@1.0.0"]);
}

#[test]
fn package_bytes_differ_from_the_index() {
    let (fx, _n) = setup();
    fx.ok(&["update"]);
    flip(&fx.package_file("myapp", "2.0.0"), 200);
    install_refused(&fx, 5, "the signed index says");
}

#[test]
fn package_longer_than_the_index_says() {
    let (fx, _n) = setup();
    fx.ok(&["update"]);
    let f = fx.package_file("myapp", "2.0.0");
    let mut b = std::fs::read(&f).unwrap();
    b.extend_from_slice(b"trailing bytes");
    std::fs::write(&f, b).unwrap();
    install_refused(&fx, 5, "bytes, the signed index says");
}

/// How the hostile server answers requests for package files.
#[derive(Clone, Copy)]
enum Mode {
    /// Index and signature from the repository; packages: a body that never ends.
    EndlessPackage,
    /// Everything from the repository, but a package's body stops halfway and the
    /// connection is closed.
    DropPackage,
    /// The index itself never ends.
    EndlessIndex,
}

/// A small HTTP server (std only) in front of the repository directory; returns its URL.
fn hostile_server(repo: PathBuf, mode: Mode) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let repo = repo.clone();
            std::thread::spawn(move || serve(conn, &repo, mode));
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn serve(mut c: std::net::TcpStream, repo: &Path, mode: Mode) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).map(|n| n == 1).unwrap_or(false) {
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .split(' ')
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/');
    let is_index = path == "index.json";
    let endless = match mode {
        Mode::EndlessPackage => path.starts_with("packages/"),
        Mode::EndlessIndex => is_index,
        Mode::DropPackage => false,
    };
    if endless {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'x'; 64 << 10];
        // Slow and never finished: stops only when the client hangs up.
        while c.write_all(&chunk).is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        return;
    }
    let Ok(body) = std::fs::read(repo.join(path)) else {
        let _ = c
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let _ = write!(
        c,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let cut = matches!(mode, Mode::DropPackage) && path.starts_with("packages/");
    let _ = c.write_all(if cut { &body[..body.len() / 2] } else { &body });
    let _ = c.shutdown(std::net::Shutdown::Both);
}

/// Points the client's repository at `url` instead of nginx.
fn repoint(fx: &Fx, url: &str) {
    let p = fx.env.root().join("repos.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find("urls = [").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    std::fs::write(
        &p,
        format!("{}urls = [\"{url}\"]{}", &text[..start], &text[end..]),
    )
    .unwrap();
}

#[test]
fn endless_package_response_is_cut_at_the_indexed_size() {
    let (fx, _n) = setup();
    fx.ok(&["update"]);
    repoint(&fx, &hostile_server(fx.repo(), Mode::EndlessPackage));
    install_refused(&fx, 5, "is larger than");
}

#[test]
fn endless_index_response_is_cut_at_the_cap() {
    let (fx, _n) = setup();
    repoint(&fx, &hostile_server(fx.repo(), Mode::EndlessIndex));
    refused(&fx, 5, "the index is larger than 16777216 bytes");
}

#[test]
fn connection_dropped_mid_download() {
    let (fx, _n) = setup();
    fx.ok(&["update"]);
    repoint(&fx, &hostile_server(fx.repo(), Mode::DropPackage));
    install_refused(&fx, 1, "the connection ended after");
    // Nothing partial was kept: a good mirror then serves it whole.
    repoint(&fx, &_n.url());
    let row = fx.env.json(&["install", "myapp@2.0.0"]);
    assert_eq!(row[0]["downloaded"], true);
}
