//! Hostile archives (DESIGN.md, invariant 6; issue 2, point 6). Every archive is built here,
//! header by header, and the real binary installs it into a temporary root that already
//! holds one good package. A refusal must exit 6 with one `error:` line naming the archive
//! and the member and saying why; write nothing outside the root; leave the store listing
//! as it was; and leave no staging behind.

use crate::common::refuse::path_str;
use crate::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

// ---------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_absolute_path() {
    let env = Env::with_good_package();
    let target = env.canary().join("pwned");
    let name = path_str(&target).to_string();
    let tar = Tar::new()
        .file("ok.txt", b"ok\n")
        .file(&name, b"owned\n")
        .finish();
    env.refuse("abs.tar", &tar, &[], Some(&name), "absolute path");
    assert!(!target.exists());
}

#[test]
fn refuses_backslash_in_name() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("..\\..\\escape", b"x").finish();
    env.refuse(
        "backslash.tar",
        &tar,
        &[],
        Some("..\\..\\escape"),
        "backslash in path",
    );
}

#[test]
fn refuses_dotdot_component_instead_of_skipping_it() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("ok.txt", b"fine\n")
        .file("sub/../../escape", b"x")
        .finish();
    env.refuse(
        "dotdot.tar",
        &tar,
        &[],
        Some("sub/../../escape"),
        "`..` component",
    );
}

#[test]
fn refuses_dotdot_even_when_it_stays_inside() {
    // `a/../b` resolves inside, but `..` is refused, never normalised or skipped.
    let env = Env::with_good_package();
    let tar = Tar::new().file("a/../b", b"x").finish();
    env.refuse(
        "dotdot-inside.tar",
        &tar,
        &[],
        Some("a/../b"),
        "`..` component",
    );
}

#[test]
fn refuses_dotdot_hidden_in_pax_path() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .pax(&[("path", b"../escape")])
        .file("innocent.txt", b"x")
        .finish();
    env.refuse(
        "pax-path.tar",
        &tar,
        &[],
        Some("../escape"),
        "`..` component",
    );
}

#[test]
fn refuses_dotdot_hidden_in_gnu_long_name() {
    let env = Env::with_good_package();
    let long = format!("{}/../../../escape", "d".repeat(120));
    let tar = Tar::new()
        .gnu_longname(long.as_bytes())
        .file("innocent.txt", b"x")
        .finish();
    env.refuse("gnu-long.tar", &tar, &[], Some(&long), "`..` component");
}

#[test]
fn refuses_empty_name() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("", b"nameless").finish();
    env.refuse("empty.tar", &tar, &[], Some(""), "empty name");
}

#[test]
fn refuses_file_named_dot() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("./", b"x").finish();
    env.refuse("dot.tar", &tar, &[], Some("./"), "empty name");
}

#[test]
fn refuses_non_utf8_name() {
    let env = Env::with_good_package();
    let tar = Tar::new().file(b"caf\xe9.txt", b"x").finish();
    let err = env.refuse("latin1.tar", &tar, &[], None, "name is not valid UTF-8");
    assert!(err.contains("caf\u{fffd}.txt"), "member not named: {err}");
}

#[test]
fn refuses_control_character_in_name() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("bell\x07.txt", b"x").finish();
    env.refuse(
        "ctrl.tar",
        &tar,
        &[],
        Some("bell?.txt"),
        "control character in name",
    );
}

#[test]
fn refuses_newline_in_name_without_forging_a_second_error_line() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("a\nerror: forged", b"x").finish();
    // `refuse` checks there is exactly one `error:` line.
    env.refuse(
        "newline.tar",
        &tar,
        &[],
        Some("a?error: forged"),
        "control character in name",
    );
}

#[test]
fn refuses_path_deeper_than_128_components() {
    let env = Env::with_good_package();
    let deep = vec!["d"; 128].join("/") + "/f";
    let tar = Tar::new()
        .pax(&[("path", deep.as_bytes())])
        .file("placeholder", b"x")
        .finish();
    env.refuse(
        "deep.tar",
        &tar,
        &[],
        Some(&deep),
        "path deeper than 128 components",
    );
}

#[test]
fn accepts_path_of_exactly_128_components() {
    let env = Env::with_good_package();
    let deep = vec!["d"; 127].join("/") + "/f";
    let tar = Tar::new()
        .pax(&[("path", deep.as_bytes())])
        .file("placeholder", b"x")
        .finish();
    env.install_ok("deep-ok.tar", &tar, &[]);
    assert!(env.entry_named("fine").join(&deep).is_file());
}

// ---------------------------------------------------------------------------------------
// Symlinks.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_symlink_with_absolute_target() {
    let env = Env::with_good_package();
    let tar = Tar::new().symlink("etc", "/etc").finish();
    env.refuse(
        "symabs.tar",
        &tar,
        &[],
        Some("etc"),
        "symlink target `/etc` is absolute",
    );
}

