//! The health check after a switch: the profile's `[service] health` command, run again
//! and again until it exits 0 or `health_timeout` has passed (start-up plus migrations
//! routinely take a while, so the default is generous). Each try is limited to what is
//! left of the timeout, so a command that hangs cannot stall the switch.

use super::hooks::{self, Leftovers, Outcome, SwitchEnv};
use crate::error::Result;
use std::time::{Duration, Instant};

/// The first pause between two tries: most services bind their port within tens of
/// milliseconds of their start, and a switch should not wait half a second for them.
const FIRST_PAUSE: Duration = Duration::from_millis(25);
/// The pause doubles after each failed try up to this (a slow start-up is not hammered).
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// How the health check ended.
#[derive(Debug, Clone)]
pub struct Health {
    /// Whether a try exited 0.
    pub healthy: bool,
    /// Tries made.
    pub tries: u32,
    /// The last try.
    pub last: Outcome,
}

/// Runs `command` until it succeeds or `timeout` passes: at once, then after 25 ms, 50 ms,
/// 100 ms … and every 500 ms from then on.
pub fn check(command: &str, env: &SwitchEnv, timeout: Duration) -> Result<Health> {
    let start = Instant::now();
    let mut tries = 0;
    let mut pause = FIRST_PAUSE;
    loop {
        tries += 1;
        let left = timeout.saturating_sub(start.elapsed()).max(MAX_PAUSE);
        let last = hooks::run("health check", command, env, Some(left), Leftovers::Kill)?;
        if last.ok() {
            return Ok(Health {
                healthy: true,
                tries,
                last,
            });
        }
        if start.elapsed() + pause >= timeout {
            return Ok(Health {
                healthy: false,
                tries,
                last,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}
