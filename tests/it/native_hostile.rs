//! Hostile native packages (issue 9): .deb files taken apart and put together wrong (ar
//! magic, members missing, extra, out of order or larger than the file; `..`, absolute
//! paths and escaping links in control.tar or data.tar; conffiles outside the package; a
//! truncated xz stream) and .rpm files with a bogus lead, a damaged header or a cpio member
//! that climbs out. Each is refused with exit 6 and one error line naming the file (and the
//! member where there is one), and the store, the scratch directory and everything beside
//! it stay exactly as they were (`Env::refuse` checks all of that).

use crate::common::have;
use crate::common::native::{ar, ar_header, ar_members, build_deb, build_rpm, Deb, Rpm, Tar};
use crate::common::Env;

/// A good control.tar (uncompressed) for package `demo` 1.0.
fn control_tar(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut t = Tar::default().dir("./").file(
        "./control",
        0o644,
        b"Package: demo\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: demo\n",
    );
    for (name, data) in extra {
        t = t.file(name, 0o644, data);
    }
    t.finish()
}

/// A good data.tar (uncompressed): usr/bin/demo.
fn data_tar() -> Vec<u8> {
    Tar::default()
        .dir("./")
        .dir("./usr/")
        .dir("./usr/bin/")
        .file("./usr/bin/demo", 0o755, b"#!/bin/sh\necho demo\n")
        .finish()
}

/// A .deb of these members (`debian-binary`, `control.tar`, `data.tar` as given).
fn deb(control: &[u8], data: &[u8]) -> Vec<u8> {
    ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", control),
        ("data.tar", data),
    ])
}

/// [`Env::refuse`], printing the error line (the test log shows every message).
#[track_caller]
fn refuse(env: &Env, file: &str, bytes: &[u8], extra: &[&str], member: Option<&str>, why: &str) {
    let err = env.refuse(file, bytes, extra, member, why);
    println!(
        "{}",
        err.lines().find(|l| l.starts_with("error:")).unwrap_or("")
    );
}

/// [`refuse`] for a .deb named `demo_1.0_all.deb`.
#[track_caller]
fn refuse_deb(env: &Env, bytes: &[u8], member: Option<&str>, why: &str) {
    refuse(env, "demo_1.0_all.deb", bytes, &[], member, why);
}

/// [`refuse`] for an .rpm named `demo-1.0-1.noarch.rpm`.
#[track_caller]
fn refuse_rpm(env: &Env, bytes: &[u8], member: Option<&str>, why: &str) {
    refuse(env, "demo-1.0-1.noarch.rpm", bytes, &[], member, why);
}

#[test]
fn a_well_formed_handmade_deb_installs() {
    // The cases below are refused for what they change, not for how they were made.
    let env = Env::with_good_package();
    let (out, _) = env.install_ok(
        "demo_1.0_all.deb",
        &deb(&control_tar(&[]), &data_tar()),
        &[],
    );
    assert!(out.contains("installed demo@1.0"), "{out}");
}

#[test]
fn bad_ar_magic_is_refused() {
    let env = Env::with_good_package();
    let mut b = deb(&control_tar(&[]), &data_tar());
    b[..8].copy_from_slice(b"!<arcx>\n");
    // Not an ar archive any more: no format claims it.
    let out = env.run(&[
        "install",
        env.input("demo_1.0_all.deb", &b).to_str().unwrap(),
    ]);
    assert_ne!(out.code, 0, "{out}");
    assert!(env.listed().iter().all(|(n, _, _)| n != "demo"));
}

#[test]
fn a_deb_without_its_data_member_is_refused() {
    let env = Env::with_good_package();
    let b = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control_tar(&[])),
    ]);
    refuse_deb(&env, &b, None, "data.tar");
}

#[test]
fn a_deb_without_debian_binary_first_is_refused() {
    let env = Env::with_good_package();
    let b = ar(&[
        ("control.tar", &control_tar(&[])),
        ("debian-binary", b"2.0\n"),
        ("data.tar", &data_tar()),
    ]);
    refuse_deb(&env, &b, Some("control.tar"), "debian-binary");
}

