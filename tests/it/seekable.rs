//! The seekable `.berth` (issue 12): still a plain `.tar.zst` that GNU tar extracts as it
//! is, but framed per member with the zstd seek table in a trailing skippable frame, so an
//! install links the members the store already holds without decoding them, and still
//! decodes, hashes and checks every other member.

use crate::common::crash::Rng;
use crate::common::harden::{artifact, assert_same, berth, content_listing, listing, s};
use crate::common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `n` incompressible bytes from `seed` (zstd stores them as raw blocks).
fn random(seed: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    Rng(seed * 2 + 1).fill(&mut b);
    b
}

/// A package source with what framing must keep: small files that share frames, large
/// files in frames of their own (`share/big1.bin`, `share/big2.bin` the same in every
/// version, `share/changing.bin` not), an executable, an empty file, nested directories, a
/// symlink and a path longer than a ustar header holds.
fn source(env: &Env, version: &str) -> PathBuf {
    let long = format!("share/{}/deep.txt", "long-directory-name".repeat(6));
    let changing = random(1000 + u64::from(version.as_bytes()[0]), 150_000);
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("bin/tool*".into(), b"#!/bin/sh\necho tool\n".to_vec()),
        ("share/big1.bin".into(), random(1, 300_000)),
        ("share/big2.bin".into(), random(2, 70_000)),
        ("share/changing.bin".into(), changing),
        ("share/empty".into(), Vec::new()),
        (
            "share/doc/README".into(),
            format!("version {version}\n").into_bytes(),
        ),
        (long, bytes("long", 20_000)),
    ];
    for i in 0..200 {
        files.push((
            format!("share/small/f{i:03}.txt"),
            bytes(&format!("s{i}"), 300),
        ));
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let src = env.source("seek", version, &refs);
    std::os::unix::fs::symlink("big1.bin", src.join("share/link")).unwrap();
    src
}

/// The installed entry directory of `seek@version`.
fn entry(env: &Env, version: &str) -> PathBuf {
    let prefix = format!("seek-{version}-");
    let name = children(&env.store())
        .into_iter()
        .find(|n| n.starts_with(&prefix))
        .unwrap_or_else(|| panic!("seek@{version} is not installed"));
    env.store().join(name)
}

/// Alters bytes near the end of `member`'s own frame (past its header's block, before the
/// frame's checksum), checks that a zstd decoder now refuses that frame, and writes the
/// result to `<scratch>/<name>`.
fn tamper(env: &Env, pkg: &Path, member: &str, name: &str) -> PathBuf {
    let mut b = std::fs::read(pkg).unwrap();
    let f = frame_of_member(&b, member);
    let at = (f.offset + f.compressed - 2000) as usize;
    for x in &mut b[at..at + 16] {
        *x ^= 0x5a;
    }
    let frame = &b[f.offset as usize..(f.offset + f.compressed) as usize];
    assert!(zstd::decode_all(frame).is_err(), "the frame still decodes");
    let out = env.dir().join(name);
    std::fs::write(&out, &b).unwrap();
    out
}

#[test]
fn gnu_tar_extracts_a_seekable_berth_as_its_source() {
    let env = Env::new();
    let src = source(&env, "1");
    let pkg = env.pack(&src);
    let b = std::fs::read(&pkg).unwrap();
    let frames = seek_frames(&b).expect("pack writes a seek table");
    assert!(frames.len() > 5, "one frame per large member: {frames:?}");
    frame_of_member(&b, "share/big1.bin");
    let out = env.dir().join("untarred");
    std::fs::create_dir(&out).unwrap();
    tool(
        env.dir(),
        "tar",
        &["-I", "zstd", "-xf", s(&pkg), "-C", s(&out)],
    );
    let mut want = content_listing(&src);
    want.remove("berth.toml");
    let mut got = content_listing(&out);
    assert!(got.contains_key(".berth/files"), "{got:?}");
    got.retain(|k, _| !k.starts_with(".berth"));
    assert_same(&want, &got, "GNU tar's extraction of the seekable .berth");
    // Packing again gives the same bytes (frames and table are cut the same way).
    let again = env.dir().join("again.berth");
    env.ok(&["pack", s(&src), "-o", s(&again)]);
    assert_eq!(std::fs::read(&again).unwrap(), b, "pack is reproducible");
    // zstd itself reads it whole (frames, then the skippable seek-table frame).
    tool(env.dir(), "zstd", &["-q", "-t", s(&pkg)]);
    // And berth installs it into a fresh root, every member decoded and checked.
    env.install(&pkg, &[]);
    berth(&env, &["verify"]).ok();
}

