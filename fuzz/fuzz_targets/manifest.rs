//! Fuzz target: the manifest parser (with the round trip an install makes) and the
//! `.berth/files` list parser.
#![no_main]

#[path = "../harness.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harness::manifest(data);
});
