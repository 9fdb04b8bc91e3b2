//! Issue 24: a release costs its changed bytes. v2 of a package whose v1 is installed is
//! fetched by HTTP range requests (one range each) from a real nginx: only the frames of
//! files the store lacks; a server that ignores ranges gets the full download; a tampered
//! range is refused; an index without `seek` (or a store holding nothing) downloads whole.

use super::{fails, Fx};
use crate::common::nginx::Nginx;
use crate::common::{pkg::noise, Env};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Members of `big`: 60 files of 1–64 KiB that do not compress (sizes vary with i), a
/// directory, a link; those in `changed` get other bytes in v2.
fn big_files(changed: &[usize], v2: bool) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = (0..60usize)
        .map(|i| {
            let size = match i % 4 {
                0 => 1 << 10,
                1 => 3 << 10 | i,
                2 => 9 << 10,
                _ => (20 << 10) + i * 700,
            };
            let seed = if v2 && changed.contains(&i) {
                1000 + i
            } else {
                i
            };
            (format!("share/big/f{i:03}"), noise(seed as u64 + 1, size))
        })
        .collect();
    out.push((
        "share/big/a-name-longer-than-one-hundred-bytes-so-that-tar-needs-a-gnu-long-name-entry-before-its-header.txt"
            .into(),
        b"long\n".to_vec(),
    ));
    out
}

/// The changed members: one shares a frame with others, two have frames of their own.
const CHANGED: [usize; 3] = [6, 7, 11];

/// Publishes big 1.0.0 and 2.0.0 (CHANGED differ) and returns their files in the repo.
fn publish_big(fx: &Fx) -> (PathBuf, PathBuf) {
    let mut pkgs = Vec::new();
    for (v, v2) in [("1.0.0", false), ("2.0.0", true)] {
        let files = big_files(&CHANGED, v2);
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let src = fx.env.source("big", v, &refs);
        pkgs.push(fx.env.pack(&src));
    }
    fx.publish(&[&pkgs[0], &pkgs[1]], &[]);
    (
        fx.package_file("big", "1.0.0"),
        fx.package_file("big", "2.0.0"),
    )
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The `transfer` of an `install --json` row.
fn transfer(row: &Value) -> (String, u64, u64) {
    let t = &row[0]["transfer"];
    (
        t["mode"].as_str().unwrap_or_default().to_string(),
        t["bytes"].as_u64().unwrap_or(0),
        t["requests"].as_u64().unwrap_or(0),
    )
}

/// Every file of an installed entry with its content hash (to compare two installs).
fn entry_files(env: &Env, name: &str, version: &str) -> Vec<(String, String)> {
    let (_, _, id) = env
        .listed()
        .into_iter()
        .find(|(n, v, _)| n == name && v == version)
        .unwrap();
    let dir = env.entry_dir(name, version, &id);
    crate::common::walk(&dir)
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, _)| {
            // The origin says when it was installed; the rest of it must be the same.
            let h = match p.as_str() {
                ".berth/origin.toml" => std::fs::read_to_string(dir.join(&p))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with("installed_at"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                // The seal hashes the manifest and the origin, install time included, so
                // two installs seconds apart have different seals; `verify` checks each.
                ".berth/seal" => "the seal of this entry's manifest and origin".to_string(),
                _ => crate::common::sha256_file(&dir.join(&p)),
            };
            (p, h)
        })
        .collect()
}

