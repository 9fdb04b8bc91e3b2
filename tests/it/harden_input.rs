//! Issue 8, classes 2 and 8: every compressed stream is read and verified to its end
//! (corrupted gzip, zstd and xz refused; trailing data refused; multi-member gzip, pzstd's
//! skippable frames, bzip2 and lzma work), inputs that never end or hold nothing are refused
//! at once, a decompression bomb trips the ratio guard, `pack` refuses what `install` would,
//! and PAX sparse files and malformed PAX records are refused. Archives are made by the real
//! tools (tar, gzip, zstd, pzstd, xz, bzip2) wherever they can make them.

use crate::common::harden::*;
use crate::common::{tool, Env};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Deterministic incompressible bytes (xorshift64), so that compressors store them as raw
/// blocks and a flipped byte in the middle of the file lands in the payload.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A root holding one good package, and the tarball `pkg-1.0/…` (plain tar bytes) of a
/// package whose payload is mostly incompressible.
fn setup() -> (Env, Vec<u8>) {
    let env = Env::new();
    let good = env.small_package("good", "1");
    env.install(&good, &[]);
    let data = noise(96 << 10, 7);
    let tar = gnu_tar(
        &env,
        "pkg-1.0",
        &[
            ("bin/pkg*", b"#!/bin/sh\necho pkg\n" as &[u8]),
            ("share/noise.bin", &data),
        ],
    );
    (env, tar)
}

const AS_PKG: &[&str] = &[
    "--name",
    "pkg",
    "--version",
    "1.0",
    "--strip-components",
    "1",
];

/// Installs `bytes` (as `<scratch>/<file>`) and expects a refusal with exit `code` whose
/// one line names the archive and holds `needle`; the root must be exactly as before.
#[track_caller]
fn refuse(env: &Env, file: &str, bytes: &[u8], extra: &[&str], code: i32, needle: &str) -> Out {
    let path = artifact(env, file, bytes);
    let before = listing(env.root());
    let mut args = vec!["install", s(&path)];
    args.extend_from_slice(extra);
    let out = berth(env, &args).refused(code, &[s(&path), needle]);
    assert_same(&before, &listing(env.root()), file);
    out
}

/// Installs `bytes` as pkg@1.0 and checks the payload came out exactly.
#[track_caller]
fn accept(env: &Env, file: &str, bytes: &[u8], format: &str) {
    let path = artifact(env, file, bytes);
    let mut args = vec!["--json", "install", s(&path)];
    args.extend_from_slice(AS_PKG);
    let out = berth(env, &args).ok();
    let row = &out.json()[0];
    assert_eq!(row["status"], "installed", "{out}");
    let id = row["id"].as_str().unwrap();
    let entry = env.root().join(format!("store/pkg-1.0-{id}"));
    assert_eq!(
        std::fs::read(entry.join("share/noise.bin")).unwrap(),
        noise(96 << 10, 7)
    );
    let info = berth(env, &["--json", "info", "pkg@1.0"]).ok();
    assert!(info.stdout.contains(&format!("\"{format}\"")), "{info}");
    berth(env, &["verify", "pkg@1.0"]).ok();
    berth(env, &["remove", "pkg@1.0"]).ok();
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x55;
    b
}

/// `program -t` on the file fails too: the corruption is real, not berth's opinion.
fn tool_rejects(env: &Env, program: &str, bytes: &[u8]) {
    let p = artifact(env, &format!("probe.{}", unique()), bytes);
    let st = std::process::Command::new(program)
        .args(["-t", s(&p)])
        .output()
        .unwrap();
    assert!(
        !st.status.success(),
        "{program} -t accepts the corrupted file"
    );
}

#[test]
fn gzip_with_a_bad_crc_size_or_payload_is_refused() {
    let (env, tar) = setup();
    let gz = pipe("gzip", &["-n", "-c"], &tar);
    let n = gz.len();
    for (what, at) in [("crc", n - 8), ("isize", n - 2), ("payload", n / 2)] {
        let bad = flip(&gz, at);
        tool_rejects(&env, "gzip", &bad);
        refuse(&env, &format!("{what}.tar.gz"), &bad, AS_PKG, 6, "corrupt");
    }
    accept(&env, "pkg-1.0.tar.gz", &gz, "tar.gz");
}

