//! Builds the shim statically linked (`+crt-static`, not position-independent) and hands its path to berth, which
//! embeds it and installs it as `<root>/libexec/berth-shim`: a static shim starts at the
//! cost of one exec (no dynamic loader), the floor measured in bench/shim.sh.
//!
//! Per-crate rustflags are not on stable, and workspace-wide `+crt-static` breaks proc
//! macros. So this runs a second cargo for the shim alone with an explicit `--target`:
//! with one, rustflags apply to the target only, never to build scripts or proc macros.
//! It uses its own target directory (`<target>/shim-static`), so it never waits on the
//! lock of the build that runs it, and `--offline` (the shim has no dependencies).

// Cargo reads its instructions from a build script's stdout.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=shims/src");
    println!("cargo:rerun-if-changed=shims/Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("cargo sets {k}"));
    let out = PathBuf::from(var("OUT_DIR"));
    let target = var("TARGET");
    let manifest = Path::new(&var("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // OUT_DIR is <target dir>[/<triple>]/<profile>/build/berth-<hash>/out: one shared
    // directory beside the profiles, so release, debug and clippy builds reuse one build.
    let target_dir = out
        .ancestors()
        .nth(4)
        .map_or_else(|| out.join("shim-static"), |t| t.join("shim-static"));
    let status = Command::new(var("CARGO"))
        .args([
            "build",
            "--offline",
            "--profile",
            "shim",
            "-p",
            "berth-shim",
        ])
        .args(["--bin", "berth-shim", "--target", &target])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // A static, non-PIE executable: a static PIE relocates itself at every start, which
        // measured ~0.1 ms (1.15x the one-exec floor in bench/shim.sh, against ~1.0x
        // without). The cost is a fixed load address for a process that lives for a few
        // syscalls and parses nothing but its environment and one-line profile files;
        // its stack stays randomised.
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Ctarget-feature=+crt-static\x1f-Crelocation-model=static",
        )
        // What the outer cargo set for this script must not leak into the inner build
        // (clippy's wrapper would lint instead of build; flags meant for the host).
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the static shim: {e}"));
    assert!(
        status.success(),
        "building the static shim failed (a static libc is needed: apt-get install libc6-dev)"
    );
    let built = target_dir.join(&target).join("shim").join("berth-shim");
    let dest = out.join("berth-shim");
    std::fs::copy(&built, &dest)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", built.display(), dest.display()));
    println!("cargo:rustc-env=BERTH_STATIC_SHIM={}", dest.display());
}
