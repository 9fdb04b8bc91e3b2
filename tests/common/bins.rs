//! Binaries the tests need besides berth: a small C probe that reports how it was started
//! (argv, pid, BERTH_PROFILE, its real path), and a check that an ELF file is static. The
//! shim is not among them: berth carries it (built statically by build.rs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the probe is compiled: cargo's scratch directory for tests when this user may
/// write there, else the temporary directory (an unprivileged run of binaries built by
/// root may not write into root's target directory). Named by user so two users never
/// share one.
fn probe_dir() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let writable = nix::unistd::access(&target, nix::unistd::AccessFlags::W_OK).is_ok();
    if writable {
        target
    } else {
        std::env::temp_dir()
    }
}

const PROBE_C: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char exe[4096]; ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0) n = 0; exe[n] = 0;
  const char *p = getenv("BERTH_PROFILE");
  printf("argv0=%s\n", argv[0]);
  for (int i = 1; i < argc; i++) printf("arg=%s\n", argv[i]);
  printf("profile=%s\nexe=%s\npid=%d\n", p ? p : "", exe, (int)getpid());
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "cat") == 0) {
    char buf[65536]; ssize_t r;
    while ((r = read(0, buf, sizeof buf)) > 0) { fwrite(buf, 1, r, stdout); fflush(stdout); }
  }
  const char *c = getenv("EXIT_WITH");
  return c ? atoi(c) : 0;
}
"#;

/// A C program that prints its argv[0], arguments, BERTH_PROFILE, real path and pid; with
/// `cat` as first argument it copies stdin to stdout; exits with $EXIT_WITH.
pub fn probe_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = probe_dir();
        let uid = nix::unistd::getuid();
        let out = dir.join(format!("berth-probe-{uid}"));
        if out.exists() {
            return out;
        }
        compile_probe(&dir, &out);
        out
    })
    .clone()
}

/// Compiles the probe to a temporary name and renames it into place, so concurrent test
/// binaries never run a half-written program.
fn compile_probe(dir: &Path, out: &Path) {
    let pid = std::process::id();
    let src = dir.join(format!("probe-{pid}.c"));
    std::fs::write(&src, PROBE_C).unwrap();
    let tmp = dir.join(format!("berth-probe.{pid}"));
    let st = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "cc failed");
    std::fs::rename(&tmp, out).unwrap();
    let _ = std::fs::remove_file(&src);
}

/// Whether the ELF executable at `path` is statically linked: it has no `PT_INTERP`
/// program header (no dynamic loader is named; a static-pie has none either).
pub fn is_static_elf(path: &Path) -> bool {
    let b = std::fs::read(path).unwrap();
    assert!(
        b.len() > 64 && b[..4] == *b"\x7fELF",
        "{} is not ELF",
        path.display()
    );
    assert_eq!(
        (b[4], b[5]),
        (2, 1),
        "{}: ELF64 little-endian expected",
        path.display()
    );
    let u16_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    !(0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}
