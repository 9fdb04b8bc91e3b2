//! Fuzz target: the whole package reader (sniffing, decoders, ratio guard, tar reader,
//! `.berth` list checks, end-of-stream verification) on arbitrary file content.
#![no_main]

#[path = "../harness.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One scratch directory per fuzzing process (the reader takes a file, as install does).
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("berth-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    harness::archive(data, scratch());
});
