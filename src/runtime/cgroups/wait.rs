//! Bounded polling for cgroup state changes the kernel completes asynchronously.

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::CgroupError;

/// Polls `done` with a growing pause (1 ms up to 20 ms) until it says yes or `timeout` passes.
pub fn until(
    path: &Path,
    what: &'static str,
    timeout: Duration,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(CgroupError::Timeout { path: path.to_owned(), what, waited: start.elapsed() });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
