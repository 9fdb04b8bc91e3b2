//! Issue 8, classes 5, 6 and 7: references are unambiguous; `check` catches everything that
//! decides what runs (pool objects that are links or altered, edited manifests and origins,
//! generation links that leave the root, a replaced shim binary) and `install --repair`
//! rebuilds a damaged entry in use; failures (a full disk, a name too long, a shim binary
//! that cannot be copied) say what happened and leave only what the next command cleans.

use crate::common;

use crate::common::harden::*;
use crate::common::{tool, Env};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------
// References.
// ---------------------------------------------------------------------------------------

/// `big@X` with X not a version is an id prefix only with 6+ hex digits (or `id:`), so a
/// one-character X never removes another version whose id starts with it.
#[test]
fn short_id_prefixes_never_stand_for_a_version() {
    let env = Env::new();
    let b2 = env.small_package("big", "2");
    env.install(&b2, &[]);
    let id2 = id_of(&env, "big", "2");
    let before = listing(env.root());
    // Every short prefix of big@2's id, and `8` (the original report), is "not found".
    let mut refs: Vec<String> = (1..6).map(|n| format!("big@{}", &id2[..n])).collect();
    refs.push("big@8".into());
    for r in refs.iter().filter(|r| r.as_str() != "big@2") {
        berth(&env, &["remove", r]).refused(3, &[&format!("no installed package matches `{r}`")]);
        berth(&env, &["info", r]).code(3);
        assert_same(&before, &listing(env.root()), r);
    }
    // Six digits, or `id:` with any length, name it.
    let out = berth(&env, &["--json", "info", &format!("big@{}", &id2[..6])]).ok();
    assert!(out.stdout.contains(&id2), "{out}");
    berth(&env, &["info", &format!("big@id:{}", &id2[..1])]).ok();
    berth(&env, &["info", &format!("big@id:{}", id2.to_uppercase())]).ok();
    berth(&env, &["info", "big@id:xyz"]).code(3);

    // With big@8 installed, `remove big@8` removes big@8 and nothing else.
    let b8 = env.small_package("big", "8");
    env.install(&b8, &[]);
    let id8 = id_of(&env, "big", "8");
    berth(&env, &["remove", "big@8"]).ok();
    assert_eq!(installed(&env), ["big@2"]);
    env.install(&b8, &[]);
    // An `id:` prefix that both ids share is ambiguous (exit 2) and lists both.
    let common_len = id2
        .chars()
        .zip(id8.chars())
        .take_while(|(a, b)| a == b)
        .count();
    if common_len > 0 {
        let r = format!("big@id:{}", &id2[..common_len]);
        berth(&env, &["remove", &r]).refused(2, &["is ambiguous", "big@2", "big@8"]);
    }
    let unique_len = common_len + 1;
    berth(&env, &["remove", &format!("big@id:{}", &id2[..unique_len])]).ok();
    assert_eq!(installed(&env), ["big@8"]);
}

/// `drop p tools@9` when p holds tools@1 is "not found", and changes nothing.
#[test]
fn drop_with_a_version_the_profile_does_not_hold_keeps_it() {
    let env = Env::new();
    let t1 = tool_package(&env, "tools", "1", "tools");
    env.install(&t1, &[]);
    berth(&env, &["use", "p", "tools@1"]).ok();
    let before = listing(env.root());
    berth(&env, &["drop", "p", "tools@9"])
        .refused(3, &["profile p has no package tools@9", "tools@1"]);
    berth(&env, &["drop", "p", "tools@id:ffffffff"]).code(3);
    assert_same(&before, &listing(env.root()), "drop tools@9");
    let id = id_of(&env, "tools", "1");
    berth(&env, &["drop", "p", &format!("tools@id:{}", &id[..3])]).ok();
}

/// Naming one package twice in `use` is a usage error, not "last wins".
#[test]
fn use_with_two_versions_of_one_package_is_a_usage_error() {
    let env = Env::new();
    for v in ["1", "2"] {
        env.install(&tool_package(&env, "tool", v, "tool"), &[]);
    }
    let before = listing(env.root());
    for args in [
        vec!["use", "p", "tool@1", "tool@2"],
        vec!["use", "p", "tool", "tool@1"],
    ] {
        let out = berth(&env, &args).code(2);
        assert!(
            out.error_line()
                .contains("name the same package; give each package once"),
            "{out}"
        );
        assert_same(&before, &listing(env.root()), "use tool@1 tool@2");
    }
}

// ---------------------------------------------------------------------------------------
// Integrity.
// ---------------------------------------------------------------------------------------