#[test]
fn zstd_with_a_bad_content_checksum_or_payload_is_refused() {
    let (env, tar) = setup();
    let zst = pipe("zstd", &["-q", "-c", "--check"], &tar);
    let n = zst.len();
    for (what, at) in [("checksum", n - 1), ("payload", n / 2)] {
        let bad = flip(&zst, at);
        tool_rejects(&env, "zstd", &bad);
        refuse(&env, &format!("{what}.tar.zst"), &bad, AS_PKG, 6, "corrupt");
    }
    accept(&env, "pkg-1.0.tar.zst", &zst, "tar.zst");
}

#[test]
fn xz_with_a_bad_check_or_index_is_refused() {
    let (env, tar) = setup();
    let xz = pipe("xz", &["-c", "--check=crc64"], &tar);
    let n = xz.len();
    // The stream ends with the index (its CRC32 last) and a 12-byte footer.
    for (what, at) in [("payload", n / 2), ("index", n - 13), ("footer", n - 9)] {
        let bad = flip(&xz, at);
        tool_rejects(&env, "xz", &bad);
        let out = refuse(
            &env,
            &format!("{what}.tar.xz"),
            &bad,
            AS_PKG,
            6,
            "cannot read archive",
        );
        assert!(
            out.error_line().contains("corrupt") || out.error_line().contains("format"),
            "{out}"
        );
    }
    accept(&env, "pkg-1.0.tar.xz", &xz, "tar.xz");
}

#[test]
fn bzip2_with_a_bad_block_crc_is_refused() {
    let (env, tar) = setup();
    let bz = pipe("bzip2", &["-c"], &tar);
    let bad = flip(&bz, bz.len() / 2);
    tool_rejects(&env, "bzip2", &bad);
    refuse(&env, "bad.tar.bz2", &bad, AS_PKG, 6, "cannot read archive");
}

#[test]
fn data_after_the_end_of_the_tar_is_refused() {
    let (env, tar) = setup();
    let mut trailing = tar.clone();
    trailing.extend_from_slice(b"#!/bin/sh\nrm -rf /\n");
    refuse(
        &env,
        "trailing.tar",
        &trailing,
        AS_PKG,
        6,
        "data after the end of the tar archive",
    );
    // Inside a compressed stream too, and after the compressed stream.
    let gz = pipe("gzip", &["-n", "-c"], &trailing);
    refuse(
        &env,
        "trailing.tar.gz",
        &gz,
        AS_PKG,
        6,
        "data after the end of the tar archive",
    );
    let zst = pipe("zstd", &["-q", "-c"], &trailing);
    refuse(
        &env,
        "trailing.tar.zst",
        &zst,
        AS_PKG,
        6,
        "data after the end of the tar archive",
    );
    let mut after = pipe("gzip", &["-n", "-c"], &tar);
    after.extend_from_slice(b"junk that is not a gzip member");
    refuse(
        &env,
        "after.tar.gz",
        &after,
        AS_PKG,
        6,
        "cannot read archive",
    );
    let mut after = pipe("zstd", &["-q", "-c"], &tar);
    after.extend_from_slice(b"junk that is not a zstd frame");
    refuse(
        &env,
        "after.tar.zst",
        &after,
        AS_PKG,
        6,
        "cannot read archive",
    );
    let mut after = pipe("xz", &["-c"], &tar);
    after.extend_from_slice(b"junk that is not an xz stream");
    refuse(
        &env,
        "after.tar.xz",
        &after,
        AS_PKG,
        6,
        "cannot read archive",
    );
    // Zero padding (what `tar -b` writes) is fine, up to a limit.
    let mut padded = tar.clone();
    padded.extend(std::iter::repeat_n(0u8, 512 << 10));
    accept(&env, "padded.tar", &padded, "tar");
    padded.extend(std::iter::repeat_n(0u8, 1 << 20));
    refuse(&env, "overpadded.tar", &padded, AS_PKG, 6, "padding");
}

#[test]
fn multi_member_gzip_installs_whole() {
    let (env, tar) = setup();
    // Split at an odd place, as `cat a.gz b.gz` or pigz --independent would.
    let (a, b) = tar.split_at(tar.len() / 3 + 17);
    let mut gz = pipe("gzip", &["-n", "-c"], a);
    gz.extend(pipe("gzip", &["-n", "-c"], b));
    accept(&env, "multi.tar.gz", &gz, "tar.gz");
}