#[test]
fn data_before_control_is_refused() {
    let env = Env::with_good_package();
    let b = ar(&[
        ("debian-binary", b"2.0\n"),
        ("data.tar", &data_tar()),
        ("control.tar", &control_tar(&[])),
    ]);
    refuse_deb(&env, &b, Some("data.tar"), "refused");
}

#[test]
fn an_extra_member_after_data_is_refused() {
    let env = Env::with_good_package();
    let b = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control_tar(&[])),
        ("data.tar", &data_tar()),
        ("evil.sh", b"#!/bin/sh\nrm -rf /\n"),
    ]);
    refuse_deb(&env, &b, Some("evil.sh"), "refused");
}

#[test]
fn an_ar_member_larger_than_the_file_is_refused() {
    let env = Env::with_good_package();
    let data = data_tar();
    let mut b = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar", &control_tar(&[])),
    ]);
    // A header that promises a gigabyte, followed by the real (short) data.
    b.extend(ar_header("data.tar", 1 << 30));
    b.extend_from_slice(&data);
    refuse_deb(&env, &b, Some("data.tar"), "refused");
}

#[test]
fn an_oversized_ar_header_field_is_refused() {
    let env = Env::with_good_package();
    let mut b = deb(&control_tar(&[]), &data_tar());
    // debian-binary's size field: ten digits of garbage instead of a decimal size.
    let at = 8 + 48;
    b[at..at + 10].copy_from_slice(b"9999999999");
    refuse_deb(&env, &b, Some("debian-binary"), "refused");
}

#[test]
fn dot_dot_in_control_tar_is_refused() {
    let env = Env::with_good_package();
    let control = control_tar(&[("./../../evil", b"x\n")]);
    refuse_deb(&env, &deb(&control, &data_tar()), None, "..");
}

#[test]
fn an_absolute_path_in_data_tar_is_refused() {
    let env = Env::with_good_package();
    let data = Tar::default()
        .dir("./")
        .file("/etc/cron.d/evil", 0o644, b"* * * * * root sh\n")
        .finish();
    refuse_deb(&env, &deb(&control_tar(&[]), &data), None, "absolute");
}

#[test]
fn dot_dot_in_data_tar_is_refused() {
    let env = Env::with_good_package();
    let data = Tar::default()
        .dir("./")
        .file("./usr/../../escape", 0o644, b"x\n")
        .finish();
    refuse_deb(&env, &deb(&control_tar(&[]), &data), None, "..");
}

#[test]
fn a_member_under_an_absolute_symlink_is_refused() {
    // The absolute link itself is kept (native packages ship them); writing through it
    // would write wherever it leads, so a member under it is refused as under any link.
    let env = Env::with_good_package();
    let data = Tar::default()
        .dir("./")
        .dir("./usr/")
        .dir("./usr/lib/")
        .symlink("./usr/lib/x", "/etc")
        .file("./usr/lib/x/passwd", 0o644, b"root::0:0::/:/bin/sh\n")
        .finish();
    refuse_deb(
        &env,
        &deb(&control_tar(&[]), &data),
        None,
        "path passes through symlink `usr/lib/x`",
    );
}

#[test]
fn a_symlink_escaping_the_package_is_refused() {
    let env = Env::with_good_package();
    let data = Tar::default()
        .dir("./")
        .dir("./usr/")
        .symlink("./usr/shadow", "../../../etc/shadow")
        .finish();
    refuse_deb(&env, &deb(&control_tar(&[]), &data), None, "usr/shadow");
}

#[test]
fn conffiles_outside_the_package_are_refused() {
    let env = Env::with_good_package();
    for conffiles in [&b"/../../etc/passwd\n"[..], b"/etc/not-in-data.conf\n"] {
        let control = control_tar(&[("./conffiles", conffiles)]);
        refuse_deb(&env, &deb(&control, &data_tar()), None, "conffile");
    }
}