/// A root where profile p uses app@1 (a small package with a command), and the artifact.
fn app_root() -> (Env, PathBuf) {
    let env = Env::new();
    let src = env.source(
        "app",
        "1",
        &[
            ("bin/app*", b"#!/bin/sh\necho app 1\n"),
            ("share/doc/README", b"the app's documentation, version 1\n"),
        ],
    );
    let pkg = env.pack(&src);
    env.install(&pkg, &[]);
    berth(&env, &["use", "p", "app"]).ok();
    berth(&env, &["default", "p"]).ok();
    berth(&env, &["check"]).ok();
    (env, pkg)
}

/// The pool object holding `content` (not executable).
fn object_of(env: &Env, content: &[u8]) -> PathBuf {
    let h = sha_hex(content);
    env.root()
        .join("store/.objects")
        .join(&h[..2])
        .join(&h[2..])
}

fn entry_of(env: &Env, name: &str, version: &str) -> PathBuf {
    let id = id_of(env, name, version);
    env.root().join(format!("store/{name}-{version}-{id}"))
}

/// `check` output lines that mention `path`.
fn reported(out: &Out, path: &Path) -> Vec<String> {
    let p = path.display().to_string();
    out.stdout
        .lines()
        .filter(|l| l.contains(&p))
        .map(str::to_string)
        .collect()
}

/// A pool object replaced by a link to a secret outside the root: `check` finds it, the
/// next install refuses to link it into a new entry, `check --repair` removes it, and
/// `install --repair` restores the object.
#[test]
fn a_pool_object_replaced_by_a_link_is_found_and_never_linked() {
    let (env, pkg) = app_root();
    let readme = b"the app's documentation, version 1\n";
    let obj = object_of(&env, readme);
    assert!(obj.is_file(), "no object at {}", obj.display());
    let secret = env.dir().join("shadow");
    std::fs::write(&secret, "root:$6$secret\n").unwrap();
    std::fs::set_permissions(
        obj.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::remove_file(&obj).unwrap();
    std::os::unix::fs::symlink(&secret, &obj).unwrap();

    let out = berth(&env, &["check", "--quick"]).code(5);
    assert!(
        reported(&out, &obj)
            .iter()
            .any(|l| l.contains("not a regular file")),
        "{out}"
    );
    // Another package with the same file content must not get the link.
    let other = env.source("other", "1", &[("doc/README", readme)]);
    let other = env.pack(&other);
    let before = listing(env.root());
    berth(&env, &["install", s(&other)]).refused(5, &[s(&obj), "not a regular file"]);
    assert_same(&before, &listing(env.root()), "install over a planted link");

    berth(&env, &["check", "--repair"]).code(5);
    assert!(
        std::fs::symlink_metadata(&obj).is_err(),
        "the link is still there"
    );
    assert_eq!(std::fs::read(&secret).unwrap(), b"root:$6$secret\n");
    // The object app@1 needs is now missing: install --repair brings it back.
    let out = berth(&env, &["--json", "install", "--repair", s(&pkg)]).ok();
    assert_eq!(out.json()[0]["status"], "repaired", "{out}");
    berth(&env, &["check"]).ok();
    berth(&env, &["install", s(&other)]).ok();
    berth(&env, &["check"]).ok();
}

/// A pool object whose content was altered in place (and so the entry's file, its hard
/// link): `check` and `verify` find it; `install --repair` rebuilds the entry in use and the
/// object, the profile keeps pointing at the same entry, and the command works.
#[test]
fn an_altered_entry_in_use_is_found_and_repaired() {
    let (env, pkg) = app_root();
    let entry = entry_of(&env, "app", "1");
    let file = entry.join("bin/app");
    let obj = {
        let h = sha_hex(b"#!/bin/sh\necho app 1\n");
        env.root()
            .join("store/.objects")
            .join(&h[..2])
            .join(format!("{}x", &h[2..]))
    };
    assert!(obj.is_file());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&file, b"#!/bin/sh\necho PWND 1\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = run_bounded(shim(&env, "app", env.dir()), BOUND);
    assert_eq!(out.stdout.trim(), "PWND 1", "the tampering took");

    let out = berth(&env, &["check"]).code(5);
    assert!(
        !reported(&out, &obj).is_empty(),
        "object not reported:\n{out}"
    );
    assert!(
        !reported(&out, &file).is_empty(),
        "file not reported:\n{out}"
    );
    berth(&env, &["verify", "app@1"]).code(5);
    let gens_before = listing(&env.root().join("generations"));
    let out = berth(&env, &["install", "--repair", s(&pkg)]).ok();
    assert!(out.stdout.contains("repaired app@1"), "{out}");
    berth(&env, &["verify"]).ok();
    berth(&env, &["check"]).ok();
    assert_same(
        &gens_before,
        &listing(&env.root().join("generations")),
        "generations",
    );
    let out = run_bounded(shim(&env, "app", env.dir()), BOUND).ok();
    assert_eq!(out.stdout.trim(), "app 1");
}

/// Rewrites `rel` inside an entry with `edit`, then puts back the mode and the store mtime,
/// as a careful attacker would.
fn edit_meta(entry: &Path, rel: &str, edit: impl Fn(String) -> String) {
    let meta = entry.join(".berth");
    let file = entry.join(rel);
    std::fs::set_permissions(&meta, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let new = edit(text.clone());
    assert_ne!(new, text, "the edit changed nothing");
    std::fs::write(&file, new).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    tool(entry, "touch", &["-h", "-d", "@1", s(&file)]);
    std::fs::set_permissions(&meta, std::fs::Permissions::from_mode(0o555)).unwrap();
    tool(entry, "touch", &["-h", "-d", "@1", s(&meta)]);
}

/// Edits of `.berth/manifest.toml` (a part the id covers, or only the seal) and of
/// `.berth/origin.toml` are found by `check` and `verify`, and `install --repair` undoes them.
#[test]
fn edited_manifests_and_origins_are_found_and_repaired() {
    type Edit<'a> = (&'a str, &'a str, fn(String) -> String);
    let edits: &[Edit] = &[
        (
            ".berth/manifest.toml",
            "does not hash to the entry's id",
            |t| t.replace("bin = [\"bin\"]", "bin = [\"share/doc\"]"),
        ),
        (".berth/manifest.toml", "does not match the seal", |t| {
            t.replace("test package", "a trusted package")
        }),
        (".berth/origin.toml", "does not match the seal", |t| {
            let at = t.find("sha256 = \"").unwrap() + 10;
            format!("{}{}{}", &t[..at], "0".repeat(64), &t[at + 64..])
        }),
    ];
    for (rel, needle, edit) in edits {
        let (env, pkg) = app_root();
        let entry = entry_of(&env, "app", "1");
        edit_meta(&entry, rel, edit);
        let out = berth(&env, &["check", "--quick"]).code(5);
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(s(&entry)) && l.contains(needle)),
            "{rel}: `{needle}` not reported:\n{out}"
        );
        let out = berth(&env, &["verify", "app@1"]).code(5);
        assert!(
            out.stdout.contains(needle) || out.stderr.contains(needle),
            "{out}"
        );
        berth(&env, &["install", "--repair", s(&pkg)]).ok();
        berth(&env, &["check"]).ok();
    }
}