#[test]
fn v2_comes_by_range_requests_and_equals_a_full_install() {
    let fx = Fx::new();
    let (v1, v2) = publish_big(&fx);
    let nginx = Nginx::serve(&fx.repo());
    fx.add(&[&nginx.url()]);
    fx.ok(&["update"]);
    let row = fx.env.json(&["install", "big@1.0.0"]);
    assert_eq!(transfer(&row).0, "full", "{row}");
    let size = std::fs::metadata(&v2).unwrap().len();
    let row = fx.env.json(&["install", "big@2.0.0"]);
    let (mode, bytes, requests) = transfer(&row);
    assert_eq!(mode, "ranges", "{row}");
    // Every request for v2 asked one range and got a 206; the bytes are what berth counted
    // and a small part of the file.
    let hits = nginx.ranges(&file_name(&v2));
    assert!(!hits.is_empty());
    for (status, _, range) in &hits {
        assert_eq!(*status, 206, "{hits:?}");
        let range = range.as_deref().expect("a Range header");
        assert!(!range.contains(','), "one range per request: {range}");
    }
    assert_eq!(hits.len() as u64, requests, "{hits:?}");
    assert_eq!(hits.iter().map(|h| h.1).sum::<u64>(), bytes, "{hits:?}");
    assert!(
        bytes * 3 < size,
        "{bytes} of {size} bytes fetched for 3 changed members of 61"
    );
    eprintln!(
        "v1 {} bytes; v2 {size} bytes, fetched {bytes} by {requests} ranges",
        std::fs::metadata(&v1).unwrap().len()
    );
    fx.ok(&["verify", "big@2.0.0"]);
    // Nothing of the rebuild stays in the cache.
    let cached = crate::common::walk(&fx.env.root().join("cache"));
    assert!(
        !cached
            .iter()
            .any(|(p, m)| m.is_file() && p.contains("big-2.0.0")),
        "{:?}",
        cached.keys()
    );
    // A full install of v2 in a fresh root gives the same entry, file for file.
    let fresh = Env::new();
    let key = fx.pubkey();
    fresh
        .run(&[
            "repo",
            "add",
            "origin",
            &nginx.url(),
            "--key",
            &key,
            "--channel",
            "stable",
        ])
        .ok();
    fresh.run(&["update"]).ok();
    let full = fresh.json(&["install", "big@2.0.0"]);
    assert_eq!(transfer(&full).0, "full", "{full}");
    let ids = |e: &Env| {
        e.listed()
            .into_iter()
            .filter(|(n, _, _)| n == "big")
            .find(|(_, v, _)| v == "2.0.0")
            .unwrap()
            .2
    };
    assert_eq!(ids(&fresh), ids(&fx.env));
    for e in [&fresh, &fx.env] {
        let r = e.run(&["verify", "big@2.0.0"]);
        assert!(r.success(), "{r}");
    }
    assert_eq!(
        entry_files(&fresh, "big", "2.0.0"),
        entry_files(&fx.env, "big", "2.0.0")
    );
}

#[test]
fn a_server_that_ignores_ranges_gets_the_full_download() {
    let fx = Fx::new();
    let (_, v2) = publish_big(&fx);
    let nginx = Nginx::serve_with(&fx.repo(), "max_ranges 0;");
    fx.add(&[&nginx.url()]);
    fx.ok(&["update"]);
    fx.env.json(&["install", "big@1.0.0"]);
    let row = fx.env.json(&["install", "big@2.0.0"]);
    let (mode, bytes, _) = transfer(&row);
    assert_eq!(mode, "full", "{row}");
    let size = std::fs::metadata(&v2).unwrap().len();
    assert!(bytes >= size, "{row}");
    // The Range probe was answered 200 (whole file); the full download verified.
    let hits = nginx.ranges(&file_name(&v2));
    assert!(hits.iter().all(|h| h.0 == 200), "{hits:?}");
    assert!(hits.iter().any(|h| h.2.is_some()), "{hits:?}");
    fx.ok(&["verify", "big@2.0.0"]);
}

/// The seek table of a seekable `.berth`: (offset, compressed, decompressed) per frame.
fn frames(file: &[u8]) -> Vec<(usize, usize, usize)> {
    let le = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    let n = le(file.len() - 9);
    let first = file.len() - 9 - n * 8;
    let mut at = 0;
    (0..n)
        .map(|i| {
            let (c, d) = (le(first + i * 8), le(first + i * 8 + 4));
            at += c;
            (at - c, c, d)
        })
        .collect()
}