#[test]
fn md5sums_that_do_not_match_the_data_are_refused() {
    let env = Env::with_good_package();
    let control = control_tar(&[(
        "./md5sums",
        b"00000000000000000000000000000000  usr/bin/demo\n",
    )]);
    refuse_deb(&env, &deb(&control, &data_tar()), None, "usr/bin/demo");
}

#[test]
fn a_truncated_xz_data_member_is_refused() {
    if !have("dpkg-deb", "a_truncated_xz_data_member_is_refused") {
        return;
    }
    let env = Env::with_good_package();
    let real = build_deb(
        env.dir(),
        "demo",
        "1.0",
        &Deb {
            compression: "xz",
            ..Deb::default()
        },
    );
    let members = ar_members(&std::fs::read(real).unwrap());
    let named: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| {
            if n.starts_with("data.tar") {
                (n.as_str(), &d[..d.len() * 2 / 3])
            } else {
                (n.as_str(), d.as_slice())
            }
        })
        .collect();
    refuse_deb(&env, &ar(&named), Some("data.tar.xz"), "refused");
}

/// A real .rpm (uncompressed payload, so its cpio names can be edited in place).
fn real_rpm(env: &Env) -> Option<Vec<u8>> {
    if !have("rpmbuild", "hostile rpm") {
        return None;
    }
    let p = build_rpm(
        env.dir(),
        "demo",
        "1.0",
        "1",
        &Rpm {
            payload: "w.ufdio",
            ..Rpm::default()
        },
    );
    Some(std::fs::read(p).unwrap())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_bogus_rpm_lead_is_refused() {
    let env = Env::with_good_package();
    let Some(mut b) = real_rpm(&env) else { return };
    // Keep the magic, break the lead's major version and signature type.
    b[4] = 9;
    b[78] = 0x7f;
    refuse_rpm(&env, &b, None, "refused");
}

#[test]
fn a_damaged_rpm_header_is_refused() {
    let env = Env::with_good_package();
    let Some(b) = real_rpm(&env) else { return };
    // The main header follows the lead (96 bytes) and the signature header; find its magic
    // (the second header magic in the file) and claim a huge index.
    let magic = [0x8e, 0xad, 0xe8, 0x01];
    let first = find(&b, &magic).unwrap();
    let second = first + 4 + find(&b[first + 4..], &magic).unwrap();
    for (what, at, bytes) in [
        ("index count", second + 8, [0x7f, 0xff, 0xff, 0xff]),
        ("data size", second + 12, [0x7f, 0xff, 0xff, 0xff]),
    ] {
        let mut bad = b.clone();
        bad[at..at + 4].copy_from_slice(&bytes);
        println!("rpm header: {what}");
        refuse_rpm(&env, &bad, None, "refused");
    }
}

#[test]
fn a_cpio_member_climbing_out_is_refused() {
    let env = Env::with_good_package();
    let Some(mut b) = real_rpm(&env) else { return };
    // Rename ./usr/share/demo/VERSION in the payload to a name of the same length that
    // climbs out of the package.
    let name = b"./usr/share/demo/VERSION\0";
    let evil = b"./usr/../../../../xVERSI\0";
    assert_eq!(name.len(), evil.len());
    let at = find(&b, name).expect("the cpio name is in the uncompressed payload");
    b[at..at + name.len()].copy_from_slice(evil);
    refuse_rpm(&env, &b, None, "..");
}

#[test]
fn a_cpio_member_not_in_the_header_is_refused() {
    let env = Env::with_good_package();
    let Some(mut b) = real_rpm(&env) else { return };
    let name = b"./usr/share/demo/VERSION\0";
    let other = b"./usr/share/demo/VERSIOX\0";
    let at = find(&b, name).unwrap();
    b[at..at + name.len()].copy_from_slice(other);
    refuse_rpm(&env, &b, None, "VERSIOX");
}

#[test]
fn an_rpm_payload_altered_after_signing_is_refused() {
    let env = Env::with_good_package();
    let Some(mut b) = real_rpm(&env) else { return };
    // Flip one byte of the script's text in the payload: the header's file digest and the
    // payload digest no longer match.
    let at = find(&b, b"echo \"demo 1.0-1\"").unwrap();
    b[at + 6] = b'X';
    refuse_rpm(&env, &b, None, "refused");
}

/// A control file of `extra` made-up fields after the required ones.
fn control_with_fields(extra: usize) -> Vec<u8> {
    let mut text =
        String::from("Package: demo\nVersion: 1.0\nArchitecture: all\nDescription: demo\n");
    for i in 0..extra {
        text.push_str(&format!("X-Field-{i}: v\n"));
    }
    Tar::default()
        .dir("./")
        .file("./control", 0o644, text.as_bytes())
        .finish()
}

#[test]
fn a_control_file_with_forty_thousand_fields_installs() {
    // Each field used to be checked against every field before it: 40k took seconds.
    let env = Env::with_good_package();
    let (out, _) = env.install_ok(
        "demo_1.0_all.deb",
        &deb(&control_with_fields(40_000), &data_tar()),
        &[],
    );
    assert!(out.contains("installed demo@1.0"), "{out}");
}

#[test]
fn an_absurd_control_file_is_refused_by_its_size() {
    // 200k fields (2.7 MB): refused by the size cap, in one pass, with the lock held only
    // as long as that takes; the message names the file and the limit.
    let env = Env::with_good_package();
    refuse_deb(
        &env,
        &deb(&control_with_fields(200_000), &data_tar()),
        Some("control.tar:./control"),
        "over the limit of 1048576 bytes for a control file",
    );
}

#[test]
fn an_absurd_conffiles_file_is_refused_by_its_size() {
    let env = Env::with_good_package();
    let conffiles: String = (0..100_000).map(|i| format!("/etc/demo/c{i}\n")).collect();
    let control = control_tar(&[("./conffiles", conffiles.as_bytes())]);
    refuse_deb(
        &env,
        &deb(&control, &data_tar()),
        Some("control.tar:./conffiles"),
        "over the limit",
    );
}

/// The data offset of signature-header tag `tag` in an rpm (lead, then the header's intro,
/// index and data).
fn signature_tag_data(b: &[u8], tag: u32) -> Option<usize> {
    let be = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let n = be(96 + 8);
    let data = 96 + 16 + n * 16;
    (0..n)
        .map(|i| 96 + 16 + i * 16)
        .find(|&e| be(e) == tag as usize)
        .map(|e| data + be(e + 8))
}

/// `rpm -K` (digests only) on `bytes`, where rpm is here: true when it calls them good.
fn rpm_k_accepts(env: &Env, bytes: &[u8]) -> Option<bool> {
    let p = env.dir().join("checked.rpm");
    std::fs::write(&p, bytes).unwrap();
    let out = std::process::Command::new("rpm")
        .args(["-K", "--nosignature"])
        .arg(&p)
        .output()
        .ok()?;
    println!("rpm -K: {}", String::from_utf8_lossy(&out.stdout).trim());
    Some(out.status.success())
}

#[test]
fn an_rpm_whose_sha1_header_digest_does_not_match_is_refused() {
    let env = Env::with_good_package();
    let Some(mut b) = real_rpm(&env) else { return };
    assert_ne!(
        rpm_k_accepts(&env, &b),
        Some(false),
        "the good rpm passes rpm -K"
    );
    let at = signature_tag_data(&b, 269).expect("rpmbuild records a SHA1 header digest");
    // One hex digit of the recorded digest changed: `rpm -K` says "SHA1 digest: BAD".
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    assert_ne!(rpm_k_accepts(&env, &b), Some(true), "rpm -K rejects it");
    refuse_rpm(&env, &b, Some("header"), "its sha1 is");
}

#[test]
fn an_rpm_whose_md5_digest_does_not_match_is_refused() {
    let env = Env::with_good_package();
    let Some(mut b) = real_rpm(&env) else { return };
    let at = signature_tag_data(&b, 1004).expect("rpmbuild records an MD5 digest");
    b[at] ^= 0x01;
    assert_ne!(rpm_k_accepts(&env, &b), Some(true), "rpm -K rejects it");
    refuse_rpm(&env, &b, Some("payload"), "md5 of header and payload");
}
