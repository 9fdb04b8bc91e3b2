//! Progress bars for long work: on stderr, only on a terminal, and only once the work has
//! taken more than a second (a quick install prints nothing extra).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shows progress of one piece of work at a time.
#[derive(Debug, Default)]
pub struct Progress {
    enabled: bool,
    ticker: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

/// Counters a progress bar reads.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Bytes done.
    pub bytes: Arc<AtomicU64>,
    /// Items (files, entries) done.
    pub items: Arc<AtomicU64>,
}

impl Progress {
    /// Progress that shows when stderr is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            ticker: Mutex::new(None),
        }
    }

    /// Progress that never shows.
    pub fn hidden() -> Progress {
        Progress::default()
    }

    /// Starts showing `label` with the counters against `total` bytes (after one second).
    pub fn track(&self, label: &str, what: &'static str, counters: Counters, total: u64) {
        if !self.enabled {
            return;
        }
        self.finish();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let label = label.to_string();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !stop2.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && start.elapsed() >= Duration::from_secs(1) {
                    let b =
                        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(counters.bytes.load(Ordering::Relaxed));
                    b.set_message(format!(
                        "{label}: {} {what}",
                        counters.items.load(Ordering::Relaxed)
                    ));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        *self.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some((stop, handle));
    }

    /// Stops and clears the bar.
    pub fn finish(&self) {
        let t = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, handle)) = t {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
