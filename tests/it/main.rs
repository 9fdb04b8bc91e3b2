//! The one integration-test binary: every suite is a module here, so CI links one test
//! binary instead of one per suite (as uv and ripgrep do). Each suite drives the real
//! `berth` binary on temporary roots through the one harness, `tests/common/`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../common/mod.rs"]
mod common;

mod activate;
mod ansible;
mod apply;
mod apply_config;
mod check;
mod config_generations;
mod config_property;
mod crash;
mod debian_services;
mod dedup;
mod distribution;
mod fleet;
mod fuzz_replay;
mod gc;
mod gc_race;
mod harden_input;
mod harden_integrity;
mod harden_root;
mod harden_shim;
mod health;
mod hostile;
mod hostile_text;
mod isolate;
mod isolate_errors;
mod isolate_owned;
mod native_apt;
mod native_deb;
mod native_hostile;
mod native_isolate;
mod native_links;
mod native_modes;
mod native_rpm;
mod native_scripts;
mod native_services;
mod profile_concurrency;
mod profiles;
mod quiet;
mod repo;
mod seekable;
mod service;
mod shims;
mod snapshot;
mod snapshots_cli;
mod snapshots_ops;
mod store_cli;