#[test]
fn a_tampered_range_is_refused_and_nothing_changes() {
    let fx = Fx::new();
    let (v1, v2) = publish_big(&fx);
    // Another server's copy of the repository, where one changed member's frame (f007, a
    // frame of its own: 512 + its data rounded to 512) has other bytes, same size: first
    // one byte altered (the frame no longer decodes), then v1's frame of that member (it
    // decodes, to content other than the signed listing's).
    let evil = fx.env.dir().join("evil");
    let rel = v2.strip_prefix(fx.repo()).unwrap();
    copy_dir(&fx.repo(), &evil);
    let size7: usize = (20 << 10) + 7 * 700;
    let want = 512 + size7.div_ceil(512) * 512;
    let frame_of = |b: &[u8]| {
        *frames(b)
            .iter()
            .find(|f| f.2 == want)
            .expect("f007's frame")
    };
    let good = std::fs::read(&v2).unwrap();
    let old = std::fs::read(&v1).unwrap();
    let (at, len, _) = frame_of(&good);
    let (old_at, old_len, _) = frame_of(&old);
    assert_eq!(len, old_len, "incompressible data: frames of equal length");
    let mut flipped = good.clone();
    flipped[at + len / 2] ^= 0x55;
    let mut spliced = good.clone();
    spliced[at..at + len].copy_from_slice(&old[old_at..old_at + len]);
    let nginx = Nginx::serve(&evil);
    fx.add(&[&nginx.url()]);
    fx.ok(&["update"]);
    fx.env.json(&["install", "big@1.0.0"]);
    let sha = fx.index()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["version"] == "2.0.0")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{}{}", nginx.url(), rel.display());
    for (bytes, what) in [
        (&flipped, "does not decode"),
        (&spliced, "the signed listing says"),
    ] {
        std::fs::write(evil.join(rel), bytes).unwrap();
        let before = fx.snapshot();
        let seen = nginx.ranges(&file_name(&v2)).len();
        let r = fx.env.run(&["install", "big@2.0.0"]);
        fails(r.clone(), 5, &url);
        assert!(
            r.stderr.contains(": bytes ") && r.stderr.contains(what),
            "{r}"
        );
        assert_eq!(fx.snapshot(), before, "the root changed: {what}");
        // No full download was tried after the refusal: ranges only.
        let hits = nginx.ranges(&file_name(&v2));
        assert!(hits[seen..].iter().all(|h| h.0 == 206), "{hits:?}");
        // The whole file from that server would fail its signed sha256 too.
        assert_ne!(crate::common::sha256_file(&evil.join(rel)), sha);
    }
    // Once the server has the published bytes again, the next run installs by ranges.
    std::fs::write(evil.join(rel), &good).unwrap();
    let r = fx.env.run(&["install", "big@2.0.0"]).ok();
    assert!(
        r.stderr.contains("fetched ") && r.stderr.contains("range requests"),
        "{r}"
    );
    fx.ok(&["verify", "big@2.0.0"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn a_malformed_seek_field_makes_the_index_refused_and_a_wrong_one_the_install() {
    let fx = Fx::new();
    publish_big(&fx);
    let nginx = Nginx::serve(&fx.repo());
    fx.add(&[&nginx.url()]);
    let signed = fx.index();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut idx = signed.clone();
        let p = idx["packages"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|p| p["version"] == "2.0.0")
            .unwrap();
        assert!(p["seek"]["head"].as_u64().unwrap() > 0, "{p}");
        f(&mut p["seek"]);
        fx.write_signed(&idx);
    };
    with(&|s| s["head"] = 0.into());
    fails(
        fx.env.run(&["update"]),
        6,
        "seek: head or table has an impossible length",
    );
    // Well formed but not the file's (only the key's holder can sign that): `repo verify`
    // says so, and the install refuses frame 0 rather than trust it.
    with(&|s| s["head_sha256"] = "0".repeat(64).into());
    fails(
        fx.env
            .run(&["repo", "verify", "repo", "--key", "release.pub"]),
        5,
        "1 problem(s)",
    );
    fx.ok(&["update"]);
    fx.env.json(&["install", "big@1.0.0"]);
    let before = fx.snapshot();
    let r = fx.env.run(&["install", "big@2.0.0"]);
    fails(r, 5, "frame 0's sha256 is");
    assert_eq!(fx.snapshot(), before, "the root changed");
}

#[test]
fn without_seek_in_the_index_or_anything_pooled_the_file_comes_whole() {
    let fx = Fx::new();
    let (_, v2) = publish_big(&fx);
    let nginx = Nginx::serve(&fx.repo());
    fx.add(&[&nginx.url()]);
    fx.ok(&["update"]);
    // Nothing in the store: no range is asked.
    let row = fx.env.json(&["install", "big@2.0.0"]);
    assert_eq!(transfer(&row), ("full".into(), row_size(&v2), 1), "{row}");
    assert!(nginx.ranges(&file_name(&v2)).iter().all(|h| h.2.is_none()));
    fx.ok(&["remove", "big@2.0.0"]);
    std::fs::remove_dir_all(fx.env.root().join("cache")).unwrap();
    // An older index (no `seek`), re-signed: the whole file, as before.
    let mut idx = fx.index();
    for p in idx["packages"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("seek");
    }
    idx["serial"] = (idx["serial"].as_u64().unwrap() + 1).into();
    fx.write_signed(&idx);
    fx.ok(&["update"]);
    fx.env.json(&["install", "big@1.0.0"]);
    let row = fx.env.json(&["install", "big@2.0.0"]);
    assert_eq!(transfer(&row), ("full".into(), row_size(&v2), 1), "{row}");
    assert!(nginx.ranges(&file_name(&v2)).iter().all(|h| h.2.is_none()));
    fx.ok(&["verify", "big@2.0.0"]);
}

/// `repo publish --no-ranges` (for clients older than range installs, which refuse an
/// index with `seek`) takes `seek` off every entry, those already published included.
#[test]
fn publish_no_ranges_takes_seek_off_every_entry() {
    let fx = Fx::new();
    publish_big(&fx);
    let has_seek = |fx: &Fx| {
        fx.index()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("seek").is_some())
            .count()
    };
    assert!(has_seek(&fx) >= 2, "{}", fx.index());
    fx.publish(&[], &["--no-ranges"]);
    assert_eq!(has_seek(&fx), 0, "{}", fx.index());
    let src = fx
        .env
        .source("small", "1.0.0", &[("bin/small", b"x".as_slice())]);
    let small = fx.env.pack(&src);
    fx.publish(&[&small], &["--no-ranges"]);
    assert_eq!(has_seek(&fx), 0, "{}", fx.index());
    // Without the flag, new entries get it again (old ones stay as they are).
    let src = fx
        .env
        .source("small", "2.0.0", &[("bin/small", b"y".as_slice())]);
    let small2 = fx.env.pack(&src);
    fx.publish(&[&small2], &[]);
    assert_eq!(has_seek(&fx), 1, "{}", fx.index());
}

