//! What the daemon and a shim say to each other over the shim's unix socket
//! (`<bundle>/shim.sock`). Every connection opens with one JSON request line; `attach` then
//! carries frames in both directions, the other requests get one JSON reply line.
//!
//! Frames use Docker's own multiplexing header — stream byte, three zero bytes, big-endian u32
//! length — so that output frames pass to a non-TTY docker client unchanged.

use serde::{Deserialize, Serialize};

/// The socket's file name inside the bundle.
pub const SOCKET_FILE: &str = "shim.sock";
/// The exit record's file name inside the bundle.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's options file inside the bundle.
pub const OPTIONS_FILE: &str = "shim.json";
/// The json-file log inside the bundle.
pub const LOG_FILE: &str = "container.log";

/// Frame kind: stdin bytes, client → shim.
pub const FRAME_STDIN: u8 = 0;
/// Frame kind: stdout bytes, shim → client.
pub const FRAME_STDOUT: u8 = 1;
/// Frame kind: stderr bytes, shim → client.
pub const FRAME_STDERR: u8 = 2;
/// Frame kind: the client's stdin ended, client → shim.
pub const FRAME_CLOSE_STDIN: u8 = 3;
/// Frame kind: terminal size (u16 rows, u16 cols, big-endian), client → shim.
pub const FRAME_RESIZE: u8 = 4;

/// The 8-byte header of a frame.
pub fn frame_header(kind: u8, len: usize) -> [u8; 8] {
    let len = (len as u32).to_be_bytes();
    [kind, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

/// Splits a frame header into (kind, payload length).
pub fn parse_frame_header(header: &[u8; 8]) -> (u8, usize) {
    (header[0], u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize)
}

/// How the shim runs its process (a container's first process, or an exec), written by the
/// daemon to `shim.json` in the shim's directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShimOptions {
    /// The arguments after the kapsel binary that start the process: `init <bundle>` for a
    /// container, `exec <dir>` for an exec.
    pub init_args: Vec<String>,
    /// The cgroup directories the process joins before it forks.
    pub cgroup_dirs: Vec<std::path::PathBuf>,
    /// Write the output to the json-file log (containers do, execs do not).
    pub log: bool,
    /// The container's stdin is a pipe the attach clients write to (else /dev/null).
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client's stdin ends.
    pub stdin_once: bool,
    /// A pseudo-terminal is the container's stdio.
    pub tty: bool,
    /// Initial terminal size (rows, cols), with a TTY.
    pub console_size: Option<(u16, u16)>,
    /// Rotate the log when it reaches this many bytes (0: never).
    pub log_max_size: u64,
    /// How many log files to keep, the live one included (≥ 1).
    pub log_max_files: u32,
    /// Where the container's cgroup keeps its OOM counter (v1 memory.oom_control or v2
    /// memory.events), read when the container exits.
    pub oom_file: Option<std::path::PathBuf>,
    /// The id mapping the shim writes when init asks (`map-ids`): the container's user
    /// namespace. None: init may not ask.
    #[serde(default)]
    pub user_namespace: Option<crate::runtime::userns::IdMapping>,
}

/// A request: the first line of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stream the container's output (and take its input) on this connection.
    Attach {
        /// Forward this client's stdin.
        stdin: bool,
        /// Send stdout frames.
        stdout: bool,
        /// Send stderr frames.
        stderr: bool,
    },
    /// Let the prepared container execute its command.
    Start,
    /// Answer when the container has exited.
    Wait,
    /// Send a signal to the container's first process.
    Kill {
        /// The signal number.
        signal: i32,
    },
    /// Set the terminal size.
    Resize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
}

/// A one-line reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Done.
    Ok,
    /// Failed, with Docker-worded text.
    Error {
        /// What went wrong.
        message: String,
    },
    /// The container exited (the answer to `wait`).
    Exited(ExitRecord),
}

/// How a container ended; written durably to `exit.json` before anyone is told.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Docker's exit code: the status, or 128 + the signal.
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer struck in its cgroup.
    pub oom_killed: bool,
    /// When it ended (RFC 3339).
    pub finished_at: String,
}

/// What the shim reports on its stdout once the container is prepared (or failed to be).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handshake {
    /// Prepared and waiting for `start`; the container process's host pid.
    Ready {
        /// Host pid of the container's first process.
        pid: i32,
    },
    /// Could not prepare it.
    Failed {
        /// Docker-worded text.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_use_dockers_header() {
        let header = frame_header(FRAME_STDERR, 300);
        assert_eq!(header, [2, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(parse_frame_header(&header), (2, 300));
    }

    #[test]
    fn requests_are_tagged_json() {
        let line = serde_json::to_string(&Request::Kill { signal: 15 }).unwrap();
        assert_eq!(line, r#"{"op":"kill","signal":15}"#);
        let reply: Reply =
            serde_json::from_str(r#"{"exited":{"exit_code":137,"signal":9,"oom_killed":true,"finished_at":"x"}}"#)
                .unwrap();
        assert!(matches!(reply, Reply::Exited(ExitRecord { exit_code: 137, oom_killed: true, .. })));
    }
}