#[test]
fn refuses_symlink_climbing_out_of_the_package() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("sub")
        .symlink("sub/up", "../../canary")
        .finish();
    env.refuse(
        "symclimb.tar",
        &tar,
        &[],
        Some("sub/up"),
        "symlink target `../../canary` points outside the package",
    );
}

#[test]
fn refuses_symlink_climbing_after_descending() {
    // `l/..` would resolve from wherever `l` leads.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .symlink("l", "a/b")
        .dir("a")
        .symlink("a/m", "l/..")
        .finish();
    env.refuse(
        "symdescend.tar",
        &tar,
        &[],
        Some("a/m"),
        "points outside the package",
    );
}

#[test]
fn refuses_member_through_symlink_of_the_archive() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("real")
        .symlink("link", "real")
        .file("link/file", b"written through a link")
        .finish();
    env.refuse(
        "through.tar",
        &tar,
        &[],
        Some("link/file"),
        "path passes through symlink `link` of the archive",
    );
}

#[test]
fn refuses_member_through_symlink_named_with_trailing_slash() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("real")
        .symlink("link/", "real")
        .file("link/file", b"x")
        .finish();
    env.refuse(
        "through-slash.tar",
        &tar,
        &[],
        Some("link/file"),
        "path passes through symlink `link` of the archive",
    );
}

#[test]
fn refuses_member_through_symlink_with_dot_and_double_slash() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("real")
        .symlink("link", "real")
        .file(".//link//./file", b"x")
        .finish();
    env.refuse(
        "through-dots.tar",
        &tar,
        &[],
        Some(".//link//./file"),
        "path passes through symlink `link` of the archive",
    );
}

#[test]
fn refuses_directory_member_replacing_a_symlink() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("real")
        .symlink("link", "real")
        .dir("link/")
        .file("link/file", b"x")
        .finish();
    env.refuse(
        "dir-over-link.tar",
        &tar,
        &[],
        Some("link/"),
        "duplicate member",
    );
}

#[test]
fn refuses_member_through_case_folded_symlink() {
    // safearchive's case-insensitive.tar: `tmp -> …`, then `Tmp/…`.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("real")
        .symlink("tmp", "real")
        .file("Tmp/test-file", b"x")
        .finish();
    env.refuse(
        "case-link.tar",
        &tar,
        &[],
        Some("Tmp/test-file"),
        "collides with `tmp` when case is folded",
    );
}

// ---------------------------------------------------------------------------------------
// Hard links.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_hardlink_to_outside() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("ok.txt", b"x")
        .hardlink("passwd", "../../canary/keep.txt")
        .finish();
    env.refuse(
        "hl-out.tar",
        &tar,
        &[],
        Some("passwd"),
        "hard link target `../../canary/keep.txt` is outside the package",
    );
}

#[test]
fn refuses_hardlink_to_absolute_path() {
    let env = Env::with_good_package();
    let target = env.canary().join("keep.txt");
    let tar = Tar::new().hardlink("keep", path_str(&target)).finish();
    env.refuse(
        "hl-abs.tar",
        &tar,
        &[],
        Some("keep"),
        "is outside the package",
    );
    assert_eq!(std::fs::metadata(&target).unwrap().nlink(), 1);
}

#[test]
fn refuses_hardlink_to_a_symlink() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("f", b"x")
        .symlink("s", "f")
        .hardlink("h", "s")
        .finish();
    env.refuse(
        "hl-sym.tar",
        &tar,
        &[],
        Some("h"),
        "hard link target `s` is not a regular file extracted earlier (it is a symlink)",
    );
}

#[test]
fn refuses_hardlink_to_a_directory() {
    let env = Env::with_good_package();
    let tar = Tar::new().dir("d").hardlink("h", "d").finish();
    env.refuse("hl-dir.tar", &tar, &[], Some("h"), "(it is a directory)");
}

#[test]
fn refuses_hardlink_to_a_member_not_yet_extracted() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .hardlink("early", "later")
        .file("later", b"x")
        .finish();
    env.refuse(
        "hl-later.tar",
        &tar,
        &[],
        Some("early"),
        "(no such member before it)",
    );
}

#[test]
fn refuses_hardlink_through_strip_components_to_outside() {
    // With one component stripped, `pkg` itself is no longer part of the package.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("pkg/f", b"x")
        .hardlink("pkg/h", "pkg")
        .finish();
    env.refuse(
        "hl-strip.tar",
        &tar,
        &["--strip-components", "1"],
        Some("pkg/h"),
        "hard link target `pkg` is outside the package",
    );
}