/// A generation's merged tree pointing outside the root is reported, and `which` does not
/// follow it.
#[test]
fn generation_links_leaving_the_root_are_found() {
    let (env, _) = app_root();
    let gen = env.root().join("generations/p/1");
    let bin = gen.join("bin");
    assert!(
        std::fs::symlink_metadata(&bin)
            .unwrap()
            .file_type()
            .is_symlink()
            || bin.is_dir()
    );
    // Wherever the merged tree has `bin/app`, point it at /bin/sh instead.
    let app = if std::fs::symlink_metadata(&bin)
        .unwrap()
        .file_type()
        .is_symlink()
    {
        std::fs::remove_file(&bin).unwrap();
        std::os::unix::fs::symlink("/bin", &bin).unwrap();
        bin.clone()
    } else {
        let app = bin.join("app");
        std::fs::remove_file(&app).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../bin/sh", &app).unwrap();
        app
    };
    let out = berth(&env, &["check", "--quick"]).code(5);
    assert!(
        reported(&out, &app)
            .iter()
            .any(|l| l.contains("outside the generation's packages")),
        "{out}"
    );
    let out = berth(&env, &["which", "app", "--profile", "p"]);
    assert_ne!(out.code, 0, "which followed a link out of the root:\n{out}");
    berth(&env, &["check", "--repair"]).code(5);
}

/// A replaced `libexec/berth-shim` is found and `check --repair` puts the real one back.
#[test]
fn a_replaced_shim_binary_is_found_and_restored() {
    let (env, _) = app_root();
    let bin = env.root().join("libexec/berth-shim");
    let tmp = env.root().join("libexec/evil");
    std::fs::write(&tmp, "#!/bin/sh\necho pwned\n").unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &bin).unwrap();
    let out = run_bounded(shim(&env, "app", env.dir()), BOUND);
    assert_eq!(out.stdout.trim(), "pwned", "the replacement took");
    let out = berth(&env, &["check", "--quick"]).code(5);
    assert!(
        reported(&out, &bin)
            .iter()
            .any(|l| l.contains("differs from the shim built")),
        "{out}"
    );
    berth(&env, &["check", "--repair"]).ok();
    let out = run_bounded(shim(&env, "app", env.dir()), BOUND).ok();
    assert_eq!(out.stdout.trim(), "app 1");
    berth(&env, &["check"]).ok();
}

