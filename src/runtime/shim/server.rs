//! The shim's poll loop: container output to the log and to attach clients, client input to
//! the container, requests (start, wait, kill, resize), and the container's exit.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::log::JsonFileLog;
use super::protocol::{
    EXIT_FILE, ExitRecord, FRAME_CLOSE_STDIN, FRAME_RESIZE, FRAME_STDERR, FRAME_STDIN, FRAME_STDOUT, LOG_FILE, Reply,
    Request, SOCKET_FILE, ShimOptions, frame_header, parse_frame_header,
};
use super::{Prepared, init_failure, receive_message, send_message};

/// How long output may keep arriving after the container's first process exited.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// Stdin bytes held for a container that reads slowly before attached clients stop being read.
const MAX_STDIN_BACKLOG: usize = 1024 * 1024;
/// A client that falls this far behind is disconnected rather than holding the container up.
const MAX_CLIENT_BACKLOG: usize = 8 * 1024 * 1024;

/// The container's stdio as created by the shim: pipes, or a terminal that init makes in the
/// container's own devpts and hands over (the container starts on /dev/null until then).
pub(crate) enum ContainerStdio {
    /// Separate pipes; `stdin` is None when the container's stdin is /dev/null.
    Pipes { stdout: (OwnedFd, OwnedFd), stderr: (OwnedFd, OwnedFd), stdin: Option<(OwnedFd, OwnedFd)> },
    /// A pseudo-terminal, whose master init sends with its `console` message.
    Terminal,
}

impl ContainerStdio {
    /// Makes the pipes the options ask for.
    pub(crate) fn create(options: &ShimOptions) -> Result<ContainerStdio, String> {
        if options.tty {
            return Ok(ContainerStdio::Terminal);
        }
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("shim: pipe: {e}"));
        let stdin = if options.open_stdin { Some(pipe()?) } else { None };
        Ok(ContainerStdio::Pipes { stdout: pipe()?, stderr: pipe()?, stdin })
    }

    /// The container's fd 0.
    pub(crate) fn child_stdin(&self) -> Result<Stdio, String> {
        match self {
            ContainerStdio::Pipes { stdin: Some((read, _)), .. } => dup(read),
            _ => Ok(Stdio::null()),
        }
    }

    /// The container's fd 1.
    pub(crate) fn child_stdout(&self) -> Result<Stdio, String> {
        match self {
            ContainerStdio::Pipes { stdout: (_, write), .. } => dup(write),
            ContainerStdio::Terminal => Ok(Stdio::null()),
        }
    }

    /// The container's fd 2.
    pub(crate) fn child_stderr(&self) -> Result<Stdio, String> {
        match self {
            ContainerStdio::Pipes { stderr: (_, write), .. } => dup(write),
            ContainerStdio::Terminal => Ok(Stdio::null()),
        }
    }

    /// Drops the container's ends and returns the shim's (stdout, stderr, stdin); a terminal's
    /// master (stdout and stdin at once) comes from init instead.
    pub(crate) fn into_shim_ends(
        self,
        console: Option<OwnedFd>,
    ) -> Result<(OwnedFd, Option<OwnedFd>, Option<OwnedFd>), String> {
        match self {
            ContainerStdio::Terminal => {
                let master = console.ok_or("init sent no terminal")?;
                let input = master.try_clone().map_err(|e| format!("shim: dup: {e}"))?;
                Ok((master, None, Some(input)))
            }
            ContainerStdio::Pipes { stdout, stderr, stdin } => {
                Ok((stdout.0, Some(stderr.0), stdin.map(|(_, write)| write)))
            }
        }
    }
}

fn dup(fd: &OwnedFd) -> Result<Stdio, String> {
    fd.try_clone().map(Stdio::from).map_err(|e| format!("shim: dup: {e}"))
}

fn set_nonblocking(fd: BorrowedFd<'_>) {
    if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
        let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK));
    }
}

/// What a connected client is doing.
enum Role {
    /// Its request line has not arrived yet.
    Pending(Vec<u8>),
    /// Attached: gets output frames, may send stdin frames.
    Attached { stdin: bool, stdout: bool, stderr: bool, input: Vec<u8> },
    /// Waits for the exit record.
    Waiting,
    /// Asked to start; answered once init has exec'ed (or failed to).
    Starting,
    /// Answered; closes once its output is flushed.
    Closing,
}