#[test]
fn accepts_hardlink_to_earlier_file_in_the_package() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("f", b"shared\n")
        .hardlink("h", "f")
        .finish();
    env.install_ok("hl-ok.tar", &tar, &[]);
    let dir = env.entry_named("fine");
    let (a, b) = (
        std::fs::metadata(dir.join("f")).unwrap(),
        std::fs::metadata(dir.join("h")).unwrap(),
    );
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
}

// ---------------------------------------------------------------------------------------
// Entry types.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_character_device() {
    let env = Env::with_good_package();
    let tar = Tar::new().typed("null", b'3').finish();
    env.refuse(
        "chr.tar",
        &tar,
        &[],
        Some("null"),
        "character device entries are not allowed",
    );
}

#[test]
fn refuses_block_device() {
    let env = Env::with_good_package();
    let tar = Tar::new().typed("sda", b'4').finish();
    env.refuse(
        "blk.tar",
        &tar,
        &[],
        Some("sda"),
        "block device entries are not allowed",
    );
}

#[test]
fn refuses_fifo() {
    let env = Env::with_good_package();
    let tar = Tar::new().typed("pipe", b'6').finish();
    env.refuse(
        "fifo.tar",
        &tar,
        &[],
        Some("pipe"),
        "fifo entries are not allowed",
    );
}

#[test]
fn refuses_gnu_sparse_file() {
    let env = Env::with_good_package();
    let mut h = ::tar::Header::new_gnu();
    h.set_path("holey").unwrap();
    h.set_entry_type(::tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_size(512);
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(1 << 20);
        gnu.sparse[0].set_length(512);
        gnu.set_real_size((1 << 20) + 512);
    }
    h.set_cksum();
    let mut raw = [0u8; BLOCK];
    raw.copy_from_slice(h.as_bytes());
    let tar = Tar::new().raw(raw, &[7u8; 512]).finish();
    env.refuse(
        "sparse.tar",
        &tar,
        &[],
        Some("holey"),
        "sparse file entries are not allowed",
    );
}

#[test]
fn refuses_unknown_entry_type() {
    let env = Env::with_good_package();
    let tar = Tar::new().typed("mystery", b'Q').finish();
    env.refuse(
        "unknown.tar",
        &tar,
        &[],
        Some("mystery"),
        "unsupported entry type",
    );
}

// ---------------------------------------------------------------------------------------
// Duplicates and collisions.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_duplicate_member() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("bin/tool", b"first")
        .file("bin/tool", b"second, overwriting")
        .finish();
    env.refuse("dup.tar", &tar, &[], Some("bin/tool"), "duplicate member");
}

#[test]
fn refuses_duplicate_spelled_differently() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("a/b", b"1").file("./a//b", b"2").finish();
    env.refuse(
        "dup-spelling.tar",
        &tar,
        &[],
        Some("./a//b"),
        "duplicate member",
    );
}

#[test]
fn refuses_names_colliding_when_case_folded() {
    // safearchive's winshort.tar.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("Androi~2", b"1")
        .file("ANDROI~2", b"2")
        .finish();
    env.refuse(
        "casefold.tar",
        &tar,
        &[],
        Some("ANDROI~2"),
        "collides with `Androi~2` when case is folded",
    );
}

#[test]
fn refuses_file_under_a_file() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("a", b"1").file("a/b", b"2").finish();
    env.refuse(
        "under-file.tar",
        &tar,
        &[],
        Some("a/b"),
        "`a` is a file in this archive",
    );
}

// ---------------------------------------------------------------------------------------
// Headers and limits.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_pax_size_disagreeing_with_ustar_size() {
    // Readers that trust the ustar size see one member; readers that trust PAX see
    // another member hidden in its data (TARmageddon).
    let env = Env::with_good_package();
    let hidden = ustar(b"hidden", b'0', 0o644, 4, b"");
    let mut smuggled = hidden.to_vec();
    smuggled.extend_from_slice(b"evil");
    smuggled.resize(1024, 0);
    let tar = Tar::new()
        .pax(&[("size", b"0")])
        .raw(ustar(b"outer", b'0', 0o644, 1024, b""), &smuggled)
        .finish();
    env.refuse(
        "pax-size.tar",
        &tar,
        &[],
        Some("outer"),
        "PAX size 0 disagrees with header size 1024",
    );
}

#[test]
fn refuses_pax_size_that_is_not_a_number() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .pax(&[("size", b"12abc")])
        .file("outer", b"x")
        .finish();
    env.refuse(
        "pax-nan.tar",
        &tar,
        &[],
        Some("outer"),
        "PAX size `12abc` is not a number",
    );
}

#[test]
fn refuses_archive_over_max_unpacked_size() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("a", &[1u8; 600])
        .file("b", &[2u8; 600])
        .finish();
    env.refuse(
        "big.tar",
        &tar,
        &["--max-unpacked-size", "1000"],
        Some("b"),
        "unpacked size exceeds the limit of 1000 bytes",
    );
}