#[test]
fn zstd_starting_with_a_skippable_frame_installs() {
    let (env, tar) = setup();
    // pzstd writes a skippable frame before each frame it compresses.
    let big: Vec<u8> = tar.clone();
    let pz = pipe("pzstd", &["-q", "-c", "-p", "2"], &big);
    assert_eq!(
        &pz[1..4],
        &[0x2a, 0x4d, 0x18],
        "pzstd output starts with a skippable frame"
    );
    accept(&env, "pzstd.tar.zst", &pz, "tar.zst");
    // And one made by hand, with a skippable frame between two frames as well.
    let mut hand = vec![0x5e, 0x2a, 0x4d, 0x18, 5, 0, 0, 0];
    hand.extend_from_slice(b"hello");
    let (a, b) = tar.split_at(4096);
    hand.extend(pipe("zstd", &["-q", "-c"], a));
    hand.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]);
    hand.extend(pipe("zstd", &["-q", "-c"], b));
    accept(&env, "skippable.tar.zst", &hand, "tar.zst");
}

#[test]
fn bzip2_and_lzma_install() {
    let (env, tar) = setup();
    accept(
        &env,
        "pkg.tar.bz2",
        &pipe("bzip2", &["-c"], &tar),
        "tar.bz2",
    );
    // Two bzip2 streams one after the other (what pbzip2 writes).
    let (a, b) = tar.split_at(tar.len() / 2);
    let mut multi = pipe("bzip2", &["-c"], a);
    multi.extend(pipe("bzip2", &["-c"], b));
    accept(&env, "multi.tar.bz2", &multi, "tar.bz2");
    accept(
        &env,
        "pkg.tar.lzma",
        &pipe("xz", &["--format=lzma", "-c"], &tar),
        "tar.lzma",
    );
}

/// Inputs that never end are refused before a byte is read.
#[test]
fn endless_inputs_end_at_once() {
    let env = Env::new();
    let good = env.small_package("good", "1");
    env.install(&good, &[]);
    let fifo = env.dir().join("pipe.tar");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let before = listing(env.root());
    for (input, kind) in [
        (PathBuf::from("/dev/zero"), "a character device"),
        (PathBuf::from("/dev/urandom"), "a character device"),
        (fifo.clone(), "a fifo"),
    ] {
        let c = env.cmd(&["install", s(&input), "--name", "x", "--version", "1"]);
        let out = run_bounded(c, Duration::from_secs(20))
            .refused(6, &[s(&input), &format!("not a regular file ({kind})")]);
        drop(out);
        assert_same(&before, &listing(env.root()), s(&input));
    }
}

/// Archives that hold nothing: a 0-byte file, an all-zero file (an empty tar), and a tar
/// whose every member is stripped away. Refused unless --allow-empty.
#[test]
fn empty_archives_are_refused_unless_allowed() {
    let env = Env::new();
    let good = env.small_package("good", "1");
    env.install(&good, &[]);
    let top_only = gnu_tar(&env, "x", &[("a", b"a\n"), ("b", b"b\n")]);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("zero-bytes.tar", vec![], vec![]),
        ("all-zero.tar", vec![0u8; 10240], vec![]),
        (
            "stripped.tar",
            top_only.clone(),
            vec!["--strip-components", "2"],
        ),
        (
            "stripped.tar.gz",
            pipe("gzip", &["-c"], &top_only),
            vec!["--strip-components", "2"],
        ),
    ];
    for (i, (file, bytes, extra)) in cases.iter().enumerate() {
        let version = format!("{i}");
        let mut args = vec!["--name", "empty", "--version", version.as_str()];
        args.extend_from_slice(extra);
        refuse(&env, file, bytes, &args, 6, "the archive holds no files");
        let out = berth(&env, &["install", s(&env.dir().join(file))]);
        assert_ne!(out.code, 0, "{out}");
        args.push("--allow-empty");
        let path = env.dir().join(file);
        let mut full = vec!["install", s(&path)];
        full.extend_from_slice(&args);
        berth(&env, &full).ok();
        assert!(installed(&env).contains(&format!("empty@{i}")));
    }
    // A .berth package with no files at all, as pack makes it.
    let src = env.dir().join("src/hollow-1");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("berth.toml"),
        "[package]\nname = \"hollow\"\nversion = \"1\"\n",
    )
    .unwrap();
    // pack refuses it as install does (same error, same exit code), unless --allow-empty.
    let r = berth(&env, &["pack", s(&src), "-o", s(env.dir())]);
    assert_eq!(r.code, 6, "{r}");
    assert!(r.stderr.contains("the archive holds no files"), "{r}");
    assert!(r.stderr.contains("--allow-empty"), "{r}");
    let out = env.dir().join("hollow-1.berth");
    assert!(!out.exists(), "nothing written");
    berth(
        &env,
        &["pack", s(&src), "-o", s(env.dir()), "--allow-empty"],
    )
    .ok();
    let pkg = out;
    let bytes = std::fs::read(&pkg).unwrap();
    refuse(
        &env,
        "hollow-1.berth",
        &bytes,
        &[],
        6,
        "the archive holds no files",
    );
    berth(&env, &["install", s(&pkg), "--allow-empty"]).ok();
}