fn row_size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Serves `dir` over HTTP/1.1 with single-range support, one request per connection; the
/// `cut`-th range request (counting from 0) gets its 206 header and half its bytes, then
/// the connection closes, as a dropped link does.
fn serve_ranges_cutting(dir: PathBuf, cut: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut ranges = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut range = None;
            let mut h = String::new();
            while reader.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    let (a, b) = v.trim().split_once('-').unwrap();
                    range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
                }
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
            let (status, part, extra) = match range {
                Some((a, b)) => (
                    "206 Partial Content",
                    &body[a..=b],
                    format!("Content-Range: bytes {a}-{b}/{}\r\n", body.len()),
                ),
                None => ("200 OK", &body[..], String::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                part.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let sent = if range.is_some() {
                ranges += 1;
                if ranges - 1 == cut {
                    &part[..part.len() / 2]
                } else {
                    part
                }
            } else {
                part
            };
            let _ = stream.write_all(sent);
        }
    });
    url
}

#[test]
fn a_connection_cut_during_the_ranges_fails_cleanly_and_the_next_run_works() {
    let fx = Fx::new();
    publish_big(&fx);
    // Range requests 0 and 1 are the seek table and frame 0; 2 is the first of the frames.
    let url = serve_ranges_cutting(fx.repo(), 2);
    fx.add(&[&url]);
    fx.ok(&["update"]);
    fx.env.json(&["install", "big@1.0.0"]);
    let before = fx.snapshot();
    let r = fx.env.run(&["install", "big@2.0.0"]);
    fails(r, 1, "the connection ended after");
    assert_eq!(fx.snapshot(), before, "the root changed");
    let row = fx.env.json(&["install", "big@2.0.0"]);
    assert_eq!(transfer(&row).0, "ranges", "{row}");
    fx.ok(&["verify", "big@2.0.0"]);
}