#[test]
fn refuses_archive_over_max_entries() {
    let env = Env::with_good_package();
    let mut t = Tar::new();
    for i in 0..6 {
        t = t.file(format!("f{i}"), b"x");
    }
    env.refuse(
        "many.tar",
        &t.finish(),
        &["--max-entries", "5"],
        Some("f5"),
        "more than 5 entries",
    );
}

#[test]
fn refuses_zstd_window_above_2_pow_27() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("f", &[b'z'; 4096]).finish();
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(28).unwrap();
    enc.include_contentsize(false).unwrap();
    for chunk in tar.chunks(1000) {
        std::io::Write::write_all(&mut enc, chunk).unwrap();
    }
    let zst = enc.finish().unwrap();
    // The frame really declares a 2^28 window: no single-segment flag, window exponent 18.
    assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(
        zst[4] & 0x20,
        0,
        "single-segment frame has no window descriptor"
    );
    assert!(
        (zst[5] >> 3) as u32 + 10 >= 28,
        "window descriptor {:#x}",
        zst[5]
    );
    let err = env.refuse("window-1.tar.zst", &zst, &[], None, "zstd window");
    assert!(err.contains("2^27"), "limit not named: {err}");
}

#[test]
fn refuses_xz_stream_needing_more_than_128_mib() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("f", b"hello\n").finish();
    let plain = env.dir().join("x.tar");
    std::fs::write(&plain, &tar).unwrap();
    let st = std::process::Command::new("xz")
        .args(["--lzma2=dict=512MiB", "-k", "-f"])
        .arg(&plain)
        .status()
        .expect("xz is installed");
    assert!(st.success());
    let xz = std::fs::read(env.dir().join("x.tar.xz")).unwrap();
    let err = env.refuse(
        "big-dict-1.tar.xz",
        &xz,
        &[],
        None,
        "xz stream needs more than",
    );
    assert!(err.contains("128 MiB"), "limit not named: {err}");
}

// ---------------------------------------------------------------------------------------
// Modes.
// ---------------------------------------------------------------------------------------

#[test]
fn drops_setuid_setgid_and_sticky_bits_with_a_warning() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .dir("bin")
        .file_mode("bin/suid", b"#!/bin/sh\n", 0o4755)
        .file_mode("bin/sgid", b"#!/bin/sh\n#g\n", 0o2755)
        .file_mode("sticky", b"s\n", 0o1644)
        .file_mode("plain", b"p\n", 0o644)
        .finish();
    let (_, err) = env.install_ok("modes.tar", &tar, &[]);
    for f in ["bin/suid", "bin/sgid", "sticky"] {
        assert!(
            err.lines().any(|l| l.starts_with("warning:")
                && l.contains(&format!("`{f}`"))
                && l.contains("setuid/setgid/sticky")),
            "no warning naming {f}:\n{err}"
        );
    }
    assert!(
        !err.contains("`plain`"),
        "warned about a plain file:\n{err}"
    );
    let dir = env.entry_named("fine");
    for (f, exec) in [
        ("bin/suid", true),
        ("bin/sgid", true),
        ("sticky", false),
        ("plain", false),
    ] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, if exec { 0o555 } else { 0o444 }, "{f}: mode {mode:o}");
    }
}

// ---------------------------------------------------------------------------------------
// The `.berth` format: every member must match `.berth/files`.
// ---------------------------------------------------------------------------------------

const MANIFEST: &str = "[package]\nname = \"listed\"\nversion = \"1.0\"\n";

/// A file-list line for a regular file.
fn listed_file(path: &str, mode: u32, data: &[u8]) -> String {
    format!(
        "f\t{mode:o}\t{}\t{}\t{path}\n",
        data.len(),
        sha256_hex(data)
    )
}

/// A `.berth` package from a file list and the payload members that follow it.
fn berth_package(list: &str, payload: Tar) -> Vec<u8> {
    let mut t = Tar::new()
        .file(".berth/manifest.toml", MANIFEST.as_bytes())
        .file(".berth/files", list.as_bytes());
    t.buf.extend_from_slice(&payload.buf);
    zstd_compress(&t.finish())
}

fn good_list() -> String {
    [
        "d\t755\t0\t-\tbin\n".to_string(),
        listed_file("bin/app", 0o755, b"#!/bin/sh\necho app\n"),
        listed_file("data.txt", 0o644, b"data\n"),
    ]
    .concat()
}

fn good_payload() -> Tar {
    Tar::new()
        .dir("bin")
        .file_mode("bin/app", b"#!/bin/sh\necho app\n", 0o755)
        .file("data.txt", b"data\n")
}

#[test]
fn accepts_berth_package_matching_its_list() {
    // The control for the cases below: the same list and payload, untampered.
    let env = Env::with_good_package();
    env.install_ok(
        "listed-1.0.berth",
        &berth_package(&good_list(), good_payload()),
        &[],
    );
    assert!(env.entry_named("listed").join("bin/app").is_file());
}