/// A zstd bomb: a few kilobytes that expand to 200 MiB of zeros.
#[test]
fn a_decompression_bomb_trips_the_ratio_guard() {
    use std::io::Write;
    let env = Env::new();
    let good = env.small_package("good", "1");
    env.install(&good, &[]);
    let size: u64 = 200 << 20;
    let mut h = tar::Header::new_gnu();
    h.set_path("bomb/zeros").unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(h.as_bytes()).unwrap();
    std::io::copy(&mut std::io::repeat(0).take(size + 1024), &mut enc).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 64 << 10, "the bomb is {} bytes", bomb.len());
    let out = refuse(
        &env,
        "bomb.tar.zst",
        &bomb,
        &["--name", "bomb", "--version", "1"],
        6,
        "expands more than 1000:1",
    );
    assert!(out.hint_line().unwrap().contains("--max-ratio"), "{out}");
}

use std::io::Read as _;

/// `pack` refuses what `install` would refuse, naming the source file, and writes nothing.
#[test]
fn pack_refuses_what_install_would_refuse() {
    let env = Env::new();
    type Case<'a> = (&'a str, Box<dyn Fn(&Path)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "case",
            Box::new(|d: &Path| {
                std::fs::write(d.join("README"), "a").unwrap();
                std::fs::write(d.join("readme"), "b").unwrap();
            }),
            "collides with",
        ),
        (
            "depth",
            Box::new(|d: &Path| {
                let deep: PathBuf = (0..129).map(|_| "d").collect();
                std::fs::create_dir_all(d.join(&deep)).unwrap();
            }),
            "deeper than 128",
        ),
        (
            "ctrl",
            Box::new(|d: &Path| {
                std::os::unix::fs::symlink("a\u{1b}[2Jb", d.join("link")).unwrap();
            }),
            "control character",
        ),
        (
            "backslash",
            Box::new(|d: &Path| {
                std::os::unix::fs::symlink("..\\..\\etc", d.join("link")).unwrap();
            }),
            "backslash",
        ),
        (
            "reserved",
            Box::new(|d: &Path| {
                std::fs::create_dir(d.join(".BERTH")).unwrap();
                std::fs::write(d.join(".BERTH/manifest.toml"), "x").unwrap();
            }),
            "reserved",
        ),
        (
            "long",
            Box::new(|d: &Path| {
                std::os::unix::fs::symlink("x".repeat(300), d.join("link")).unwrap();
            }),
            "component longer than 255",
        ),
        (
            "escape",
            Box::new(|d: &Path| {
                std::os::unix::fs::symlink("../../etc/passwd", d.join("link")).unwrap();
            }),
            "points outside the package",
        ),
    ];
    for (tag, make, needle) in cases {
        let src = env.source(&format!("p{tag}"), "1", &[("bin/ok*", b"#!/bin/sh\n")]);
        make(&src);
        let out_dir = env.dir().join(format!("out-{tag}"));
        std::fs::create_dir(&out_dir).unwrap();
        let out = berth(&env, &["pack", s(&src), "-o", s(&out_dir)]).refused(6, &[needle]);
        assert!(out.error_line().contains(s(&src)), "{out}");
        assert!(
            std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "{tag}: pack left a file"
        );
    }
}

