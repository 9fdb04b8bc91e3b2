//! Crash safety (DESIGN.md invariants 1–3, issue 8): `install`, `remove`, `use`,
//! `rollback` and `gc` are killed with SIGKILL at moments spread over their whole run, at
//! least 106 kills that hit a running command in all, and the invariants are checked after
//! every kill (see `common::crash`). The three tests run side by side (in the one test
//! binary): they spend most of their time waiting for the disk, not the CPU.

mod gc;
mod pending;
mod profile;
mod restore;
mod store;