#[test]
fn refuses_berth_member_with_wrong_sha256() {
    let env = Env::with_good_package();
    let payload = Tar::new()
        .dir("bin")
        .file_mode("bin/app", b"#!/bin/sh\necho app\n", 0o755)
        .file("data.txt", b"DATA\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some("data.txt"),
        "does not match .berth/files: sha256 is",
    );
}

#[test]
fn refuses_berth_member_with_wrong_sha256_followed_by_more_members() {
    // The hash is checked off the decoding thread: the error must still name the member
    // that differs, not whichever member came next.
    let env = Env::with_good_package();
    let list = [
        listed_file("a.txt", 0o644, b"aaaa\n"),
        listed_file("b.txt", 0o644, b"bbbb\n"),
        listed_file("c.txt", 0o644, b"cccc\n"),
    ]
    .concat();
    let payload = Tar::new()
        .file("a.txt", b"AAAA\n")
        .file("b.txt", b"bbbb\n")
        .file("c.txt", b"cccc\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&list, payload),
        &[],
        Some("a.txt"),
        "sha256 is",
    );
}

#[test]
fn refuses_berth_member_with_wrong_size() {
    let env = Env::with_good_package();
    let payload = Tar::new()
        .dir("bin")
        .file_mode("bin/app", b"#!/bin/sh\necho app\n", 0o755)
        .file("data.txt", b"data and more\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some("data.txt"),
        "listed as a file of 5 bytes, archive has a file of 14 bytes",
    );
}

#[test]
fn refuses_berth_member_with_wrong_mode() {
    let env = Env::with_good_package();
    let payload = Tar::new()
        .dir("bin")
        .file_mode("bin/app", b"#!/bin/sh\necho app\n", 0o644)
        .file("data.txt", b"data\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some("bin/app"),
        "executable file of 19 bytes, archive has a file of 19 bytes",
    );
}

#[test]
fn refuses_berth_member_not_in_the_list() {
    let env = Env::with_good_package();
    let payload = good_payload().file("bin/extra", b"not listed\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some("bin/extra"),
        "not listed in .berth/files",
    );
}

#[test]
fn refuses_berth_package_missing_a_listed_member() {
    let env = Env::with_good_package();
    let payload = Tar::new()
        .dir("bin")
        .file_mode("bin/app", b"#!/bin/sh\necho app\n", 0o755);
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some("data.txt"),
        "listed but absent from the archive",
    );
}

#[test]
fn refuses_berth_payload_writing_into_metadata() {
    let env = Env::with_good_package();
    let payload = good_payload().file(".berth/origin.toml", b"forged\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some(".berth/origin.toml"),
        "`.berth/` is reserved",
    );
}

// ---------------------------------------------------------------------------------------
// The public corpus (google/safearchive), through the shared script.
// ---------------------------------------------------------------------------------------

#[test]
fn public_hostile_corpus_passes() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest_dir
        .parent()
        .expect("the manifest directory has a parent")
        .join("shared/tools/hostile-corpus");
    if !script.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("{} is missing, and CI is set", script.display());
        }
        // Public data beside the clone, not a tool: a fresh clone has none. Counted at the
        // end of ./test.sh, so the skip is not silent.
        eprintln!(
            "notice: {} not found; skipping the public hostile corpus",
            script.display()
        );
        crate::common::tools::log_skip("no ../shared/ beside the clone", "hostile corpus");
        return;
    }
    // The script's own temporary root lives in a scratch directory of the harness, which
    // deletes it whatever its modes (the script's `rm -rf` cannot as a user who is not root).
    let env = Env::new();
    let mut c = Command::new(&script);
    clean_env(&mut c).arg(BERTH).env("TMPDIR", env.dir());
    let out = Run::of(&mut c);
    let stdout = &out.stdout;
    assert!(out.success(), "hostile-corpus failed:\n{out}");
    assert!(
        stdout.contains("8 passed, 0 failed"),
        "hostile-corpus said:\n{stdout}"
    );
}

// ---------------------------------------------------------------------------------------
// More ways to say the same thing.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_absolute_symlink_target_hidden_in_pax_linkpath() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .pax(&[("linkpath", b"/etc")])
        .symlink("innocent", "inside")
        .finish();
    env.refuse(
        "pax-link.tar",
        &tar,
        &[],
        Some("innocent"),
        "symlink target `/etc` is absolute",
    );
}

#[test]
fn refuses_symlink_that_escapes_once_components_are_stripped() {
    // `pkg/up -> ..` stays inside the archive, but with `pkg/` stripped it leaves the
    // package.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("pkg/f", b"x")
        .symlink("pkg/up", "..")
        .finish();
    env.refuse(
        "strip-sym.tar",
        &tar,
        &["--strip-components", "1"],
        Some("pkg/up"),
        "symlink target `..` points outside the package",
    );
}

