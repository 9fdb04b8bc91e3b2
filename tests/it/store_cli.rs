//! Every command and flag of the store (issue 2), driven through the real binary on
//! temporary roots: pack, install (.berth and tarballs), list, info, verify, remove, the
//! lock, and the on-disk promises (read-only entries, normalised mtimes).

use crate::common::*;
use std::io::{BufRead, BufReader, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// pack

#[test]
fn pack_twice_gives_byte_identical_files() {
    let env = Env::new();
    let src = env.source("repro", "1.0", &sample_files("1.0"));
    let a = env.dir().join("a.berth");
    let b = env.dir().join("b.berth");
    env.run(&["pack", src.to_str().unwrap(), "-o", a.to_str().unwrap()])
        .ok();
    // A different mtime and a symlink must not change the bytes.
    std::os::unix::fs::symlink("README", src.join("share/doc/LINK")).unwrap();
    let pa = env.dir().join("with-link-a.berth");
    env.run(&["pack", src.to_str().unwrap(), "-o", pa.to_str().unwrap()])
        .ok();
    let f = std::fs::File::options()
        .write(true)
        .open(src.join("share/doc/README"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(86400))
        .unwrap();
    drop(f);
    std::thread::sleep(Duration::from_millis(20));
    let pb = env.dir().join("with-link-b.berth");
    env.run(&["pack", src.to_str().unwrap(), "-o", pb.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    std::fs::remove_file(src.join("share/doc/LINK")).unwrap();
    env.run(&["pack", src.to_str().unwrap(), "-o", b.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// Content that does not compress is stored in raw zstd blocks of up to 128 KiB: the
/// format must still be told (it once fell back to "tarball" and refused `.berth/`).
#[test]
fn a_package_whose_content_does_not_compress_installs_as_a_berth_package() {
    let env = Env::new();
    let big = pkg::noise(7, 300 << 10);
    let src = env.source("noisy", "1.0", &[("share/noise", big.as_slice())]);
    let path = env.pack(&src);
    // Renamed, so only the content can tell the format.
    let renamed = env.dir().join("noisy.tar.zst");
    std::fs::rename(&path, &renamed).unwrap();
    let out = env.install(&renamed, &[]);
    assert_eq!(out["name"], "noisy", "{out}");
    assert_eq!(out["version"], "1.0", "{out}");
    env.ok(&["verify", "noisy@1.0"]);
}

#[test]
fn pack_reports_sha256_that_install_accepts() {
    let env = Env::new();
    let src = env.source("hashy", "1.0", &sample_files("1.0"));
    let out = env.json(&[
        "pack",
        src.to_str().unwrap(),
        "-o",
        env.dir().to_str().unwrap(),
    ]);
    let path = PathBuf::from(out["path"].as_str().unwrap());
    assert_eq!(path, env.dir().join("hashy-1.0.berth"));
    assert_eq!(out["name"], "hashy");
    assert_eq!(out["version"], "1.0");
    assert_eq!(out["sha256"].as_str().unwrap(), sha256_file(&path));
    env.install(&path, &["--sha256", out["sha256"].as_str().unwrap()]);
}

#[test]
fn pack_without_output_writes_name_version_berth_in_current_directory() {
    let env = Env::new();
    let src = env.source("here", "2.0", &sample_files("2.0"));
    let r = env.run(&["pack", src.to_str().unwrap()]).ok();
    assert!(env.dir().join("here-2.0.berth").is_file(), "{r}");
    assert!(r.stdout.contains("here@2.0"), "{r}");
}

#[test]
fn pack_output_option_takes_a_file_or_a_directory() {
    let env = Env::new();
    let src = env.source("outs", "1.0", &sample_files("1.0"));
    let file = env.dir().join("custom-name.berth");
    env.run(&["pack", src.to_str().unwrap(), "-o", file.to_str().unwrap()])
        .ok();
    assert!(file.is_file());
    let dist = env.dir().join("dist");
    std::fs::create_dir(&dist).unwrap();
    env.run(&[
        "pack",
        src.to_str().unwrap(),
        "--output",
        dist.to_str().unwrap(),
    ])
    .ok();
    assert!(dist.join("outs-1.0.berth").is_file());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(dist.join("outs-1.0.berth")).unwrap()
    );
}

/// `-o DIR/` or `-o DIR/NAME` names DIR as a directory: when it is missing, one line names
/// it with a `mkdir -p` hint, exit 3 (not found), before any work and with nothing written.
#[test]
fn pack_output_into_missing_directory_is_not_found_with_a_mkdir_hint() {
    let env = Env::new();
    let src = env.source("nodir", "1.0", &sample_files("1.0"));
    let before = snapshot(env.dir(), None);
    for (out, missing) in [
        ("dist/", "dist"),
        ("dist/x.berth", "dist"),
        ("dist/deeper/", "dist/deeper"),
        ("dist/deeper/x.berth", "dist/deeper"),
    ] {
        let out = env.dir().join(out);
        let missing = env.dir().join(missing);
        let r = env
            .run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .code(3);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{r}");
        assert_eq!(
            lines[0],
            format!(
                "error: output directory {} does not exist",
                missing.display()
            ),
            "{r}"
        );
        assert!(
            lines[1].starts_with("hint: ")
                && lines[1].contains(&format!("mkdir -p {}", missing.display())),
            "{r}"
        );
        assert!(!r.stderr.contains("os error"), "{r}");
        assert_eq!(
            snapshot(env.dir(), None),
            before,
            "pack wrote something: {r}"
        );
    }
}

/// An existing regular file is an output file (replaced by the package), but never a
/// directory to write into: `-o FILE/` and `-o FILE/NAME` are a usage error naming it.
#[test]
fn pack_output_at_a_regular_file_replaces_it_but_cannot_be_a_directory() {
    let env = Env::new();
    let src = env.source("atfile", "1.0", &sample_files("1.0"));
    let file = env.dir().join("existing");
    std::fs::write(&file, b"not a package").unwrap();
    for out in ["existing/", "existing/x.berth", "existing/sub/x.berth"] {
        let out = env.dir().join(out);
        let r = env
            .run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .code(2);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{r}");
        assert_eq!(
            lines[0],
            format!(
                "error: {} is not a directory, so nothing can be written into it",
                file.display()
            ),
            "{r}"
        );
        assert!(lines[1].starts_with("hint: "), "{r}");
        assert_eq!(std::fs::read(&file).unwrap(), b"not a package");
    }
    env.run(&["pack", src.to_str().unwrap(), "-o", file.to_str().unwrap()])
        .ok();
    let out = env.install(&file, &[]);
    assert_eq!(out["name"], "atfile", "{out}");
}

#[test]
fn pack_level_changes_compression_not_content() {
    let env = Env::new();
    let big: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("line {} of a compressible file\n", i % 977).into_bytes())
        .collect();
    let src = env.source(
        "levels",
        "1.0",
        &[("data/big.txt", &big), ("data/small", b"x")],
    );
    let fast = env.dir().join("fast.berth");
    let small = env.dir().join("small.berth");
    env.run(&[
        "pack",
        src.to_str().unwrap(),
        "--level",
        "1",
        "-o",
        fast.to_str().unwrap(),
    ])
    .ok();
    env.run(&[
        "pack",
        src.to_str().unwrap(),
        "--level",
        "19",
        "-o",
        small.to_str().unwrap(),
    ])
    .ok();
    let (lf, ls) = (
        std::fs::metadata(&fast).unwrap().len(),
        std::fs::metadata(&small).unwrap().len(),
    );
    assert!(
        ls < lf,
        "--level 19 ({ls} B) should be smaller than --level 1 ({lf} B)"
    );
    let a = env.install(&fast, &[]);
    let b = env.install(&small, &[]);
    assert_eq!(a["id"], b["id"], "compression level must not change the id");
    assert_eq!(b["status"], "unchanged");
}

#[test]
fn pack_level_out_of_range_is_a_usage_error() {
    let env = Env::new();
    let src = env.source("lvl", "1.0", &sample_files("1.0"));
    for bad in ["0", "23", "fast"] {
        env.run(&["pack", src.to_str().unwrap(), "--level", bad])
            .code(2);
    }
}

#[test]
fn pack_of_missing_directory_is_not_found() {
    let env = Env::new();
    let r = env.run(&["pack", "no-such-dir"]).code(3);
    assert!(r.stderr.contains("no-such-dir"), "{r}");
}

#[test]
fn pack_of_directory_without_manifest_is_not_found() {
    let env = Env::new();
    let dir = env.dir().join("bare");
    write_tree(&dir, &[("a", b"a")]);
    let r = env.run(&["pack", dir.to_str().unwrap()]).code(3);
    assert!(r.stderr.contains("berth.toml"), "{r}");
}

#[test]
fn pack_refuses_unknown_manifest_key_with_line_and_column() {
    let env = Env::new();
    let src = env.source("keys", "1.0", &sample_files("1.0"));
    std::fs::write(
        src.join("berth.toml"),
        "[package]\nname = \"keys\"\nversion = \"1.0\"\n  colour = \"red\"\n",
    )
    .unwrap();
    let r = env.run(&["pack", src.to_str().unwrap()]).code(6);
    assert!(
        r.stderr.contains("berth.toml:4:3"),
        "wants line 4 column 3:\n{r}"
    );
    assert!(r.stderr.contains("colour"), "{r}");
    assert!(!env.dir().join("keys-1.0.berth").exists());
}

#[test]
fn pack_refuses_unknown_section_and_bad_names() {
    let env = Env::new();
    let src = env.source("sect", "1.0", &sample_files("1.0"));
    let manifest = src.join("berth.toml");
    std::fs::write(
        &manifest,
        "[package]\nname = \"sect\"\nversion = \"1.0\"\n\n[extras]\nx = 1\n",
    )
    .unwrap();
    let r = env.run(&["pack", src.to_str().unwrap()]).code(6);
    assert!(r.stderr.contains("berth.toml:5:"), "{r}");
    std::fs::write(
        &manifest,
        "[package]\nname = \"Bad Name\"\nversion = \"1.0\"\n",
    )
    .unwrap();
    let r = env.run(&["pack", src.to_str().unwrap()]).code(6);
    assert!(r.stderr.contains("Bad Name"), "{r}");
    std::fs::write(&manifest, "[package]\nname = \"ok\"\nversion = \"1.0/2\"\n").unwrap();
    let r = env.run(&["pack", src.to_str().unwrap()]).code(6);
    assert!(r.stderr.contains("1.0/2"), "{r}");
}

#[test]
fn pack_keeps_optional_manifest_sections() {
    let env = Env::new();
    let src = env.source(
        "svc",
        "1.0",
        &[("bin/svc*", b"#!/bin/sh\n"), ("etc/svc.ini", b"a=1\n")],
    );
    std::fs::write(
        src.join("berth.toml"),
        r#"[package]
name = "svc"
version = "1.0"
description = "a service"

[exports]
bin = ["bin"]

[[config]]
path = "etc/svc.ini"

[[writable]]
path = "var/uploads"

[service]
exec = "bin/svc serve"
user = "svc"
capabilities = ["NET_BIND_SERVICE"]
"#,
    )
    .unwrap();
    let pkg = env.pack(&src);
    env.install(&pkg, &[]);
    let info = env.json(&["info", "svc@1.0"]);
    let m = &info["manifest"];
    assert_eq!(m["package"]["description"], "a service");
    assert_eq!(m["config"][0]["path"], "etc/svc.ini");
    assert_eq!(m["writable"][0]["path"], "var/uploads");
    assert_eq!(m["service"]["exec"], "bin/svc serve");
    assert_eq!(m["service"]["capabilities"][0], "NET_BIND_SERVICE");
    let human = env.run(&["info", "svc@1.0"]).ok();
    assert!(human.stdout.contains("etc/svc.ini"), "{human}");
}

// ---------------------------------------------------------------------------------------
// install: .berth and tarballs

#[test]
fn install_berth_then_list_shows_it() {
    let env = Env::new();
    let pkg = env.small_package("hello", "1.0");
    let row = env.install(&pkg, &[]);
    assert_eq!(row["status"], "installed");
    assert_eq!(row["name"], "hello");
    assert_eq!(row["version"], "1.0");
    let id = row["id"].as_str().unwrap();
    assert_eq!(
        env.listed(),
        vec![("hello".into(), "1.0".into(), id.to_string())]
    );
    let dir = env.entry_dir("hello", "1.0", id);
    assert_eq!(
        std::fs::read(dir.join("bin/hello")).unwrap(),
        b"#!/bin/sh\necho hello\n"
    );
    assert_eq!(
        std::fs::read(dir.join("share/doc/README")).unwrap(),
        b"readme of version 1.0\n"
    );
    assert_eq!(std::fs::metadata(dir.join("share/empty")).unwrap().len(), 0);
    for meta in ["manifest.toml", "files", "origin.toml"] {
        assert!(
            dir.join(".berth").join(meta).is_file(),
            ".berth/{meta} missing"
        );
    }
    let out = std::process::Command::new(dir.join("bin/hello"))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hello\n");
}

#[test]
fn install_human_output_says_installed() {
    let env = Env::new();
    let pkg = env.small_package("human", "1.0");
    let r = env.run(&["install", pkg.to_str().unwrap()]).ok();
    assert!(r.stdout.starts_with("installed human@1.0"), "{r}");
}

/// Makes tarballs of `src`'s payload (everything but berth.toml) under a top directory
/// `top/` with the system tools, one per compression, and returns their paths.
fn tarballs(env: &Env, src: &Path, stem: &str, top: Option<&str>) -> Vec<PathBuf> {
    let stage = env.dir().join(format!("tarstage-{stem}"));
    let payload = match top {
        Some(t) => stage.join(t),
        None => stage.clone(),
    };
    std::fs::create_dir_all(&payload).unwrap();
    tool(
        env.dir(),
        "cp",
        &[
            "-a",
            &format!("{}/.", src.display()),
            payload.to_str().unwrap(),
        ],
    );
    std::fs::remove_file(payload.join("berth.toml")).unwrap();
    let members: Vec<String> = children(&stage);
    let mut args: Vec<&str> = vec!["--sort=name", "--owner=0", "--group=0", "-cf"];
    let tar = env.dir().join(format!("{stem}.tar"));
    args.push(tar.to_str().unwrap());
    args.extend(members.iter().map(|s| s.as_str()));
    tool(&stage, "tar", &args);
    let t = tar.to_str().unwrap();
    let mk = |compressor: &str, flag: &[&str], ext: &str| {
        let out = env.dir().join(format!("{stem}.{ext}"));
        let cmd = format!(
            "{compressor} {} -c < '{t}' > '{}'",
            flag.join(" "),
            out.display()
        );
        tool(env.dir(), "sh", &["-c", &cmd]);
        out
    };
    vec![
        tar.clone(),
        mk("gzip", &[], "tar.gz"),
        mk("gzip", &["-9"], "tgz"),
        mk("xz", &[], "tar.xz"),
        mk("zstd", &["-q"], "tar.zst"),
    ]
}

#[test]
fn install_tarball_of_every_compression_gives_the_berth_id() {
    let env = Env::new();
    let src = env.source("multi", "3.1", &sample_files("3.1"));
    std::os::unix::fs::symlink("hello", src.join("bin/hi")).unwrap();
    let berth_id = {
        let pkg = env.pack(&src);
        let scratch = Env::new();
        scratch.install(&pkg, &[])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for t in tarballs(&env, &src, "payload", None) {
        let fresh = Env::new();
        let row = fresh.install(&t, &["--name", "multi", "--version", "3.1"]);
        assert_eq!(row["status"], "installed", "{}", t.display());
        assert_eq!(
            row["id"].as_str().unwrap(),
            berth_id,
            "{} gives another id",
            t.display()
        );
        let dir = fresh.entry_dir("multi", "3.1", &berth_id);
        assert_eq!(
            std::fs::read_link(dir.join("bin/hi")).unwrap(),
            Path::new("hello")
        );
        fresh.run(&["verify"]).ok();
        let info = fresh.json(&["info", "multi"]);
        assert_eq!(info["origin"]["sha256"].as_str().unwrap(), sha256_file(&t));
    }
}

#[test]
fn same_content_as_tarball_and_as_berth_is_one_entry() {
    let env = Env::new();
    let src = env.source("same", "1.0", &sample_files("1.0"));
    let pkg = env.pack(&src);
    let a = env.install(&pkg, &[]);
    let t = &tarballs(&env, &src, "same-1.0", None)[1];
    let b = env.install(t, &[]);
    assert_eq!(b["status"], "unchanged");
    assert_eq!(a["id"], b["id"]);
    assert_eq!(env.listed().len(), 1);
}

#[test]
fn tarball_without_name_and_version_is_a_usage_error() {
    let env = Env::new();
    let src = env.source("anon", "1.0", &sample_files("1.0"));
    let ts = tarballs(&env, &src, "thing", None);
    for t in &ts {
        let r = env.run(&["install", t.to_str().unwrap()]).code(2);
        assert!(
            r.stderr.contains("--name") && r.stderr.contains("--version"),
            "{r}"
        );
    }
    let r = env
        .run(&["install", ts[1].to_str().unwrap(), "--name", "anon"])
        .code(2);
    assert!(r.stderr.contains("--version"), "{r}");
    let r = env
        .run(&["install", ts[1].to_str().unwrap(), "--version", "1.0"])
        .code(2);
    assert!(r.stderr.contains("--name"), "{r}");
    assert!(env.listed().is_empty());
    assert!(env.staging_leftovers().is_empty());
}

#[test]
fn tarball_named_name_version_needs_no_flags() {
    let env = Env::new();
    let src = env.source("x", "0", &sample_files("0"));
    let ts = tarballs(&env, &src, "my-app2-1.0-rc1", None);
    for t in &ts {
        let fresh = Env::new();
        let row = fresh.install(t, &[]);
        assert_eq!(
            (
                row["name"].as_str().unwrap(),
                row["version"].as_str().unwrap()
            ),
            ("my-app2", "1.0-rc1")
        );
    }
    // Flags still win over the file name.
    let row = env.install(&ts[3], &["--name", "other", "--version", "9"]);
    assert_eq!(
        (
            row["name"].as_str().unwrap(),
            row["version"].as_str().unwrap()
        ),
        ("other", "9")
    );
}

#[test]
fn tarball_with_invalid_name_or_version_is_refused() {
    let env = Env::new();
    let src = env.source("x", "0", &sample_files("0"));
    let t = &tarballs(&env, &src, "pl", None)[0];
    env.run(&[
        "install",
        t.to_str().unwrap(),
        "--name",
        "Upper",
        "--version",
        "1",
    ])
    .code(2);
    env.run(&[
        "install",
        t.to_str().unwrap(),
        "--name",
        "ok",
        "--version",
        "1 2",
    ])
    .code(2);
    env.run(&[
        "install",
        t.to_str().unwrap(),
        "--name",
        "ok",
        "--version",
        "a/b",
    ])
    .code(2);
    assert!(env.listed().is_empty());
}

#[test]
fn strip_components_drops_leading_directories() {
    let env = Env::new();
    let src = env.source("strip", "1.0", &sample_files("1.0"));
    let t = &tarballs(&env, &src, "strip-1.0", Some("package"))[1];
    let row = env.install(t, &["--strip-components", "1"]);
    let dir = env.entry_dir("strip", "1.0", row["id"].as_str().unwrap());
    assert!(dir.join("bin/hello").is_file());
    assert!(!dir.join("package").exists());
    // The same content as a .berth has the same id.
    let pkg = env.pack(&src);
    assert_eq!(env.install(&pkg, &[])["status"], "unchanged");

    let unstripped = Env::new();
    let row = unstripped.install(t, &[]);
    let dir = unstripped.entry_dir("strip", "1.0", row["id"].as_str().unwrap());
    assert!(dir.join("package/bin/hello").is_file());
    let files = unstripped.json(&["info", "strip", "--files"]);
    let paths: Vec<&str> = files["file_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"package/bin/hello"), "{paths:?}");
}

#[test]
fn strip_components_on_a_berth_file_is_a_usage_error() {
    let env = Env::new();
    let pkg = env.small_package("nostrip", "1.0");
    env.run(&["install", pkg.to_str().unwrap(), "--strip-components", "1"])
        .code(2);
    assert!(env.listed().is_empty());
}

#[test]
fn install_several_files_in_one_call() {
    let env = Env::new();
    let a = env.small_package("alpha", "1.0");
    let b = env.small_package("beta", "2.0");
    let c = env.small_package("alpha", "1.1");
    let rows = env.json(&[
        "install",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "installed"));
    let listed: Vec<(String, String)> = env.listed().into_iter().map(|(n, v, _)| (n, v)).collect();
    assert_eq!(
        listed,
        vec![
            ("alpha".into(), "1.0".into()),
            ("alpha".into(), "1.1".into()),
            ("beta".into(), "2.0".into())
        ]
    );
}

#[test]
fn name_version_and_sha256_flags_refuse_several_files() {
    let env = Env::new();
    let a = env.small_package("one", "1.0");
    let b = env.small_package("two", "1.0");
    let r = env
        .run(&[
            "install",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--sha256",
            &sha256_file(&a),
        ])
        .code(2);
    assert!(r.stderr.contains("one at a time"), "{r}");
    assert!(env.listed().is_empty());
}

#[test]
fn sha256_match_installs() {
    let env = Env::new();
    let pkg = env.small_package("sum", "1.0");
    let sum = sha256_file(&pkg).to_uppercase();
    let row = env.install(&pkg, &["--sha256", &sum]);
    assert_eq!(row["status"], "installed");
}

#[test]
fn sha256_mismatch_is_refused_and_store_unchanged() {
    let env = Env::new();
    let first = env.small_package("present", "1.0");
    env.install(&first, &[]);
    let before_list = env.run(&["list", "--json"]).ok().stdout;
    let before_names = env.store_names();
    let pool_before = pool_inodes(env.root());

    let pkg = env.small_package("sum", "1.0");
    let tar = &tarballs(&env, &env.dir().join("src/sum-1.0"), "sum-1.0", None)[2];
    let wrong = "0".repeat(64);
    for artifact in [&pkg, tar] {
        let r = env
            .run(&["install", artifact.to_str().unwrap(), "--sha256", &wrong])
            .code(5);
        assert!(r.stderr.contains(&wrong), "names the expected sum:\n{r}");
        assert!(
            r.stderr.contains(&sha256_file(artifact)),
            "names the actual sum:\n{r}"
        );
        assert_eq!(env.run(&["list", "--json"]).ok().stdout, before_list);
        assert_eq!(env.store_names(), before_names);
        assert!(
            env.staging_leftovers().is_empty(),
            "{:?}",
            env.staging_leftovers()
        );
        assert_eq!(pool_inodes(env.root()), pool_before, "the pool changed");
    }
    // A malformed sum is a usage error.
    env.run(&["install", pkg.to_str().unwrap(), "--sha256", "abc"])
        .code(2);
}

#[test]
fn reinstall_is_a_noop_that_says_unchanged() {
    let env = Env::new();
    let pkg = env.small_package("again", "1.0");
    let first = env.install(&pkg, &[]);
    let id = first["id"].as_str().unwrap();
    let dir = env.entry_dir("again", "1.0", id);
    let ino = std::fs::metadata(&dir).unwrap().ino();
    let origin = std::fs::read(dir.join(".berth/origin.toml")).unwrap();
    let r = env.run(&["install", pkg.to_str().unwrap()]).ok();
    assert!(
        r.stdout.contains("unchanged") && r.stdout.contains("already installed"),
        "{r}"
    );
    let second = env.install(&pkg, &[]);
    assert_eq!(second["status"], "unchanged");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["new_objects"], 0);
    assert_eq!(std::fs::metadata(&dir).unwrap().ino(), ino);
    assert_eq!(
        std::fs::read(dir.join(".berth/origin.toml")).unwrap(),
        origin
    );
    assert_eq!(env.listed().len(), 1);
    assert!(env.staging_leftovers().is_empty());
}

#[test]
fn same_name_version_with_other_content_is_refused_naming_both_ids() {
    let env = Env::new();
    let pkg = env.small_package("clash", "1.0");
    let first = env.install(&pkg, &[]);
    let old_id = first["id"].as_str().unwrap().to_string();
    let src = env.source(
        "clash",
        "1.0",
        &[("share/doc/README", b"rebuilt, different\n")],
    );
    let other = env.dir().join("rebuilt.berth");
    env.run(&["pack", src.to_str().unwrap(), "-o", other.to_str().unwrap()])
        .ok();
    let r = env.run(&["install", other.to_str().unwrap()]).code(4);
    assert!(r.stderr.contains(&old_id), "names the installed id:\n{r}");
    assert!(r.stderr.contains("clash@1.0"), "{r}");
    // The new id is the one the rebuilt package gets in an empty root.
    let new_id = Env::new().install(&other, &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, old_id);
    assert!(r.stderr.contains(&new_id), "names the new id:\n{r}");
    assert_eq!(env.listed(), vec![("clash".into(), "1.0".into(), old_id)]);
    assert!(env.staging_leftovers().is_empty());
}

#[test]
fn install_of_missing_file_is_not_found() {
    let env = Env::new();
    let r = env.run(&["install", "nowhere-1.0.berth"]).code(3);
    assert!(r.stderr.contains("nowhere-1.0.berth"), "{r}");
}

#[test]
fn install_of_garbage_is_refused() {
    let env = Env::new();
    let junk = env.dir().join("junk-1.0.tar.gz");
    std::fs::write(&junk, b"this is not gzip at all, not even close").unwrap();
    let r = env.run(&["install", junk.to_str().unwrap()]).code(6);
    assert!(r.stderr.contains("junk-1.0.tar.gz"), "{r}");
    let truncated = env.dir().join("trunc-1.0.berth");
    let pkg = env.small_package("trunc", "1.0");
    let bytes = std::fs::read(&pkg).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let r = env.run(&["install", truncated.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{r}");
    assert!(env.listed().is_empty());
    assert!(env.staging_leftovers().is_empty());
}

#[test]
fn berth_name_flag_must_match_the_manifest() {
    let env = Env::new();
    let pkg = env.small_package("real", "1.0");
    let r = env
        .run(&["install", pkg.to_str().unwrap(), "--name", "fake"])
        .code(2);
    assert!(
        r.stderr.contains("fake") && r.stderr.contains("real"),
        "{r}"
    );
    env.run(&["install", pkg.to_str().unwrap(), "--version", "9.9"])
        .code(2);
    assert!(env.listed().is_empty());
}

#[test]
fn two_versions_side_by_side_are_listed() {
    let env = Env::new();
    let v1 = env.small_package("side", "1.9");
    let v2 = env.small_package("side", "1.10");
    let r2 = env.install(&v2, &[]);
    let r1 = env.install(&v1, &[]);
    let listed = env.listed();
    assert_eq!(
        listed,
        vec![
            (
                "side".into(),
                "1.9".into(),
                r1["id"].as_str().unwrap().to_string()
            ),
            (
                "side".into(),
                "1.10".into(),
                r2["id"].as_str().unwrap().to_string()
            ),
        ],
        "versions in Debian order"
    );
    for (n, v, id) in &listed {
        let dir = env.entry_dir(n, v, id);
        let readme = std::fs::read_to_string(dir.join("share/doc/README")).unwrap();
        assert_eq!(readme, format!("readme of version {v}\n"));
    }
    env.run(&["verify"]).ok();
}

// ---------------------------------------------------------------------------------------
// list

#[test]
fn list_is_aligned_with_a_header() {
    let env = Env::new();
    env.install(&env.small_package("a", "1.0"), &[]);
    env.install(&env.small_package("longer-name", "10.20.30-rc1"), &[]);
    let r = env.run(&["list"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(lines[0].starts_with("NAME"), "{r}");
    for col in ["VERSION", "ID", "SIZE", "INSTALLED"] {
        let at = lines[0]
            .find(col)
            .unwrap_or_else(|| panic!("no {col} column:\n{r}"));
        for l in &lines[1..] {
            let before = &l[..at];
            assert!(
                before.ends_with("  "),
                "column {col} not aligned in {l:?}:\n{r}"
            );
            assert_ne!(l.as_bytes()[at], b' ', "column {col} empty in {l:?}");
        }
    }
    assert!(lines[1].starts_with("a "));
    assert!(lines[2].starts_with("longer-name "));
}

#[test]
fn list_json_has_every_field_and_filters_by_name() {
    let env = Env::new();
    let a = env.install(&env.small_package("a", "1.0"), &[]);
    env.install(&env.small_package("b", "1.0"), &[]);
    let all = env.json(&["list"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let e = &all[0];
    assert_eq!(e["name"], "a");
    assert_eq!(e["id"], a["id"]);
    assert_eq!(e["files"], 4);
    assert_eq!(e["bytes"], a["bytes"]);
    assert!(e["installed_at"].as_str().unwrap().starts_with("20"), "{e}");
    assert!(Path::new(e["path"].as_str().unwrap()).is_dir());
    let only_b = env.json(&["list", "b"]);
    assert_eq!(only_b.as_array().unwrap().len(), 1);
    assert_eq!(only_b[0]["name"], "b");
}

#[test]
fn list_of_empty_root_says_so() {
    let env = Env::new();
    let r = env.run(&["list"]).ok();
    assert!(r.stdout.contains("no packages installed"), "{r}");
    assert_eq!(env.json(&["list"]), serde_json::json!([]));
    assert!(env.run(&["-q", "list"]).ok().stdout.is_empty());
}

// ---------------------------------------------------------------------------------------
// info

#[test]
fn info_by_name_version_name_and_id_prefix() {
    let env = Env::new();
    let r1 = env.install(&env.small_package("inf", "1.0"), &[]);
    let r2 = env.install(&env.small_package("inf", "2.0"), &[]);
    let id1 = r1["id"].as_str().unwrap();
    let id2 = r2["id"].as_str().unwrap();
    assert_eq!(env.json(&["info", "inf@1.0"])["id"], id1);
    assert_eq!(
        env.json(&["info", "inf"])["id"],
        id2,
        "bare name is the highest version"
    );
    assert_eq!(
        env.json(&["info", &format!("inf@{}", &id1[..8])])["version"],
        "1.0"
    );
    let human = env.run(&["info", "inf@1.0"]).ok();
    assert!(human.stdout.starts_with("inf@1.0\n"), "{human}");
    for want in [id1, "test package inf", "4", "inf-1.0.berth"] {
        assert!(human.stdout.contains(want), "info lacks {want}:\n{human}");
    }
}

#[test]
fn info_json_has_manifest_origin_counts() {
    let env = Env::new();
    let pkg = env.small_package("meta", "1.0");
    env.install(&pkg, &[]);
    let i = env.json(&["info", "meta@1.0"]);
    assert_eq!(i["name"], "meta");
    assert_eq!(i["files"], 4);
    assert_eq!(i["bytes"].as_u64().unwrap(), (21 + 22 + 8) as u64);
    assert_eq!(i["manifest"]["package"]["name"], "meta");
    assert_eq!(i["manifest"]["exports"]["bin"][0], "bin");
    assert_eq!(i["origin"]["artifact"], "meta-1.0.berth");
    assert_eq!(i["origin"]["format"], "berth");
    assert_eq!(i["origin"]["sha256"].as_str().unwrap(), sha256_file(&pkg));
    assert!(i.get("file_list").is_none());
}

#[test]
fn info_files_lists_every_member() {
    let env = Env::new();
    let src = env.source("lst", "1.0", &sample_files("1.0"));
    std::os::unix::fs::symlink("../doc/README", src.join("share/data/readme-link")).unwrap();
    env.install(&env.pack(&src), &[]);
    let i = env.json(&["info", "lst", "--files"]);
    let rows = i["file_list"].as_array().unwrap();
    let find = |p: &str| {
        rows.iter()
            .find(|r| r["path"] == p)
            .unwrap_or_else(|| panic!("{p} not listed: {rows:?}"))
    };
    assert_eq!(find("bin")["kind"], "dir");
    assert_eq!(find("bin/hello")["kind"], "file");
    assert_eq!(find("bin/hello")["exec"], true);
    assert_eq!(find("share/empty")["size"], 0);
    assert_eq!(find("share/data/readme-link")["target"], "../doc/README");
    assert_eq!(
        find("share/data/table.csv")["sha256"].as_str().unwrap(),
        sha256_file(&src.join("share/data/table.csv"))
    );
    let human = env.run(&["info", "lst", "--files"]).ok();
    for want in [
        "bin/hello",
        "share/empty",
        "share/data/readme-link -> ../doc/README",
    ] {
        assert!(human.stdout.contains(want), "{want} missing:\n{human}");
    }
}

#[test]
fn info_of_unknown_package_is_not_found_and_lists_installed() {
    let env = Env::new();
    let r = env.run(&["info", "ghost"]).code(3);
    assert!(r.stderr.contains("nothing is installed"), "{r}");
    env.install(&env.small_package("real", "1.0"), &[]);
    env.install(&env.small_package("real", "2.0"), &[]);
    for reference in ["ghost", "real@3.0", "real@ffffffffff"] {
        let r = env.run(&["info", reference]).code(3);
        assert!(r.stderr.contains(reference), "{r}");
        assert!(
            r.stderr.contains("real@1.0") && r.stderr.contains("real@2.0"),
            "{r}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// verify

/// Installs a package and returns its entry directory.
fn installed(env: &Env, name: &str) -> PathBuf {
    let row = env.install(&env.small_package(name, "1.0"), &[]);
    env.entry_dir(name, "1.0", row["id"].as_str().unwrap())
}

#[test]
fn verify_passes_on_intact_store() {
    let env = Env::new();
    installed(&env, "fine");
    installed(&env, "good");
    let r = env.run(&["verify"]).ok();
    assert!(r.stdout.contains("verified 2 package(s)"), "{r}");
    let j = env.json(&["verify", "fine"]);
    assert_eq!(j["ok"], true);
    assert_eq!(j["checked"], serde_json::json!(["fine@1.0"]));
}

#[test]
fn verify_catches_a_changed_byte() {
    let env = Env::new();
    let dir = installed(&env, "flip");
    // Another version, so that it shares no content with the damaged file.
    env.install(&env.small_package("other", "2.0"), &[]);
    let f = dir.join("share/doc/README");
    // Write through the hard link (this also changes the pool object, as a real bit flip would).
    let mode = std::fs::metadata(&f).unwrap().permissions().mode();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode | 0o200)).unwrap();
    let mut h = std::fs::File::options().write(true).open(&f).unwrap();
    h.seek(std::io::SeekFrom::Start(3)).unwrap();
    h.write_all(b"X").unwrap();
    drop(h);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
    let r = env.run(&["verify"]).code(5);
    assert!(
        r.stdout.contains("flip@1.0") && r.stdout.contains("share/doc/README"),
        "{r}"
    );
    assert!(r.stdout.contains("changed"), "{r}");
    assert!(
        !r.stdout.contains("other@2.0"),
        "only the damaged package is named:\n{r}"
    );
    env.run(&["verify", "other"]).ok();
    let j = env.run(&["--json", "verify"]).code(5).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["problems"][0]["path"], "share/doc/README");
    assert_eq!(j["problems"][0]["kind"], "changed");
}

#[test]
fn verify_catches_a_replaced_file_of_same_size() {
    let env = Env::new();
    let dir = installed(&env, "swap");
    unseal(&dir.join("bin"));
    let f = dir.join("bin/hello");
    std::fs::remove_file(&f).unwrap();
    std::fs::write(&f, b"#!/bin/sh\necho HELLO\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = env.run(&["verify", "swap@1.0"]).code(5);
    assert!(
        r.stdout.contains("bin/hello") && r.stdout.contains("changed"),
        "{r}"
    );
}

#[test]
fn verify_catches_a_removed_file() {
    let env = Env::new();
    let dir = installed(&env, "gone");
    unseal(&dir.join("share/data"));
    std::fs::remove_file(dir.join("share/data/table.csv")).unwrap();
    let r = env.run(&["verify"]).code(5);
    assert!(
        r.stdout.contains("share/data/table.csv") && r.stdout.contains("missing"),
        "{r}"
    );
}

#[test]
fn verify_catches_an_added_file() {
    let env = Env::new();
    let dir = installed(&env, "extra");
    unseal(&dir.join("share"));
    std::fs::write(dir.join("share/intruder"), b"boo").unwrap();
    let r = env.run(&["verify"]).code(5);
    assert!(
        r.stdout.contains("share/intruder") && r.stdout.contains("extra"),
        "{r}"
    );
}

#[test]
fn verify_names_every_problem_at_once() {
    let env = Env::new();
    let dir = installed(&env, "many");
    unseal(&dir);
    unseal(&dir.join("share"));
    unseal(&dir.join("share/data"));
    std::fs::remove_file(dir.join("share/data/table.csv")).unwrap();
    std::fs::write(dir.join("added"), b"").unwrap();
    std::fs::remove_file(dir.join("share/empty")).unwrap();
    std::fs::write(dir.join("share/empty"), b"not empty").unwrap();
    let j = env.run(&["--json", "verify"]).code(5).json();
    let mut got: Vec<(String, String)> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_string(),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    for want in ["added", "share/data/table.csv", "share/empty"] {
        assert!(paths.contains(&want), "{want} not reported: {got:?}");
    }
    assert!(got.contains(&("added".into(), "extra".into())), "{got:?}");
    assert!(
        got.contains(&("share/data/table.csv".into(), "missing".into())),
        "{got:?}"
    );
}

#[test]
fn verify_catches_a_lost_exec_bit() {
    let env = Env::new();
    let dir = installed(&env, "modes");
    unseal(&dir.join("bin"));
    let f = dir.join("bin/hello");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::remove_file(&f).unwrap();
    std::fs::write(&f, bytes).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
    let r = env.run(&["verify"]).code(5);
    assert!(r.stdout.contains("bin/hello"), "{r}");
}

#[test]
fn verify_of_unknown_package_is_not_found() {
    let env = Env::new();
    installed(&env, "here");
    let r = env.run(&["verify", "absent"]).code(3);
    assert!(r.stderr.contains("here@1.0"), "{r}");
}

// ---------------------------------------------------------------------------------------
// remove

#[test]
fn remove_deletes_entry_and_frees_only_unshared_objects() {
    let env = Env::new();
    let shared: &[u8] = b"shared between both versions\n";
    let mine: &[u8] = b"only in version one\n";
    let theirs: &[u8] = b"only in version two\n";
    let s1 = env.source(
        "rm",
        "1.0",
        &[("shared.txt", shared), ("own.txt", mine), ("e", b"")],
    );
    let s2 = env.source(
        "rm",
        "2.0",
        &[("shared.txt", shared), ("own.txt", theirs), ("e", b"")],
    );
    let r1 = env.install(&env.pack(&s1), &[]);
    let r2 = env.install(&env.pack(&s2), &[]);
    let d1 = env.entry_dir("rm", "1.0", r1["id"].as_str().unwrap());
    let d2 = env.entry_dir("rm", "2.0", r2["id"].as_str().unwrap());
    let object = |content: &[u8]| {
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
        env.store().join(".objects").join(&hex[..2]).join(&hex[2..])
    };
    assert!(object(mine).is_file() && object(theirs).is_file() && object(shared).is_file());

    let out = env.json(&["remove", "rm@1.0"]);
    assert_eq!(out["entries"], serde_json::json!(["rm@1.0"]));
    assert_eq!(out["objects"], 1, "{out}");
    assert!(out["bytes"].as_u64().unwrap() > 0);
    assert!(!d1.exists());
    assert!(!object(mine).exists(), "the unshared object is freed");
    assert!(object(shared).is_file(), "the shared object stays");
    assert!(object(theirs).is_file());
    assert_eq!(std::fs::metadata(object(shared)).unwrap().nlink(), 2);
    assert!(
        children(&env.store().join(".trash")).is_empty(),
        "trash emptied"
    );
    assert_eq!(env.listed().len(), 1);
    env.run(&["verify"]).ok();
    assert_eq!(std::fs::read(d2.join("shared.txt")).unwrap(), shared);

    let r = env.run(&["remove", "rm@2.0"]).ok();
    assert!(
        r.stdout.contains("removed rm@2.0") && r.stdout.contains("freed"),
        "{r}"
    );
    assert!(env.listed().is_empty());
    assert!(!object(shared).exists() && !object(theirs).exists());
}

#[test]
fn remove_several_and_by_id_prefix() {
    let env = Env::new();
    let a = env.install(&env.small_package("ra", "1.0"), &[]);
    env.install(&env.small_package("rb", "1.0"), &[]);
    env.install(&env.small_package("rc", "1.0"), &[]);
    let prefix = format!("ra@{}", &a["id"].as_str().unwrap()[..10]);
    env.run(&["remove", &prefix, "rb"]).ok();
    let left: Vec<String> = env.listed().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(left, vec!["rc".to_string()]);
}

#[test]
fn remove_of_unknown_is_not_found_and_ambiguous_name_is_usage() {
    let env = Env::new();
    env.install(&env.small_package("amb", "1.0"), &[]);
    env.install(&env.small_package("amb", "2.0"), &[]);
    env.run(&["remove", "nothing@1.0"]).code(3);
    let r = env.run(&["remove", "amb"]).code(2);
    assert!(
        r.stderr.contains("amb@1.0") && r.stderr.contains("amb@2.0"),
        "{r}"
    );
    assert_eq!(env.listed().len(), 2, "nothing removed");
    // Nothing is removed when one of several references is unknown.
    env.run(&["remove", "amb@1.0", "nothing@1.0"]).code(3);
    assert_eq!(env.listed().len(), 2);
}

#[test]
fn remove_then_reinstall_gives_a_working_entry() {
    let env = Env::new();
    let pkg = env.small_package("back", "1.0");
    env.install(&pkg, &[]);
    env.run(&["remove", "back@1.0"]).ok();
    assert_eq!(env.install(&pkg, &[])["status"], "installed");
    env.run(&["verify"]).ok();
}

// ---------------------------------------------------------------------------------------
// store on disk

#[test]
fn entries_are_read_only_with_normalised_mtimes() {
    let env = Env::new();
    let src = env.source("ro", "1.0", &sample_files("1.0"));
    std::os::unix::fs::symlink("hello", src.join("bin/link")).unwrap();
    // A group-writable, setgid-less odd mode in the source must not leak into the store.
    std::fs::set_permissions(
        src.join("share/data/table.csv"),
        std::fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    let row = env.install(&env.pack(&src), &[]);
    let dir = env.entry_dir("ro", "1.0", row["id"].as_str().unwrap());
    let mut all = walk(&dir);
    all.insert(String::new(), std::fs::symlink_metadata(&dir).unwrap());
    for (path, m) in &all {
        let mode = m.permissions().mode() & 0o7777;
        if m.is_dir() {
            assert_eq!(mode, 0o555, "directory `{path}` has mode {mode:o}");
        } else if m.is_file() {
            assert!(
                mode == 0o444 || mode == 0o555,
                "file `{path}` has mode {mode:o}"
            );
        } else {
            assert!(
                m.file_type().is_symlink(),
                "`{path}` is neither file, dir nor link"
            );
        }
        assert_eq!(m.mtime(), 1, "`{path}` has mtime {}", m.mtime());
    }
    assert_eq!(all["bin/hello"].permissions().mode() & 0o777, 0o555);
    assert_eq!(all["share/doc/README"].permissions().mode() & 0o777, 0o444);
    assert_eq!(
        all["share/data/table.csv"].permissions().mode() & 0o777,
        0o444
    );
    assert_eq!(all[".berth/files"].permissions().mode() & 0o777, 0o444);
}

#[test]
fn entry_files_are_hard_links_into_the_pool() {
    let env = Env::new();
    let dir = installed(&env, "pooled");
    let pool = pool_inodes(env.root());
    for rel in ["bin/hello", "share/doc/README", "share/data/table.csv"] {
        let m = std::fs::metadata(dir.join(rel)).unwrap();
        assert!(
            pool.contains(&(m.dev(), m.ino())),
            "{rel} is not linked into the pool"
        );
        assert_eq!(m.nlink(), 2, "{rel}");
    }
    let exe = std::fs::metadata(dir.join("bin/hello")).unwrap();
    let hex = sha256_file(&dir.join("bin/hello"));
    let obj = env
        .store()
        .join(".objects")
        .join(&hex[..2])
        .join(format!("{}x", &hex[2..]));
    assert_eq!(
        std::fs::metadata(obj).unwrap().ino(),
        exe.ino(),
        "exec objects end in x"
    );
    let empty = std::fs::metadata(dir.join("share/empty")).unwrap();
    assert_eq!(empty.nlink(), 1, "empty files are not pooled");
}

#[test]
fn same_bytes_with_and_without_exec_bit_are_distinct_objects() {
    let env = Env::new();
    let body: &[u8] = b"#!/bin/sh\nexit 0\n";
    let src = env.source("modes", "1.0", &[("bin/run*", body), ("doc/run.txt", body)]);
    let row = env.install(&env.pack(&src), &[]);
    let dir = env.entry_dir("modes", "1.0", row["id"].as_str().unwrap());
    let a = std::fs::metadata(dir.join("bin/run")).unwrap();
    let b = std::fs::metadata(dir.join("doc/run.txt")).unwrap();
    assert_ne!(a.ino(), b.ino());
    assert_eq!(a.permissions().mode() & 0o777, 0o555);
    assert_eq!(b.permissions().mode() & 0o777, 0o444);
}

// ---------------------------------------------------------------------------------------
// global flags

#[test]
fn berth_root_environment_variable_is_the_default_root() {
    let env = Env::new();
    let pkg = env.small_package("envroot", "1.0");
    let out = berth_without_root()
        .args(["install", pkg.to_str().unwrap()])
        .env("BERTH_ROOT", env.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.listed().len(), 1);
    // --root wins over the variable.
    let other = env.dir().join("other-root");
    let out = berth_without_root()
        .args(["--root", other.to_str().unwrap(), "--json", "list"])
        .env("BERTH_ROOT", env.root())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn quiet_prints_nothing_on_success_and_still_reports_errors() {
    let env = Env::new();
    let pkg = env.small_package("shh", "1.0");
    let r = env.run(&["-q", "install", pkg.to_str().unwrap()]).ok();
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r}");
    let r = env.run(&["--quiet", "remove", "shh@1.0"]).ok();
    assert!(r.stdout.is_empty(), "{r}");
    let r = env.run(&["-q", "info", "shh"]).code(3);
    assert!(r.stderr.contains("shh"), "{r}");
}

#[test]
fn verbose_and_color_flags_are_accepted() {
    let env = Env::new();
    let pkg = env.small_package("loud", "1.0");
    env.run(&["-vv", "--color", "never", "install", pkg.to_str().unwrap()])
        .ok();
    let r = env.run(&["--color", "always", "list"]).ok();
    assert!(r.stdout.contains("loud"), "{r}");
    env.run(&["--color", "sometimes", "list"]).code(2);
}

#[test]
fn help_lists_exit_codes_and_bad_usage_exits_2() {
    let env = Env::new();
    let r = env.run(&["--help"]).ok();
    for code in [
        "0  success",
        "2  usage",
        "3  not found",
        "4  conflict",
        "5  integrity",
        "6  refused",
        "7  timed out",
    ] {
        assert!(r.stdout.contains(code), "--help lacks `{code}`:\n{r}");
    }
    env.run(&["frobnicate"]).code(2);
    env.run(&["install"]).code(2);
    env.run(&["pack"]).code(2);
}

// ---------------------------------------------------------------------------------------
// the lock

#[test]
fn lock_timeout_exits_7_naming_the_holder() {
    let env = Env::new();
    let pkg = env.small_package("locked", "1.0");
    let lock = env.hold_lock();
    let r = env
        .run(&["--lock-timeout", "1", "install", pkg.to_str().unwrap()])
        .code(7);
    assert!(
        r.stderr.contains("12345") && r.stderr.contains("fake-holder"),
        "{r}"
    );
    env.run(&["--lock-timeout", "0", "remove", "locked@1.0"])
        .code(7);
    // Reads never need the lock.
    env.run(&["list"]).ok();
    env.run(&["verify"]).ok();
    drop(lock);
    assert!(env.listed().is_empty());
    env.run(&["--lock-timeout", "1", "install", pkg.to_str().unwrap()])
        .ok();
}

#[test]
fn second_process_waits_for_the_lock_and_says_whose_it_is() {
    let env = Env::new();
    let pkg = env.small_package("waiter", "1.0");
    let lock = env.hold_lock();
    let mut child = env
        .cmd(&["install", pkg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("waiting for the lock"), "{first}");
    assert!(
        first.contains("12345") && first.contains("fake-holder"),
        "{first}"
    );
    // Still waiting: nothing installed while the lock is held.
    assert!(
        child.try_wait().unwrap().is_none(),
        "berth did not wait for the lock"
    );
    assert!(env.listed().is_empty());
    drop(lock);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(status.success(), "{first}{rest}");
    assert_eq!(env.listed().len(), 1);
}

#[test]
fn concurrent_installs_serialise_and_all_succeed() {
    let env = Env::new();
    let pkgs: Vec<PathBuf> = (0..4)
        .map(|i| env.small_package("conc", &format!("1.{i}")))
        .collect();
    let children: Vec<_> = pkgs
        .iter()
        .map(|p| {
            env.cmd(&["-q", "install", p.to_str().unwrap()])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.listed().len(), 4);
    env.run(&["verify"]).ok();
    assert!(env.staging_leftovers().is_empty());
    // The holder note is cleared when the lock is released, so a waiter never blames a
    // command that ended long ago.
    let holder = std::fs::read_to_string(env.root().join(".lock")).unwrap();
    assert!(
        holder.is_empty(),
        "the lock file is cleared on release: {holder:?}"
    );
}

#[test]
fn lock_wait_gives_up_only_after_the_timeout() {
    // Not a timing assertion: a generous timeout must still succeed once the lock goes.
    let env = Env::new();
    let pkg = env.small_package("patient", "1.0");
    let lock = env.hold_lock();
    let child = env
        .cmd(&["--lock-timeout", "600", "install", pkg.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !env.root().join(".lock").exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.listed().len(), 1);
}

#[test]
fn staging_and_trash_leftovers_are_removed_by_the_next_mutation() {
    let env = Env::new();
    let pkg = env.small_package("tidy", "1.0");
    env.install(&pkg, &[]);
    let plant = || {
        // What a crashed install or removal leaves behind, read-only parts included.
        for dir in [".staging/999-0/tree/sub", ".trash/old-entry.999/bin"] {
            let d = env.store().join(dir);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("file"), b"half written").unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
    };
    plant();
    // Reads leave them alone (they never take the lock).
    env.run(&["list"]).ok();
    env.run(&["verify"]).ok();
    assert_eq!(env.staging_leftovers(), vec!["999-0".to_string()]);
    env.install(&pkg, &[]);
    assert!(env.staging_leftovers().is_empty());
    assert!(children(&env.store().join(".trash")).is_empty());
    plant();
    env.run(&["remove", "tidy@1.0"]).ok();
    assert!(env.staging_leftovers().is_empty());
    assert!(children(&env.store().join(".trash")).is_empty());
}

#[test]
fn install_limits_refuse_oversize_packages() {
    let env = Env::new();
    let pkg = env.small_package("limits", "1.0");
    let r = env
        .run(&["install", pkg.to_str().unwrap(), "--max-entries", "2"])
        .code(6);
    assert!(r.stderr.contains("limits-1.0.berth"), "{r}");
    let r = env
        .run(&[
            "install",
            pkg.to_str().unwrap(),
            "--max-unpacked-size",
            "10",
        ])
        .code(6);
    assert!(r.stderr.contains("10 bytes"), "{r}");
    assert!(env.listed().is_empty());
    assert!(env.staging_leftovers().is_empty());
    let row = env.install(
        &pkg,
        &["--max-entries", "100", "--max-unpacked-size", "1000"],
    );
    assert_eq!(row["status"], "installed");
}