#[test]
fn pooled_members_are_linked_undecoded_even_when_their_frames_were_altered() {
    let env = Env::new();
    env.install(&env.pack(&source(&env, "1")), &[]);
    let v2 = env.pack(&source(&env, "2"));
    let bad = tamper(&env, &v2, "share/big1.bin", "v2-tampered-unchanged.berth");
    // Into a root that does not hold big1.bin, the altered frame is decoded and refused.
    let fresh = Env::new();
    fresh.install(&fresh.small_package("other", "1"), &[]);
    let before = listing(fresh.root());
    let out = berth(&fresh, &["install", s(&bad)]);
    assert_eq!(out.code, 6, "refused input:\n{out}");
    assert_same(&before, &listing(fresh.root()), "refused install");
    // On v1, big1.bin is pooled: linked from the pool, its frame never decoded.
    env.install(&bad, &[]);
    berth(&env, &["verify"]).ok();
    let (e1, e2) = (entry(&env, "1"), entry(&env, "2"));
    let big = "share/big1.bin";
    assert_eq!(std::fs::read(e2.join(big)).unwrap(), random(1, 300_000));
    let ino = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
    assert_eq!(
        ino(e1.join(big)),
        ino(e2.join(big)),
        "linked to v1's object"
    );
    // The entry is the one the untampered package makes: same id.
    let id = e2.file_name().unwrap().to_owned();
    let other = Env::new();
    other.install(&v2, &[]);
    assert_eq!(entry(&other, "2").file_name().unwrap(), id);
}

#[test]
fn an_altered_frame_of_a_changed_member_is_refused() {
    let env = Env::new();
    env.install(&env.pack(&source(&env, "1")), &[]);
    let v2 = env.pack(&source(&env, "2"));
    let bad = tamper(&env, &v2, "share/changing.bin", "v2-tampered-changed.berth");
    let before = listing(env.root());
    let out = berth(&env, &["install", s(&bad)]);
    assert_eq!(out.code, 6, "refused input:\n{out}");
    assert!(out.stderr.contains(s(&bad)), "{out}");
    assert_eq!(
        out.stderr.lines().count(),
        2,
        "one error line and its hint:\n{out}"
    );
    assert_same(&before, &listing(env.root()), "refused install");
}

#[test]
fn a_seek_table_that_does_not_match_its_frames_is_refused() {
    let env = Env::new();
    env.install(&env.small_package("other", "1"), &[]);
    let pkg = env.pack(&source(&env, "1"));
    let good = std::fs::read(&pkg).unwrap();
    let n = seek_frames(&good).unwrap().len();
    let table = good.len() - 9 - n * 8 - 8;
    // Frame 0 (the metadata) said to decode to one byte more than it does.
    let mut lying = good.clone();
    let d0 = table + 8 + 4;
    lying[d0] = lying[d0].wrapping_add(1);
    let lying = artifact(&env, "lying-table.berth", &lying);
    let before = listing(env.root());
    let out = berth(&env, &["install", s(&lying)]).refused(6, &["seek table"]);
    assert!(out.stderr.contains("lying-table.berth"), "{out}");
    assert_same(&before, &listing(env.root()), "refused install");
    // A table that does not describe the file (a frame size off) is not used: the file is
    // decoded whole like any .tar.zst, and installs.
    let mut off = good.clone();
    let c0 = table + 8;
    off[c0] = off[c0].wrapping_add(1);
    let off = artifact(&env, "table-off.berth", &off);
    env.install(&off, &[]);
    berth(&env, &["verify"]).ok();
}