#[test]
fn refuses_symlink_replacing_a_directory_already_used() {
    let env = Env::with_good_package();
    // `d` is already a directory (implied by `d/f`); turning it into a symlink now would
    // redirect anything later written under `d/`.
    let tar = Tar::new()
        .file("d/f", b"x")
        .symlink("d", ".")
        .file("d/g", b"y")
        .finish();
    env.refuse("sym-over-dir.tar", &tar, &[], Some("d"), "duplicate member");
}

#[test]
fn refuses_names_colliding_under_full_case_folding() {
    // `to_lowercase` maps a final capital sigma to `ς`, not `σ`; case-insensitive
    // filesystems fold all three together.
    let env = Env::with_good_package();
    let tar = Tar::new().file("ΑΣ", b"1").file("ασ", b"2").finish();
    env.refuse(
        "sigma.tar",
        &tar,
        &[],
        Some("ασ"),
        "collides with `ΑΣ` when case is folded",
    );
    let tar = Tar::new().file("\u{212a}", b"1").file("k", b"2").finish();
    env.refuse("kelvin.tar", &tar, &[], Some("k"), "when case is folded");
}

#[test]
fn refuses_non_utf8_symlink_target() {
    let env = Env::with_good_package();
    let tar = Tar::new().symlink("l", b"caf\xe9").finish();
    env.refuse("sym-latin1.tar", &tar, &[], Some("l"), "not valid UTF-8");
}

// ---------------------------------------------------------------------------------------
// Memory bombs hidden in extension headers, and conflicting headers.
// ---------------------------------------------------------------------------------------

/// A `.tar.zst` whose extension header (`typeflag`) claims `size` bytes, all present, made
/// cheaply by repeating one compressed frame of 1 MiB (zstd decoders concatenate frames).
fn extension_bomb(typeflag: u8, size: u64) -> Vec<u8> {
    assert_eq!(size % (1 << 20), 0);
    let mut h = ustar(b"././@LongLink", typeflag, 0o644, size, b"");
    if typeflag != b'x' {
        h[257..265].copy_from_slice(b"ustar  \0");
        set_checksum(&mut h);
    }
    // Not well-formed PAX records: a reader that buffers the header whole has already
    // spent the memory before it could tell.
    let chunk = zstd_compress(&[b'a'; 1 << 20]);
    let mut out = zstd_compress(&h);
    for _ in 0..size >> 20 {
        out.extend_from_slice(&chunk);
    }
    out.extend_from_slice(&zstd_compress(&Tar::new().file("f", b"x").finish()));
    out
}

#[test]
fn refuses_huge_gnu_long_name_before_reading_it() {
    // 256 MiB of name from a few kilobytes: refused at its header, not buffered.
    let env = Env::with_good_package();
    let bomb = extension_bomb(b'L', 256 << 20);
    assert!(bomb.len() < 64 << 10, "bomb is {} bytes", bomb.len());
    env.refuse(
        "longname-1.tar.zst",
        &bomb,
        &[],
        None,
        "GNU long name of 268435456 bytes at offset 0 exceeds the limit of 1048576 bytes",
    );
}

#[test]
fn refuses_huge_gnu_long_link_name() {
    let env = Env::with_good_package();
    let bomb = extension_bomb(b'K', 64 << 20);
    env.refuse(
        "longlink-1.tar.zst",
        &bomb,
        &[],
        None,
        "GNU long link name of 67108864 bytes",
    );
}

#[test]
fn refuses_huge_pax_header() {
    let env = Env::with_good_package();
    let bomb = extension_bomb(b'x', 64 << 20);
    env.refuse(
        "paxbomb-1.tar.zst",
        &bomb,
        &[],
        None,
        "PAX extended header of 67108864 bytes",
    );
}

#[test]
fn refuses_huge_extension_header_after_a_pax_sized_member() {
    // The check follows the block structure past a PAX header and its member to find
    // the long name that comes after them.
    let env = Env::with_good_package();
    let mut plain = Tar::new()
        .pax(&[("size", b"1000")])
        .raw(ustar(b"big", b'0', 0o644, 1000, b""), &[b'b'; 1000])
        .buf;
    let mut h = ustar(b"././@LongLink", b'L', 0o644, 32 << 20, b"");
    h[257..265].copy_from_slice(b"ustar  \0");
    set_checksum(&mut h);
    plain.extend_from_slice(&h);
    let mut out = zstd_compress(&plain);
    let chunk = zstd_compress(&[b'a'; 1 << 20]);
    for _ in 0..32 {
        out.extend_from_slice(&chunk);
    }
    env.refuse(
        "later-1.tar.zst",
        &out,
        &[],
        None,
        "GNU long name of 33554432 bytes",
    );
}