/// A sparse file with holes (tmpfs and ext4 report them), so GNU tar stores it sparse.
fn sparse_file(dir: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    std::fs::create_dir_all(dir).unwrap();
    let mut f = std::fs::File::create(dir.join("holey")).unwrap();
    f.seek(SeekFrom::Start(4 << 20)).unwrap();
    f.write_all(b"data after a hole\n").unwrap();
    f.set_len(8 << 20).unwrap();
}

/// GNU tar's PAX sparse formats 0.0, 0.1 and 1.0: the tar crate would install the sparse
/// map as content; berth refuses them like GNU sparse members.
#[test]
fn pax_sparse_files_are_refused() {
    let env = Env::new();
    let good = env.small_package("good", "1");
    env.install(&good, &[]);
    let src = env.dir().join("sparse-src");
    sparse_file(&src.join("top"));
    for version in ["0.0", "0.1", "1.0"] {
        let tar = tool(
            &src,
            "tar",
            &[
                "--sparse",
                "--format=pax",
                &format!("--sparse-version={version}"),
                "-cf",
                "-",
                "top",
            ],
        );
        assert!(
            tar.windows(11).any(|w| w == b"GNU.sparse."),
            "tar did not write a sparse member (filesystem without holes?)"
        );
        refuse(
            &env,
            &format!("sparse-{version}.tar"),
            &tar,
            &["--name", "sparse", "--version", version],
            6,
            "sparse file entries are not allowed",
        );
    }
}

/// A PAX extended header with the given raw data, then a file member and the end blocks.
fn pax_tar(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut x = tar::Header::new_ustar();
    x.set_path("PaxHeaders/f").unwrap();
    x.set_entry_type(tar::EntryType::XHeader);
    x.set_size(records.len() as u64);
    x.set_mode(0o644);
    x.set_cksum();
    out.extend_from_slice(x.as_bytes());
    out.extend_from_slice(records);
    out.resize(out.len().div_ceil(512) * 512, 0);
    let mut h = tar::Header::new_ustar();
    h.set_path("f").unwrap();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(b"hi\n");
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

#[test]
fn malformed_pax_records_are_refused() {
    let env = Env::new();
    let good = env.small_package("good", "1");
    env.install(&good, &[]);
    let args = ["--name", "pax", "--version", "1"];
    // The well-formed one installs (so the refusals below are about the records alone).
    let ok = pax_tar(b"14 path=f.txt\n");
    let path = artifact(&env, "good-pax.tar", &ok);
    berth(
        &env,
        &["install", s(&path), "--name", "pax", "--version", "0"],
    )
    .ok();
    for (tag, records) in [
        ("short", &b"13 path=f.txt\n"[..]),
        ("long", &b"15 path=f.txt\n"[..]),
        ("nonewline", &b"14 path=f.txtx"[..]),
        ("noequals", &b"13 pathf.txt\n"[..]),
        ("nolength", &b"path=f.txt\n"[..]),
        ("hidden", &b"\n14 path=f.txt\n"[..]),
    ] {
        refuse(
            &env,
            &format!("pax-{tag}.tar"),
            &pax_tar(records),
            &args,
            6,
            "PAX",
        );
    }
}

/// A header whose numeric field holds an escape sequence and a newline (what a corrupted
/// stream can decode to): refused on one line, shown escaped, with its hint.
#[test]
fn a_broken_header_is_reported_on_one_escaped_line() {
    let env = Env::new();
    env.install(&env.small_package("good", "1"), &[]);
    let mut h = tar::Header::new_ustar();
    h.set_path("f").unwrap();
    h.set_size(3);
    h.set_mode(0o644);
    h.as_mut_bytes()[124..136].copy_from_slice(b"\x1b[2J\nrm -rf ");
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[b'x'; 512]);
    tar.extend_from_slice(&[0; 1024]);
    let out = refuse(
        &env,
        "broken.tar",
        &tar,
        &["--name", "b", "--version", "1"],
        6,
        "cannot read archive",
    );
    assert!(
        !out.stderr.contains('\u{1b}'),
        "raw escape on stderr: {out}"
    );
    assert_eq!(
        out.stderr.lines().count(),
        2,
        "not one line and a hint: {out}"
    );
}