/// Members under 16 KiB share frames: a frame that holds a changed member is decoded, and
/// the unchanged members in it whose listed content is pooled are linked from the pool
/// without hashing their data (`trust_pool`). v2 changes a few small files (same size,
/// larger, smaller) in frames shared with unchanged ones: every file of v2's entry must
/// have v2's bytes (the skipped data must not shift what follows), the unchanged ones must
/// be v1's pool objects, and both entries must verify.
#[test]
fn small_members_in_shared_frames_link_unchanged_and_write_changed_ones() {
    let env = Env::new();
    let changed = [3usize, 4, 5, 60, 61, 119];
    let src = |version: &str| {
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("share/big.bin".into(), random(7, 200_000)),
            ("share/big-text".into(), bytes("big", 40_000)),
            ("bin/tool*".into(), b"#!/bin/sh\necho tool\n".to_vec()),
        ];
        for i in 0..120usize {
            // 1 byte to just under OWN_FRAME (16 KiB), so frames hold a few to dozens.
            let size = 1 + (i * 7919) % 16_383;
            let mut body = bytes(&format!("f{i}"), size);
            if version == "2" && changed.contains(&i) {
                body = match i % 3 {
                    0 => bytes(&format!("f{i} v2"), size),
                    1 => bytes(&format!("f{i} v2"), size + 1000),
                    _ => bytes(&format!("f{i} v2"), size / 2),
                };
            }
            files.push((format!("share/small/f{i:03}"), body));
        }
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        env.source("frames", version, &refs)
    };
    let (src1, src2) = (src("1"), src("2"));
    let (p1, p2) = (env.pack(&src1), env.pack(&src2));
    // The test is about shared frames: each changed file shares its frame with unchanged ones.
    let frames = member_frames(&std::fs::read(&p2).unwrap());
    let small = |i: usize| format!("share/small/f{i:03}");
    for &c in &changed {
        let f = frames[&small(c)];
        assert!(
            (0..120)
                .filter(|i| !changed.contains(i))
                .any(|i| frames[&small(i)] == f),
            "{} is alone in frame {f}: {frames:?}",
            small(c)
        );
    }
    assert!(
        frames.values().max().unwrap() > &5,
        "several frames: {frames:?}"
    );
    env.install(&p1, &[]);
    env.install(&p2, &[]);
    let entry = |v: &str| {
        let prefix = format!("frames-{v}-");
        env.store().join(
            children(&env.store())
                .into_iter()
                .find(|n| n.starts_with(&prefix))
                .unwrap(),
        )
    };
    let (e1, e2) = (entry("1"), entry("2"));
    for (src, e, what) in [(&src1, &e1, "v1"), (&src2, &e2, "v2")] {
        let mut want = content_listing(src);
        want.remove("berth.toml");
        let mut got = content_listing(e);
        got.retain(|k, _| !k.starts_with(".berth"));
        assert_same(&want, &got, &format!("{what}'s entry"));
    }
    let ino = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
    let pool = pool_inodes(env.root());
    let dev = std::fs::metadata(&e1).unwrap().dev();
    for i in 0..120 {
        let (a, b) = (ino(e1.join(small(i))), ino(e2.join(small(i))));
        if changed.contains(&i) {
            assert_ne!(a, b, "{} changed in v2", small(i));
        } else {
            assert_eq!(a, b, "{} is v1's object", small(i));
        }
        assert!(
            pool.contains(&(dev, b)),
            "{} of v2 is in the pool",
            small(i)
        );
    }
    for big in ["share/big.bin", "share/big-text", "bin/tool"] {
        assert_eq!(ino(e1.join(big)), ino(e2.join(big)), "{big}");
    }
    berth(&env, &["verify", "frames@1"]).ok();
    berth(&env, &["verify", "frames@2"]).ok();
}