#[test]
fn refuses_conflicting_pax_size_records() {
    // The tar crate takes the first `size` record, GNU tar the last.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .pax(&[("size", b"4"), ("size", b"1024")])
        .raw(ustar(b"outer", b'0', 0o644, 4, b""), b"abcd")
        .finish();
    env.refuse(
        "pax-two.tar",
        &tar,
        &[],
        Some("outer"),
        "conflicting PAX size records",
    );
}

#[test]
fn error_shortens_a_very_long_member_name() {
    let env = Env::with_good_package();
    // 40 components of 124 bytes: within depth and name limits, over the path limit.
    let long = vec!["n".repeat(124); 40].join("/") + "/nnnn";
    let tar = Tar::new()
        .pax(&[("path", long.as_bytes())])
        .file("placeholder", b"x")
        .finish();
    let err = env.refuse("long-1.tar", &tar, &[], None, "path longer than 4096 bytes");
    assert!(err.contains("… (5004 bytes in all)"), "{err}");
    assert!(err.len() < 2000, "error is {} bytes", err.len());
}

#[test]
fn accepts_global_pax_header_local_pax_and_gnu_long_names() {
    // The control for the extension checks: ordinary use of every kind of extension.
    let env = Env::with_good_package();
    let long = format!("{}/file", "long-directory-name".repeat(8));
    let mut g = ustar(b"pax_global_header", b'g', 0o644, 0, b"");
    let comment = pax_record("comment", b"made by git archive");
    octal(&mut g[124..136], comment.len() as u64);
    set_checksum(&mut g);
    let tar = Tar::new()
        .raw(g, &comment)
        .pax(&[
            ("path", b"pax/named.txt"),
            ("size", b"5"),
            ("mtime", b"1.5"),
        ])
        .raw(ustar(b"short", b'0', 0o644, 5, b""), b"hello")
        .gnu_longname(long.as_bytes())
        .file("x", b"long\n")
        .file("after.txt", b"after\n")
        .finish();
    env.install_ok("ext-ok.tar", &tar, &[]);
    let dir = env.entry_named("fine");
    assert_eq!(std::fs::read(dir.join("pax/named.txt")).unwrap(), b"hello");
    assert_eq!(std::fs::read(dir.join(&long)).unwrap(), b"long\n");
    assert_eq!(std::fs::read(dir.join("after.txt")).unwrap(), b"after\n");
}

// ---------------------------------------------------------------------------------------
// --strip-components: what is stripped is not created, but it still means something.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_member_through_a_stripped_symlink() {
    // In the archive `pkg/passwd` is `/etc/passwd`; stripping `pkg/` must not launder it.
    let env = Env::with_good_package();
    let tar = Tar::new()
        .symlink("pkg", "/etc")
        .file("pkg/passwd", b"root::0:0::/:/bin/sh\n")
        .finish();
    env.refuse(
        "strip-through.tar",
        &tar,
        &["--strip-components", "1"],
        Some("pkg/passwd"),
        "path passes through symlink `pkg` of the archive",
    );
}

#[test]
fn refuses_member_through_a_stripped_symlink_spelled_in_another_case() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .symlink("pkg", "/etc")
        .file("PKG/passwd", b"x")
        .finish();
    env.refuse(
        "strip-through-case.tar",
        &tar,
        &["--strip-components", "1"],
        Some("PKG/passwd"),
        "path passes through symlink `pkg` of the archive",
    );
}

#[test]
fn refuses_device_in_a_stripped_component() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .typed("console", b'3')
        .file("pkg/f", b"x")
        .finish();
    env.refuse(
        "strip-dev.tar",
        &tar,
        &["--strip-components", "1"],
        Some("console"),
        "character device entries are not allowed",
    );
}

#[test]
fn accepts_stripping_a_top_directory_and_loose_files() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("README-outer", b"skipped, as GNU tar does\n")
        .dir("pkg-1.0/")
        .dir("pkg-1.0/bin/")
        .file_mode("pkg-1.0/bin/tool", b"#!/bin/sh\n", 0o755)
        .finish();
    env.install_ok("strip-ok.tar", &tar, &["--strip-components", "1"]);
    let dir = env.entry_named("fine");
    assert!(dir.join("bin/tool").is_file());
    assert!(!dir.join("README-outer").exists());
}

#[test]
fn refuses_hardlink_whose_target_passes_through_a_stripped_symlink() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .symlink("etc", "/etc")
        .file("pkg/passwd", b"x")
        .hardlink("pkg/h", "etc/passwd")
        .finish();
    env.refuse(
        "strip-hl.tar",
        &tar,
        &["--strip-components", "1"],
        Some("pkg/h"),
        "path passes through symlink `etc` of the archive",
    );
}

