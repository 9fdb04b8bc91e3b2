//! `install NAME` reads the package as it downloads (one pass over the bytes): the server
//! sends half the package and holds the rest back until the store has begun extracting.

use super::Fx;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves `repo`; a package is sent in two halves, the second only once a regular file
/// shows up under `staging` (or after 30 s). `seen` says whether it did.
fn pausing_server(repo: PathBuf, staging: PathBuf, seen: Arc<AtomicBool>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).map(|n| n == 1).unwrap_or(false) {
                head.push(b[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let path = head
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let Ok(body) = std::fs::read(repo.join(path)) else {
                let _ = c.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let half = if path.starts_with("packages/") {
                body.len() / 2
            } else {
                body.len()
            };
            let _ = c.write_all(&body[..half]);
            let _ = c.flush();
            if half < body.len() {
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(30) {
                    if has_file(&staging) {
                        seen.store(true, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = c.write_all(&body[half..]);
            }
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn has_file(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| match e.file_type() {
        Ok(t) if t.is_dir() => has_file(&e.path()),
        Ok(t) => t.is_file(),
        Err(_) => false,
    })
}

#[test]
fn install_by_name_extracts_while_the_download_is_still_arriving() {
    let fx = Fx::new();
    // 48 files of 64 KiB that do not compress: the first half of the file holds whole
    // members (and more than the 64 KiB the format is told from).
    let contents: Vec<(String, Vec<u8>)> = (0..48u64)
        .map(|i| {
            (
                format!("share/data/part{i:02}"),
                crate::common::pkg::noise(i + 1, 64 << 10),
            )
        })
        .collect();
    let files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let src = fx.env.source("big", "3.0.0", &files);
    let pkg = fx.env.pack(&src);
    fx.publish(&[&pkg], &[]);
    let seen = Arc::new(AtomicBool::new(false));
    let url = pausing_server(fx.repo(), fx.env.store().join(".staging"), seen.clone());
    fx.add(&[&url]);
    fx.ok(&["update"]);
    let installed = fx.env.json(&["install", "big@3.0.0"]);
    assert_eq!(installed[0]["downloaded"], true, "{installed}");
    assert!(
        seen.load(Ordering::SeqCst),
        "nothing was extracted before the download's second half was sent"
    );
    fx.ok(&["verify", "big@3.0.0"]);
    // The verified download is kept in the cache, whole.
    let sha = fx.index()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "big")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let cached = fx.env.root().join("cache").join(&sha);
    let copy = std::fs::read_dir(&cached)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(std::fs::read(copy).unwrap(), std::fs::read(&pkg).unwrap());
}