struct Client {
    stream: UnixStream,
    role: Role,
    output: Vec<u8>,
}

impl Client {
    fn queue(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    fn reply(&mut self, reply: &Reply) {
        let mut line = serde_json::to_vec(reply).unwrap_or_default();
        line.push(b'\n');
        self.queue(&line);
        self.role = Role::Closing;
    }

    /// Writes what it can without blocking; false when the client is gone.
    fn flush(&mut self) -> bool {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return false,
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        true
    }
}

/// The loop's state.
struct Shim {
    p: Prepared,
    /// The json-file log; none for execs.
    log: Option<JsonFileLog>,
    clients: Vec<Client>,
    stdout_open: bool,
    stderr_open: bool,
    /// Bytes waiting to be written to the container's stdin.
    stdin_backlog: Vec<u8>,
    /// The stdin-once client is done: close the container's stdin once the backlog is written.
    close_stdin_when_drained: bool,
    /// Init has been told `go` and its answer is awaited.
    starting: bool,
    exit: Option<ExitRecord>,
    exited_at: Option<Instant>,
}

/// Runs until the container has exited and everyone has been told; the shim's exit code.
pub(crate) fn run(prepared: Prepared) -> ExitCode {
    let log_path = prepared.bundle.join(LOG_FILE);
    let log = if prepared.options.log {
        match JsonFileLog::open(&log_path, prepared.options.log_max_size, prepared.options.log_max_files) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("shim: opening the log {}: {e}", log_path.display());
                let _ = nix::sys::signal::kill(prepared.container_pid, Signal::SIGKILL);
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let _ = prepared.listener.set_nonblocking(true);
    set_nonblocking(prepared.stdout.as_fd());
    if let Some(fd) = &prepared.stderr {
        set_nonblocking(fd.as_fd());
    }
    if let Some(fd) = &prepared.stdin {
        set_nonblocking(fd.as_fd());
    }
    let stderr_open = prepared.stderr.is_some();
    let mut shim = Shim {
        p: prepared,
        log,
        clients: Vec::new(),
        stdout_open: true,
        stderr_open,
        stdin_backlog: Vec::new(),
        close_stdin_when_drained: false,
        starting: false,
        exit: None,
        exited_at: None,
    };
    loop {
        if let Some(at) = shim.exited_at {
            let drained = !shim.stdout_open && !shim.stderr_open;
            if drained || at.elapsed() > DRAIN_LIMIT {
                return shim.finish();
            }
        }
        shim.turn();
    }
}

/// Which fd a poll slot stands for.
#[derive(Clone, Copy)]
enum Slot {
    Listener,
    Signals,
    Stdout,
    Stderr,
    Stdin,
    Sync,
    Client(usize),
}

impl Shim {
    /// One poll and the handling of what it reported.
    fn turn(&mut self) {
        let mut slots = Vec::new();
        let mut fds = Vec::new();
        let readable = PollFlags::POLLIN;
        fds.push(PollFd::new(self.p.listener.as_fd(), readable));
        slots.push(Slot::Listener);
        fds.push(PollFd::new(self.p.signals.as_fd(), readable));
        slots.push(Slot::Signals);
        if self.stdout_open {
            fds.push(PollFd::new(self.p.stdout.as_fd(), readable));
            slots.push(Slot::Stdout);
        }
        if let (true, Some(fd)) = (self.stderr_open, &self.p.stderr) {
            fds.push(PollFd::new(fd.as_fd(), readable));
            slots.push(Slot::Stderr);
        }
        if let (false, Some(fd)) = (self.stdin_backlog.is_empty(), &self.p.stdin) {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
            slots.push(Slot::Stdin);
        }
        if self.starting {
            fds.push(PollFd::new(self.p.sync.as_fd(), readable));
            slots.push(Slot::Sync);
        }
        // Back-pressure: a client's stdin is not read while the container is behind on it.
        let stdin_full = self.stdin_backlog.len() >= MAX_STDIN_BACKLOG;
        for (i, client) in self.clients.iter().enumerate() {
            let paused = stdin_full && matches!(client.role, Role::Attached { stdin: true, .. });
            let mut events = if paused { PollFlags::empty() } else { readable };
            if !client.output.is_empty() {
                events |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(client.stream.as_fd(), events));
            slots.push(Slot::Client(i));
        }
        let timeout = if self.exited_at.is_some() { PollTimeout::from(100u16) } else { PollTimeout::NONE };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return,
            Err(e) => {
                eprintln!("shim: poll: {e}");
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
        }
        let ready: Vec<(Slot, PollFlags)> = slots
            .iter()
            .zip(fds.iter())
            .filter_map(|(slot, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (*slot, r)))
            .collect();
        drop(fds);
        let mut gone = Vec::new();
        for (slot, events) in ready {
            match slot {
                Slot::Listener => self.accept(),
                Slot::Signals => self.reap(),
                Slot::Stdout => self.stdout_open = self.pump(FRAME_STDOUT),
                Slot::Stderr => self.stderr_open = self.pump(FRAME_STDERR),
                Slot::Stdin => self.feed_stdin(),
                Slot::Sync => self.start_result(),
                Slot::Client(i) => {
                    if !self.serve_client(i, events) {
                        gone.push(i);
                    }
                }
            }
        }
        for i in gone.into_iter().rev() {
            self.drop_client(i);
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.p.listener.accept() {
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client { stream, role: Role::Pending(Vec::new()), output: Vec::new() });
        }
    }

    /// Moves container output to the log and the attached clients; false at end of stream.
    fn pump(&mut self, stream: u8) -> bool {
        let mut buffer = [0u8; 32 * 1024];
        let fd = if stream == FRAME_STDOUT { Some(&self.p.stdout) } else { self.p.stderr.as_ref() };
        let Some(fd) = fd else { return false };
        loop {
            match nix::unistd::read(fd, &mut buffer) {
                Ok(0) => return false,
                Ok(n) => {
                    let data = &buffer[..n];
                    if let Some(Err(e)) = self.log.as_mut().map(|log| log.write(stream, data)) {
                        eprintln!("shim: writing the log: {e}");
                    }
                    let header = frame_header(stream, n);
                    for client in &mut self.clients {
                        if let Role::Attached { stdout, stderr, .. } = client.role
                            && ((stream == FRAME_STDOUT && stdout) || (stream == FRAME_STDERR && stderr))
                        {
                            client.queue(&header);
                            client.queue(data);
                        }
                    }
                    if n < buffer.len() {
                        return true;
                    }
                }
                Err(Errno::EAGAIN) => return true,
                Err(Errno::EINTR) => continue,
                // A pty master reads EIO once every slave is closed.
                Err(_) => return false,
            }
        }
    }

    fn feed_stdin(&mut self) {
        let Some(fd) = &self.p.stdin else {
            self.stdin_backlog.clear();
            return;
        };
        match nix::unistd::write(fd, &self.stdin_backlog) {
            Ok(n) => {
                self.stdin_backlog.drain(..n);
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(_) => {
                self.stdin_backlog.clear();
                self.p.stdin = None;
            }
        }
        if self.stdin_backlog.is_empty() && self.close_stdin_when_drained {
            self.close_stdin_when_drained = false;
            self.p.stdin = None;
        }
    }

    /// Ends the container's stdin after everything already received has been written to it.
    fn close_stdin(&mut self) {
        if self.p.options.tty {
            // EOF on a terminal is ^D, written after what is pending.
            self.stdin_backlog.push(4);
        } else if self.stdin_backlog.is_empty() {
            self.p.stdin = None;
        } else {
            self.close_stdin_when_drained = true;
        }
    }

    /// Handles a client's readiness; false when it is to be dropped.
    fn serve_client(&mut self, i: usize, events: PollFlags) -> bool {
        if events.contains(PollFlags::POLLOUT) && !self.clients[i].flush() {
            return false;
        }
        if matches!(self.clients[i].role, Role::Closing) && self.clients[i].output.is_empty() {
            return false;
        }
        if !events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            return true;
        }
        let mut buffer = [0u8; 16 * 1024];
        let n = loop {
            match self.clients[i].stream.read(&mut buffer) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        };
        if n == 0 {
            return false;
        }
        let data = &buffer[..n];
        match &mut self.clients[i].role {
            Role::Pending(line) => {
                line.extend_from_slice(data);
                if let Some(end) = line.iter().position(|&b| b == b'\n') {
                    let rest = line.split_off(end + 1);
                    let request: Result<Request, _> = serde_json::from_slice(&line[..end]);
                    self.handle_request(i, request);
                    if !rest.is_empty() {
                        if let Role::Attached { input, .. } = &mut self.clients[i].role {
                            input.extend_from_slice(&rest);
                        }
                        self.attached_input(i);
                    }
                }
            }
            Role::Attached { input, .. } => {
                input.extend_from_slice(data);
                self.attached_input(i);
            }
            _ => {}
        }
        let client = &mut self.clients[i];
        client.output.len() <= MAX_CLIENT_BACKLOG && client.flush()
    }

    fn handle_request(&mut self, i: usize, request: Result<Request, serde_json::Error>) {
        let reply = match request {
            Err(e) => Some(Reply::Error { message: format!("bad request: {e}") }),
            Ok(Request::Attach { stdin, stdout, stderr }) => {
                self.clients[i].role = Role::Attached { stdin, stdout, stderr, input: Vec::new() };
                None
            }
            Ok(Request::Wait) => match &self.exit {
                Some(record) => Some(Reply::Exited(record.clone())),
                None => {
                    self.clients[i].role = Role::Waiting;
                    None
                }
            },
            Ok(Request::Start) => {
                if self.starting || self.exit.is_some() {
                    Some(Reply::Error { message: "the container was already started".into() })
                } else {
                    match send_message(&self.p.sync, "go") {
                        Ok(()) => {
                            self.starting = true;
                            self.clients[i].role = Role::Starting;
                            None
                        }
                        Err(message) => Some(Reply::Error { message }),
                    }
                }
            }
            Ok(Request::Kill { signal }) => Some(self.kill(signal)),
            Ok(Request::Resize { height, width }) => Some(self.resize(height, width)),
        };
        if let Some(reply) = reply {
            self.clients[i].reply(&reply);
        }
    }

    fn kill(&self, signal: i32) -> Reply {
        if self.exit.is_some() {
            return Reply::Error { message: "the container is not running".into() };
        }
        let result = match Signal::try_from(signal) {
            Ok(signal) => nix::sys::signal::kill(self.p.container_pid, signal),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Reply::Ok,
            Err(e) => Reply::Error { message: format!("sending signal {signal}: {e}") },
        }
    }

    fn resize(&self, rows: u16, cols: u16) -> Reply {
        if self.p.options.tty {
            set_terminal_size(&self.p.stdout, rows, cols);
        }
        Reply::Ok
    }

    /// Parses complete frames an attached client sent.
    fn attached_input(&mut self, i: usize) {
        loop {
            let Role::Attached { input, stdin, .. } = &mut self.clients[i].role else {
                return;
            };
            if input.len() < 8 {
                return;
            }
            let header: [u8; 8] = input[..8].try_into().unwrap_or([0; 8]);
            let (kind, len) = parse_frame_header(&header);
            if input.len() < 8 + len {
                return;
            }
            let payload: Vec<u8> = input.drain(..8 + len).skip(8).collect();
            let takes_stdin = *stdin;
            match kind {
                FRAME_STDIN if takes_stdin => {
                    self.stdin_backlog.extend_from_slice(&payload);
                    self.feed_stdin();
                }
                FRAME_CLOSE_STDIN if takes_stdin && self.p.options.stdin_once => self.close_stdin(),
                FRAME_RESIZE if payload.len() == 4 => {
                    let _ = self.resize(
                        u16::from_be_bytes([payload[0], payload[1]]),
                        u16::from_be_bytes([payload[2], payload[3]]),
                    );
                }
                _ => {}
            }
        }
    }

    fn drop_client(&mut self, i: usize) {
        let client = self.clients.remove(i);
        if let Role::Attached { stdin: true, .. } = client.role
            && self.p.options.stdin_once
        {
            self.close_stdin();
        }
    }

    /// Init's answer to `go`: EOF means the command was exec'ed.
    fn start_result(&mut self) {
        let reply = match receive_message(&self.p.sync) {
            Ok(None) => Reply::Ok,
            Ok(Some(message)) => Reply::Error { message: init_failure(&message) },
            Err(message) => Reply::Error { message },
        };
        self.starting = false;
        for client in &mut self.clients {
            if matches!(client.role, Role::Starting) {
                client.reply(&reply);
            }
        }
    }

    /// Reaps children; notes the container's exit.
    fn reap(&mut self) {
        while self.p.signals.read_signal().ok().flatten().is_some() {}
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == self.p.container_pid => self.exited(code, None),
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == self.p.container_pid => {
                    self.exited(128 + signal as i32, Some(signal as i32))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn exited(&mut self, exit_code: i32, signal: Option<i32>) {
        let oom_killed = self.p.options.oom_file.as_deref().is_some_and(oom_kills_recorded);
        self.exit =
            Some(ExitRecord { exit_code, signal, oom_killed, finished_at: crate::runtime::now_rfc3339_nanos() });
        self.exited_at = Some(Instant::now());
        if self.starting {
            // The process died before init reported: a start failure init could not describe.
            self.start_result();
        }
    }

    /// Records the exit, tells the waiters, closes the attach streams, and ends the shim.
    fn finish(mut self) -> ExitCode {
        if self.stdout_open {
            self.pump(FRAME_STDOUT);
        }
        if self.stderr_open {
            self.pump(FRAME_STDERR);
        }
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush_partial();
        }
        let record = self.exit.clone().unwrap_or_default();
        if let Err(e) = write_exit_record(&self.p.bundle.join(EXIT_FILE), &record) {
            eprintln!("shim: recording the exit: {e}");
        }
        let _ = std::fs::remove_file(self.p.bundle.join(SOCKET_FILE));
        for client in &mut self.clients {
            match client.role {
                Role::Waiting => client.reply(&Reply::Exited(record.clone())),
                Role::Starting => client.reply(&Reply::Error { message: "the container exited while starting".into() }),
                _ => {}
            }
        }
        // Give every client its last bytes, blocking briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        for client in &mut self.clients {
            let _ = client.stream.set_nonblocking(false);
            let _ = client.stream.set_write_timeout(Some(
                deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10)),
            ));
            let _ = client.stream.write_all(&client.output);
            let _ = client.stream.shutdown(std::net::Shutdown::Both);
        }
        ExitCode::SUCCESS
    }
}

