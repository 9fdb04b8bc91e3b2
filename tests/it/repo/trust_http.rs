//! Issue 23, findings 9 and 11 over HTTP: credentials in a repository URL are sent but never
//! shown nor stored outside a 0600 file; redirects and slow bodies fail with messages that
//! say what happened. A small std-only server plays the hostile or demanding host.

use super::{fails, Fx};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

/// What the server answers to one request.
enum Reply {
    /// The file of the repository directory at the request's path (404 when missing).
    File,
    /// 401 (credentials missing or wrong).
    Unauthorized,
    /// A redirect to this location.
    Redirect(String),
    /// The file's bytes, one small piece at a time, slower than any limit in the test.
    Trickle,
}

/// Serves `repo` on 127.0.0.1, answering each request as `decide(path, headers)` says.
fn server(repo: PathBuf, decide: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let decide = Arc::new(decide);
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let (repo, decide) = (repo.clone(), decide.clone());
            std::thread::spawn(move || answer(conn, &repo, &*decide));
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn answer(mut c: TcpStream, repo: &std::path::Path, decide: &dyn Fn(&str, &str) -> Reply) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).map(|n| n == 1).unwrap_or(false) {
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let empty = |c: &mut TcpStream, status: &str, extra: &str| {
        let _ = write!(
            c,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    match decide(&path, &head) {
        Reply::Unauthorized => empty(
            &mut c,
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"r\"\r\n",
        ),
        Reply::Redirect(to) => empty(&mut c, "302 Found", &format!("Location: {to}\r\n")),
        r @ (Reply::File | Reply::Trickle) => {
            let Ok(body) = std::fs::read(repo.join(path.trim_start_matches('/'))) else {
                return empty(&mut c, "404 Not Found", "");
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if matches!(r, Reply::Trickle) {
                for piece in body.chunks(16) {
                    if c.write_all(piece).is_err() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            } else {
                let _ = c.write_all(&body);
            }
        }
    }
}

const PASSWORD: &str = "s3cret-Pw";

#[test]
fn credentials_in_a_repository_url_are_sent_but_never_shown_and_kept_in_a_0600_file() {
    let fx = Fx::new();
    // `bob:s3cret-Pw`, as HTTP Basic authentication sends it.
    let expected = "Authorization: Basic Ym9iOnMzY3JldC1Qdw==";
    let url = server(fx.repo(), move |_, head| {
        if head.lines().any(|l| l.eq_ignore_ascii_case(expected)) {
            Reply::File
        } else {
            Reply::Unauthorized
        }
    });
    let with = url.replacen("http://", &format!("http://bob:{PASSWORD}@"), 1);
    let key = fx.pubkey();
    let mut runs = vec![];
    let added = fx
        .env
        .run(&["repo", "add", "origin", &with, "--key", &key])
        .ok();
    assert!(added.stdout.contains("http://***@127.0.0.1:"), "{added}");
    runs.push(added);
    let list = fx.env.run(&["repo", "list"]).ok();
    assert!(list.stdout.contains("http://***@127.0.0.1:"), "{list}");
    runs.push(list);
    let json = fx.env.run(&["--json", "repo", "list"]).ok();
    assert!(json.json()[0]["urls"][0]
        .as_str()
        .unwrap()
        .starts_with("http://***@"));
    runs.push(json);
    // The server refuses requests without the credentials: these prove they were sent.
    runs.push(fx.env.run(&["update"]).ok());
    runs.push(fx.env.run(&["--json", "update"]).ok());
    runs.push(fx.env.run(&["install", "myapp@1.5.0"]).ok());
    runs.push(fx.env.run(&["--json", "install", "myapp@1.0.0"]).ok());
    // An error that names the URL.
    std::fs::remove_file(fx.package_file("myapp", "1.5.0")).unwrap();
    fx.ok(&["remove", "myapp@1.5.0"]);
    std::fs::remove_dir_all(fx.env.root().join("cache")).unwrap();
    let failed = fx.env.run(&["install", "myapp@1.5.0"]);
    assert!(failed.stderr.contains("127.0.0.1"), "{failed}");
    runs.push(failed.code(3));
    runs.push(
        fx.env
            .run(&["repo", "add", "x", &format!("{with}?q"), "--key", &key])
            .code(2),
    );
    for r in &runs {
        assert!(
            !r.all().contains(PASSWORD),
            "the password was printed:\n{r}"
        );
    }
    // Only repos/credentials.toml holds it, readable by its owner only.
    for (rel, m) in crate::common::walk(fx.env.root()) {
        let full = fx.env.root().join(&rel);
        if m.is_file()
            && std::fs::read(&full)
                .unwrap()
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes())
        {
            assert_eq!(rel, "repos/credentials.toml", "{rel} holds the password");
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(m.permissions().mode() & 0o777, 0o600);
        }
    }
    assert!(fx.env.root().join("repos/credentials.toml").exists());
    fx.ok(&["repo", "remove", "origin"]);
    assert!(!fx.env.root().join("repos/credentials.toml").exists());
}

#[test]
fn redirects_to_file_urls_and_long_chains_say_what_was_refused() {
    let fx = Fx::new();
    let target = format!("file://{}/index.json", fx.repo().display());
    let to_file = server(fx.repo(), move |_, _| Reply::Redirect(target.clone()));
    let key = fx.pubkey();
    fx.ok(&["repo", "add", "tofile", &to_file, "--key", &key]);
    let r = fx.env.run(&["update", "tofile"]);
    assert!(r.stderr.contains("a scheme change"), "{r}");
    fails(r, 1, "refused");
    // 51 hops, each to the next.
    let chain = server(fx.repo(), |path, _| {
        let n: u32 = path
            .trim_start_matches("/hop")
            .split('/')
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        Reply::Redirect(format!("/hop{}/index.json", n + 1))
    });
    fx.ok(&["repo", "add", "chain", &chain, "--key", &key]);
    fails(fx.env.run(&["update", "chain"]), 1, "too many redirects");
    // A redirect within http is followed.
    let moved = server(fx.repo(), |path, _| match path.strip_prefix("/old/") {
        Some(rest) => Reply::Redirect(format!("/{rest}")),
        None => Reply::File,
    });
    fx.ok(&[
        "repo",
        "add",
        "moved",
        &format!("{moved}old/"),
        "--key",
        &key,
    ]);
    fx.ok(&["update", "moved"]);
}

#[test]
fn a_body_slower_than_the_limit_says_the_download_timed_out_naming_url_and_limit() {
    let fx = Fx::new();
    let url = server(fx.repo(), |path, _| {
        if path.starts_with("/packages/") {
            Reply::Trickle
        } else {
            Reply::File
        }
    });
    fx.add(&[&url]);
    fx.ok(&["update"]);
    let before = fx.snapshot();
    let r = crate::common::Run::of(
        fx.env
            .cmd(&["install", "myapp@1.5.0"])
            .env("BERTH_DOWNLOAD_TIMEOUT", "2"),
    );
    assert!(r.stderr.contains(&format!("{url}packages/")), "{r}");
    fails(r, 1, "the download timed out: not complete after 2s");
    assert!(fx.installed().is_empty());
    let mut after = fx.snapshot();
    // An empty cache/ may be left; no download is.
    if !before.contains_key("cache") {
        assert_eq!(after.remove("cache").as_deref(), Some("dir"));
    }
    assert_eq!(after, before, "nothing kept");
}
