//! The one error type of the cgroup layer; every variant names the file it was about.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a cgroup operation failed, naming the file (and value) involved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A write to an interface file was refused.
    #[error("writing {value:?} to {}: {source}", path.display())]
    Write {
        /// The interface file.
        path: PathBuf,
        /// What we tried to write.
        value: String,
        /// The kernel's answer.
        source: io::Error,
    },
    /// An interface file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The interface file.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// An interface file held something we could not parse.
    #[error("parsing {}: {detail}", path.display())]
    Parse {
        /// The interface file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A cgroup directory could not be created.
    #[error("creating {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("removing {}: {source}", path.display())]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// A state change (freeze, emptying) did not happen in time.
    #[error("timed out after {waited:?} waiting for {what} in {}", path.display())]
    Timeout {
        /// The cgroup directory or file watched.
        path: PathBuf,
        /// What we waited for.
        what: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// Sending a signal to a process of the cgroup failed.
    #[error("sending SIGKILL to pid {pid}: {source}")]
    Kill {
        /// The process.
        pid: i32,
        /// The kernel's answer.
        source: nix::Error,
    },
    /// The host has no hierarchy for a controller a limit needs.
    #[error("the cgroup controller {controller:?} is not available on this host (needed for {what})")]
    MissingController {
        /// The v1 controller name.
        controller: &'static str,
        /// The limit or operation that needed it.
        what: &'static str,
    },
    /// The requested resources or path make no sense.
    #[error("invalid cgroup request: {0}")]
    Invalid(String),
}

impl CgroupError {
    /// True when the error only says the cgroup (or one of its files) is already gone.
    pub fn is_not_found(&self) -> bool {
        let source = match self {
            CgroupError::Write { source, .. }
            | CgroupError::Read { source, .. }
            | CgroupError::RemoveDir { source, .. } => source,
            _ => return false,
        };
        source.kind() == io::ErrorKind::NotFound
    }
}
