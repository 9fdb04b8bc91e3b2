//! Crash safety: SIGKILL `use` and `rollback` at 30 different moments on a profile holding a
//! 15,000-file package; after each, the profile link resolves to a complete generation whose
//! packages verify, and the next `use` works.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod profile_common;

use profile_common::{write_file, Env};
use std::path::Path;
use std::time::{Duration, Instant};

const FILES: usize = 15_000;

fn big_package(e: &Env, version: &str) {
    let src = e.dir.path().join(format!("src/big-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("berth.toml"),
        format!("[package]\nname = \"big\"\nversion = \"{version}\"\n"),
    )
    .unwrap();
    for i in 0..FILES - 1 {
        write_file(
            &src.join(format!("share/big/d{}/f{i}", i / 100)),
            format!("{i}\n").as_bytes(),
            false,
        );
    }
    write_file(
        &src.join("bin/big"),
        format!("#!/bin/sh\necho big {version}\n").as_bytes(),
        true,
    );
    e.install_dir(&src, "big", version);
}

/// The profile link resolves to a complete generation whose packages all verify.
fn check_consistent(e: &Env, profile: &str, round: usize) {
    let link = e.root.join("profiles").join(profile);
    let target = std::fs::read_link(&link)
        .unwrap_or_else(|err| panic!("round {round}: profile link: {err}"));
    let n: u64 = target
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        e.numbers(profile).contains(&n),
        "round {round}: link to missing generation {n}"
    );
    // Every numeric generation is complete (generation.toml + resolvable pkgs links).
    for g in e.numbers(profile) {
        let dir = e.root.join(format!("generations/{profile}/{g}"));
        assert!(
            dir.join("generation.toml").is_file(),
            "round {round}: generation {g} incomplete"
        );
        for p in e.gen_packages(profile, g) {
            let name = p.split('@').next().unwrap();
            assert!(
                dir.join("pkgs")
                    .join(name)
                    .join(".berth/manifest.toml")
                    .is_file(),
                "round {round}: {g}/pkgs/{name}"
            );
        }
    }
    let pkgs = e.gen_packages(profile, n);
    let mut args = vec!["verify"];
    args.extend(pkgs.iter().map(String::as_str));
    e.ok(&args);
    assert!(
        link.join("bin/big").exists(),
        "round {round}: bin/big missing"
    );
    assert!(
        e.root.join("shims/big").exists(),
        "round {round}: shim missing"
    );
}

fn kill_after(e: &Env, args: &[&str], delay: Duration) {
    let mut child = e
        .cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    // SIGKILL: no destructor, no cleanup.
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigkill_during_use_and_rollback_leaves_a_complete_profile() {
    let e = Env::new();
    big_package(&e, "1");
    big_package(&e, "2");
    e.script_package("small", "1", "small");
    e.script_package("small", "2", "small");
    e.ok(&["use", "p", "big@1", "small@1"]);

    // How long one `use` takes here, to spread the kills over its whole run (no assertion).
    let t = Instant::now();
    e.ok(&["use", "p", "big@2"]);
    let span = t.elapsed().max(Duration::from_millis(5)) * 3 / 2;

    for round in 0..30 {
        let delay = span * round / 30;
        let big = if round % 2 == 0 { "big@1" } else { "big@2" };
        let small = if round % 4 < 2 { "small@2" } else { "small@1" };
        if round % 3 == 2 {
            kill_after(&e, &["rollback", "p"], delay);
        } else {
            kill_after(&e, &["use", "p", big, small], delay);
        }
        check_consistent(&e, "p", round as usize);
        // The next use works and cleans whatever the killed run left.
        e.ok(&["use", "p", big]);
        assert!(e.packages("p").contains(&big.to_string()));
        check_consistent(&e, "p", round as usize);
        let leftovers: Vec<_> = std::fs::read_dir(e.root.join("generations/p"))
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: {leftovers:?}");
        assert!(no_temp_links(&e.root.join("profiles")), "round {round}");
    }
}

fn no_temp_links(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .all(|d| !d.unwrap().file_name().to_string_lossy().starts_with('.'))
}
