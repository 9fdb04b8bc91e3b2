//! The shim binary run by its own name refuses with exit 127. (This is the workspace's
//! dynamically linked build; berth installs the static one that build.rs makes from the
//! same sources, and berth's tests run that one.)

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[test]
fn running_the_shim_itself_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth-shim"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("berth-shim: berth-shim: run a command through its link"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}