// ---------------------------------------------------------------------------------------
// Filesystem limits are decided from the archive, not met as I/O errors.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_name_component_longer_than_255_bytes() {
    let env = Env::with_good_package();
    let name = format!("dir/{}", "c".repeat(256));
    let tar = Tar::new()
        .pax(&[("path", name.as_bytes())])
        .file("placeholder", b"x")
        .finish();
    env.refuse(
        "namemax.tar",
        &tar,
        &[],
        Some(&name),
        "path component longer than 255 bytes",
    );
}

#[test]
fn refuses_symlink_target_longer_than_4096_bytes() {
    let env = Env::with_good_package();
    let target = "t/".repeat(2100);
    let tar = Tar::new()
        .pax(&[("linkpath", target.as_bytes())])
        .symlink("l", "placeholder")
        .finish();
    env.refuse(
        "longlink.tar",
        &tar,
        &[],
        Some("l"),
        "path longer than 4096 bytes",
    );
}

#[test]
fn refuses_symlink_target_component_longer_than_255_bytes() {
    let env = Env::with_good_package();
    let target = "t".repeat(300);
    let tar = Tar::new()
        .pax(&[("linkpath", target.as_bytes())])
        .symlink("l", "placeholder")
        .finish();
    env.refuse(
        "longcomp.tar",
        &tar,
        &[],
        Some("l"),
        "path component longer than 255 bytes",
    );
}

// ---------------------------------------------------------------------------------------
// `.berth` metadata itself.
// ---------------------------------------------------------------------------------------

#[test]
fn refuses_berth_payload_before_its_metadata() {
    let env = Env::with_good_package();
    let t = Tar::new()
        .file("data.txt", b"data\n")
        .file(".berth/manifest.toml", MANIFEST.as_bytes())
        .file(
            ".berth/files",
            listed_file("data.txt", 0o644, b"data\n").as_bytes(),
        );
    env.refuse(
        "listed-1.0.berth",
        &zstd_compress(&t.finish()),
        &[],
        Some("data.txt"),
        "payload before .berth/manifest.toml and .berth/files",
    );
}

#[test]
fn refuses_berth_with_a_second_file_list() {
    // A second list after the first could otherwise widen what is accepted.
    let env = Env::with_good_package();
    let payload = Tar::new().file(".berth/files", good_list().as_bytes());
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some(".berth/files"),
        "duplicate member",
    );
}

#[test]
fn refuses_berth_manifest_pointing_outside_the_package() {
    let env = Env::with_good_package();
    let manifest =
        "[package]\nname = \"listed\"\nversion = \"1.0\"\n\n[[writable]]\npath = \"../../etc\"\n";
    let t = Tar::new()
        .file(".berth/manifest.toml", manifest.as_bytes())
        .file(".berth/files", b"");
    let err = env.refuse(
        "listed-1.0.berth",
        &zstd_compress(&t.finish()),
        &[],
        None,
        "writable path `../../etc` must be a plain relative path inside the package",
    );
    assert!(err.contains(".berth/manifest.toml"), "{err}");
}

#[test]
fn refuses_berth_hardlink_not_in_the_list() {
    // Hard links are placed after the other members: the error must still name it.
    let env = Env::with_good_package();
    let payload = good_payload().hardlink("data-copy.txt", "data.txt");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&good_list(), payload),
        &[],
        Some("data-copy.txt"),
        "not listed in .berth/files",
    );
}

#[test]
fn refuses_berth_member_whose_listed_hash_names_a_pooled_object() {
    // The good package put `good package\n` in the pool. This list names that content
    // for data.txt, but the archive carries other bytes of the same length.
    let env = Env::with_good_package();
    let pooled: &[u8] = b"good package\n";
    let list = listed_file("data.txt", 0o644, pooled);
    let payload = Tar::new().file("data.txt", b"evil package\n");
    env.refuse(
        "listed-1.0.berth",
        &berth_package(&list, payload),
        &[],
        Some("data.txt"),
        "sha256 is",
    );
}

#[test]
fn refuses_payload_in_metadata_directory_spelled_in_another_case() {
    let env = Env::with_good_package();
    let tar = Tar::new()
        .file("ok.txt", b"x")
        .file(".Berth/origin.toml", b"forged\n")
        .finish();
    env.refuse(
        "meta-case.tar",
        &tar,
        &[],
        Some(".Berth/origin.toml"),
        "`.berth/` is reserved",
    );
}

#[test]
fn refuses_metadata_directory_revealed_by_strip_components() {
    let env = Env::with_good_package();
    let tar = Tar::new().file("pkg/.berth/files", b"forged\n").finish();
    env.refuse(
        "meta-strip.tar",
        &tar,
        &["--strip-components", "1"],
        Some("pkg/.berth/files"),
        "`.berth/` is reserved",
    );
}
