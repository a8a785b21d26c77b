//! How init fails: every failure becomes one line for the shim (Docker's wording, which the
//! docker CLI reads its exit code from) and an exit status for init itself.

use std::fmt::Display;

use nix::errno::Errno;

/// A failure of `kapsel init`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Building the container failed; reported as `error <message>`, exit status 1.
    #[error("{0}")]
    Setup(String),
    /// Finding or executing the command failed; reported as `exec-error <message>`.
    #[error("{message}")]
    Exec {
        /// Docker's wording, e.g. `exec: "x": executable file not found in $PATH`.
        message: String,
        /// 127 when not found, 126 when not executable, 1 otherwise.
        code: i32,
    },
}

/// Init's result type.
pub type Result<T> = std::result::Result<T, InitError>;

impl InitError {
    /// A setup failure described as "<what>: <cause>".
    pub fn setup(what: impl Display, cause: impl Display) -> InitError {
        InitError::Setup(format!("{what}: {cause}"))
    }

    /// The exit status init leaves with after this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Setup(_) => 1,
            InitError::Exec { code, .. } => *code,
        }
    }

    /// The sync-channel message reporting this failure to the shim.
    pub fn sync_message(&self) -> String {
        match self {
            InitError::Setup(message) => format!("error {message}"),
            InitError::Exec { message, .. } => format!("exec-error {message}"),
        }
    }
}

/// An errno in Go's lowercase wording ("no such file or directory"), as Docker prints it.
pub fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {}", errno as i32),
    }
}

/// The Go-style text of an I/O error (its errno when it has one).
pub fn io_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => errno_text(Errno::from_raw(code)),
        None => err.to_string(),
    }
}

/// Turns a syscall failure into a setup error naming what was being done.
pub trait Context<T> {
    /// Wraps the failure as `InitError::Setup("<what>: <cause>")`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|errno| InitError::setup(what(), errno_text(errno)))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| InitError::setup(what(), io_text(&err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_lowercase_like_go() {
        assert_eq!(errno_text(Errno::ENOENT), "no such file or directory");
        assert_eq!(errno_text(Errno::EACCES), "permission denied");
        assert_eq!(errno_text(Errno::EISDIR), "is a directory");
    }

    #[test]
    fn messages_and_codes() {
        let setup = InitError::setup("mounting /proc", "permission denied");
        assert_eq!(setup.sync_message(), "error mounting /proc: permission denied");
        assert_eq!(setup.exit_code(), 1);
        let exec = InitError::Exec { message: "exec /bin/x: no such file or directory".into(), code: 127 };
        assert_eq!(exec.sync_message(), "exec-error exec /bin/x: no such file or directory");
        assert_eq!(exec.exit_code(), 127);
    }
}