// ---------------------------------------------------------------------------------------
// Failures.
// ---------------------------------------------------------------------------------------

/// A name and version whose entry directory name would not fit a file name: usage error
/// before anything is read or written.
#[test]
fn an_entry_name_too_long_is_a_usage_error_before_extraction() {
    let env = Env::new();
    env.install(&env.small_package("good", "1"), &[]);
    let tar = gnu_tar(&env, "x", &[("f", b"data\n")]);
    let path = artifact(&env, "x.tar", &tar);
    let name = "n".repeat(128);
    let version = "1".repeat(100);
    let before = listing(env.root());
    berth(
        &env,
        &["install", s(&path), "--name", &name, "--version", &version],
    )
    .refused(2, &["more than the file-name limit of 255"]);
    assert_same(&before, &listing(env.root()), "name too long");
    // A long but fitting pair installs.
    let version = "1".repeat(90);
    berth(
        &env,
        &["install", s(&path), "--name", &name, "--version", &version],
    )
    .ok();
}

/// The entry is committed but the shim binary cannot be copied: the error says the entry
/// was installed, and the next command finishes the job.
#[test]
fn installed_but_shim_copy_failed_is_reported_as_such() {
    let env = Env::new();
    let a = tool_package(&env, "a", "1", "a");
    env.install(&a, &[]);
    let libexec = env.root().join("libexec");
    common::make_writable(&libexec);
    std::fs::remove_dir_all(&libexec).unwrap();
    std::fs::write(&libexec, "not a directory\n").unwrap();
    let b = tool_package(&env, "b", "1", "b");
    let out = berth(&env, &["install", s(&b)]).refused(
        1,
        &["b@1 was installed, but updating libexec/berth-shim failed"],
    );
    assert!(
        out.hint_line()
            .unwrap()
            .contains("the entry is in the store"),
        "{out}"
    );
    assert_eq!(installed(&env), ["a@1", "b@1"]);
    std::fs::remove_file(&libexec).unwrap();
    let out = berth(&env, &["install", s(&b)]).ok();
    assert!(out.stdout.contains("unchanged b@1"), "{out}");
    assert!(libexec.join("berth-shim").is_file());
    berth(&env, &["check"]).ok();
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, opts: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs", s(at)])
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs at {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// berth on `root` (not `env`'s own), bounded in time.
fn berth_at(env: &Env, root: &Path, args: &[&str]) -> Out {
    run_bounded(env.cmd_at(root, args), BOUND)
}

/// A full disk (out of blocks, then out of inodes): the error names the archive and the
/// root, the store is as before, nothing is left for `check` to report, and the next
/// install works.
#[test]
fn a_full_disk_names_the_archive_and_the_root_and_leaves_nothing_behind() {
    if !needs_root("mount a small tmpfs") {
        return;
    }
    let env = Env::new();
    let small = env.small_package("small", "1");
    let noise: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let big_src = env.source(
        "big",
        "1",
        &[("share/a.bin", &noise), ("share/b.bin", &noise[1..])],
    );
    let big = env.pack(&big_src);
    let many_files: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| (format!("f/{i}"), format!("file {i}\n").into_bytes()))
        .collect();
    let many_refs: Vec<(&str, &[u8])> = many_files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let many = env.pack(&env.source("many", "1", &many_refs));
    for (tag, opts, pkg) in [
        ("blocks", "size=8m,mode=0755", &big),
        ("inodes", "size=64m,nr_inodes=400,mode=0755", &many),
    ] {
        let mnt = env.dir().join(format!("disk-{tag}"));
        let _disk = Tmpfs::mount(&mnt, opts);
        let root = mnt.join("root");
        berth_at(&env, &root, &["install", s(&small)]).ok();
        berth_at(&env, &root, &["use", "p", "small"]).ok();
        let before = listing(&root);
        let out = berth_at(&env, &root, &["install", s(pkg)]).refused(
            1,
            &[
                s(pkg),
                &format!("the disk holding the berth root {} is full", root.display()),
            ],
        );
        assert!(
            !out.error_line().contains("share/"),
            "names a member: {out}"
        );
        assert_same(&before, &listing(&root), tag);
        berth_at(&env, &root, &["check"]).ok();
        let other = env.small_package("other", tag);
        berth_at(&env, &root, &["install", s(&other)]).ok();
        berth_at(&env, &root, &["check"]).ok();
    }
}