/// Sets a terminal's size (TIOCSWINSZ on its master); the shell inside gets SIGWINCH.
pub(crate) fn set_terminal_size(master: &OwnedFd, rows: u16, cols: u16) {
    let size = nix::pty::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one Winsize from the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if rc < 0 {
        eprintln!("shim: resizing the terminal: {}", io::Error::last_os_error());
    }
}

/// Whether the cgroup's OOM counter (v1 memory.oom_control or v2 memory.events) is non-zero.
fn oom_kills_recorded(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines().any(|line| {
                let mut words = line.split_whitespace();
                words.next() == Some("oom_kill")
                    && words.next().and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n > 0)
            })
        })
        .unwrap_or(false)
}

/// Writes the exit record durably: a temporary file, fsync, rename.
fn write_exit_record(path: &std::path::Path, record: &ExitRecord) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec(record).map_err(io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counter_parses_v1_and_v2() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("memory.oom_control");
        std::fs::write(&v1, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").unwrap();
        assert!(oom_kills_recorded(&v1));
        let v2 = dir.path().join("memory.events");
        std::fs::write(&v2, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n").unwrap();
        assert!(!oom_kills_recorded(&v2));
        assert!(!oom_kills_recorded(&dir.path().join("missing")));
    }

    #[test]
    fn exit_records_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EXIT_FILE);
        let record = ExitRecord { exit_code: 3, signal: None, oom_killed: false, finished_at: "t".into() };
        write_exit_record(&path, &record).unwrap();
        let back: ExitRecord = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, record);
    }
}
