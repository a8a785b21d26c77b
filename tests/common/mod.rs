//! Test harness shared by the integration tests (`mod common;`).
//!
//! Every test starts its own `kapsel serve` on a fresh data root and a free
//! loopback port, then drives it the way users do: with the real `docker`
//! CLI over the unix socket, or with raw HTTP/1.1 over TCP when the exact
//! status, headers and body matter.

// Each test binary uses a different subset of the harness.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// How long the daemon may take to answer `/_ping` after being spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the daemon may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound for one docker CLI invocation, so a hung daemon fails the
/// test instead of hanging the whole suite.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);
/// Read/write timeout of the raw HTTP client.
const HTTP_TIMEOUT: Duration = Duration::from_secs(120);

const LOG_FILE: &str = "kapsel-test.log";

/// A running `kapsel serve` with its own data root.
pub struct Daemon {
    child: Option<Child>,
    data_root: PathBuf,
    port: u16,
    // Dropped last: removes the data root.
    _root_dir: tempfile::TempDir,
    // DOCKER_CONFIG and files the tests write (saved archives, ...).
    scratch: tempfile::TempDir,
    // The default bridge's name and subnet: this daemon's own, so that
    // daemons running side by side never share a bridge or iptables chain.
    bridge_name: String,
    bridge_subnet: String,
    // More `kapsel serve` flags (kept across restarts).
    extra_args: Vec<String>,
}

impl Daemon {
    /// Starts a daemon on a new temporary data root and a free TCP port,
    /// and waits until it answers `GET /_ping`. Its TCP listener needs no
    /// token (`--insecure-no-auth`, loopback), so raw HTTP calls act as the
    /// admin, as the unix socket does.
    pub fn start() -> Daemon {
        Daemon::start_with(&["--insecure-no-auth"])
    }

    /// `start()` with the test image imported as `busybox`, as most
    /// container tests want it.
    pub fn with_busybox() -> Daemon {
        let d = Daemon::start();
        d.import_busybox();
        d
    }

    /// Starts a daemon with extra `kapsel serve` flags (none: its TCP
    /// listener requires bearer tokens).
    pub fn start_with(extra_args: &[&str]) -> Daemon {
        let root_dir = tempfile::Builder::new().prefix("kapsel-test-").tempdir().expect("create the data root");
        // The daemon reports its data root (`docker info`); compare against
        // the canonical path.
        let data_root = root_dir.path().canonicalize().expect("canonicalize the data root");
        let scratch =
            tempfile::Builder::new().prefix("kapsel-test-scratch-").tempdir().expect("create the scratch dir");
        std::fs::create_dir(scratch.path().join("docker-config")).expect("create DOCKER_CONFIG");
        let bridge_name = format!("kt{:08x}", rand_u32());
        let bridge_subnet = test_subnet();
        let mut daemon = Daemon {
            child: None,
            data_root,
            port: free_port(),
            _root_dir: root_dir,
            scratch,
            bridge_name,
            bridge_subnet,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        daemon.spawn();
        daemon
    }

    /// `unix:///…/kapsel.sock`, as DOCKER_HOST wants it.
    pub fn socket_url(&self) -> String {
        format!("unix://{}", self.socket_path().display())
    }

    pub fn socket_path(&self) -> PathBuf {
        self.data_root.join("kapsel.sock")
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// A directory for the test's own files; removed with the daemon.
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_root.join(LOG_FILE)).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// SIGTERM, then asserts a clean shutdown: exit status 0 within 15 s and
    /// the unix socket file removed.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the daemon is not running");
        signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("send SIGTERM");
        let status = match wait_timeout(&mut child, STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kapsel did not exit within {STOP_TIMEOUT:?} of SIGTERM\n--- daemon log ---\n{}", self.log());
            }
        };
        assert!(status.success(), "kapsel exited with {status} after SIGTERM\n--- daemon log ---\n{}", self.log());
        assert!(
            !self.socket_path().exists(),
            "the socket file {} is still there after a clean shutdown",
            self.socket_path().display()
        );
    }

    /// Stops the daemon cleanly and starts it again on the same data root
    /// and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The default bridge's Linux name (`kt…`, unique to this daemon).
    pub fn bridge_name(&self) -> &str {
        &self.bridge_name
    }

    /// The default bridge's subnet (a /24 unique to this daemon).
    pub fn bridge_subnet(&self) -> &str {
        &self.bridge_subnet
    }

    /// SIGTERM and a wait, then SIGKILL if needed; never panics (for Drop).
    /// A clean stop with no container left removes the daemon's bridges
    /// and iptables rules.
    fn stop_quietly(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if wait_timeout(&mut child, STOP_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// SIGKILL: no chance to clean up (simulates a crash or power loss).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same data root and port after `stop()`
    /// or `kill9()`.
    pub fn respawn(&mut self) {
        assert!(self.child.is_none(), "the daemon is still running");
        self.spawn();
    }

    fn spawn(&mut self) {
        let log_path = self.data_root.join(LOG_FILE);
        let log = File::options().create(true).append(true).open(&log_path).expect("open the daemon log");
        let log_err = log.try_clone().expect("clone the log handle");
        let mut cmd = Command::new(daemon_binary());
        cmd.arg("serve")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--bridge-name")
            .arg(&self.bridge_name)
            .arg("--bridge-subnet")
            .arg(&self.bridge_subnet)
            .arg("-H")
            .arg(self.socket_url())
            .arg("-H")
            .arg(format!("tcp://{}", self.tcp_addr()))
            .args(&self.extra_args)
            .env_remove("KAPSEL_HOST")
            .env_remove("KAPSEL_DATA_ROOT")
            .env_remove("KAPSEL_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {}: {e}", daemon_binary().display()));
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                self.child = None;
                panic!("kapsel exited with {status} before answering /_ping\n--- daemon log ---\n{}", self.log());
            }
            if self.answers_ping() {
                return;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "kapsel did not answer GET /_ping with 200 within {START_TIMEOUT:?}\n--- daemon log ---\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the daemon is up: `GET /_ping` answers 200 over TCP, or, when
    /// its TCP listener speaks TLS (`--tls`, `--tlsverify`), over the unix
    /// socket while the TCP port accepts connections.
    fn answers_ping(&self) -> bool {
        if !self.extra_args.iter().any(|a| a == "--tls" || a == "--tlsverify") {
            return try_http(self.tcp_addr(), "GET", "/_ping", None, &[]).is_ok_and(|reply| reply.status == 200);
        }
        let unix_ping = || -> std::io::Result<bool> {
            let mut stream = std::os::unix::net::UnixStream::connect(self.socket_path())?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET /_ping HTTP/1.1\r\nHost: kapsel\r\nConnection: close\r\n\r\n")?;
            Ok(read_line(&mut BufReader::new(stream))?.starts_with("HTTP/1.1 200"))
        };
        unix_ping().unwrap_or(false) && TcpStream::connect_timeout(&self.tcp_addr(), Duration::from_secs(5)).is_ok()
    }

    // ---- the docker CLI -------------------------------------------------

    fn docker_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.args(args);
        self.docker_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Points a command at this daemon the way a user would: DOCKER_HOST set,
    /// a private DOCKER_CONFIG and none of the variables that change what the
    /// CLI talks to or which API version it asks for.
    pub fn docker_env(&self, cmd: &mut Command) {
        cmd.env("DOCKER_HOST", self.socket_url())
            .env("DOCKER_CONFIG", self.scratch.path().join("docker-config"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_DEFAULT_PLATFORM")
            .env("DOCKER_CLI_HINTS", "false");
    }

    /// Runs `docker ARGS` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        run(self.docker_command(args, &[]), None)
    }

    /// Runs `docker ARGS` with extra environment variables (for example
    /// DOCKER_API_VERSION).
    pub fn docker_env_args(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        run(self.docker_command(args, env), None)
    }

    /// Runs `docker ARGS` with `stdin` on its standard input.
    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.docker_command(args, &[]), Some(stdin))
    }

    /// Runs `docker ARGS`, asserts that it succeeded and returns its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        self.assert_success(&format!("docker {}", args.join(" ")), &out);
        String::from_utf8(out.stdout).expect("docker printed non-UTF-8")
    }

    /// Runs `bash -o pipefail -c SCRIPT` with this daemon's docker
    /// environment (for pipelines such as `docker save … | docker load`).
    pub fn shell(&self, script: &str) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg("-o").arg("pipefail").arg("-c").arg(script);
        self.docker_env(&mut cmd);
        run(cmd, None)
    }

    /// Panics with the command's output and the daemon log unless `out`
    /// is a success.
    pub fn assert_success(&self, what: &str, out: &Output) {
        assert!(
            out.status.success(),
            "`{what}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- daemon log (tail) ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 60),
        );
    }

    /// Panics with the command's output and the daemon log unless `out`
    /// exited with `code`.
    pub fn assert_exit(&self, what: &str, out: &Output, code: i32) {
        assert_eq!(
            out.status.code(),
            Some(code),
            "`{what}` exited with {}, expected {code}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- daemon log (tail) ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 60),
        );
    }

    // ---- containers -----------------------------------------------------

    /// `docker rm -f` every container, so that the daemon's Drop leaves
    /// nothing behind.
    pub fn remove_all_containers(&self) {
        let ids = self.docker_ok(&["ps", "-aq"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            self.docker_ok(&args);
        }
    }

    /// `docker import <test image> busybox` (the tag every container test
    /// runs), returning the image ID.
    pub fn import_busybox(&self) -> String {
        let image = test_image();
        let out = self.docker_ok(&["import", image.to_str().unwrap(), "busybox"]);
        let id = out.trim().to_string();
        assert!(is_sha256_id(&id), "docker import printed {out:?}, not an image ID");
        id
    }

    /// `docker inspect -f '{{json .State}}' NAME`, parsed.
    pub fn container_state(&self, name: &str) -> serde_json::Value {
        let out = self.docker_ok(&["inspect", "-f", "{{json .State}}", name]);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("State of {name} is not JSON ({e}): {out}"))
    }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.docker_ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Polls `docker logs NAME` until it contains `text` (at most `timeout`);
    /// returns the logs.
    pub fn wait_for_logs(&self, name: &str, text: &str, timeout: Duration) -> String {
        let mut logs = String::new();
        let found = wait_until(timeout, || {
            let out = self.docker(&["logs", name]);
            logs = format!("{}{}", stdout_text(&out), stderr_text(&out));
            logs.contains(text)
        });
        assert!(
            found,
            "the logs of {name} did not show {text:?} within {timeout:?}:\n{logs}\n--- daemon log (tail) ---\n{}",
            tail(&self.log(), 60)
        );
        logs
    }

    // ---- raw HTTP -------------------------------------------------------

    /// One HTTP/1.1 request over TCP (`Connection: close`).
    pub fn http(&self, method: &str, path: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> HttpReply {
        try_http(self.tcp_addr(), method, path, body, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n--- daemon log (tail) ---\n{}", tail(&self.log(), 60)))
    }

    pub fn get(&self, path: &str) -> HttpReply {
        self.http("GET", path, None, &[])
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- kapsel log ({}) ---\n{}", self.data_root.display(), tail(&self.log(), 200));
        }
        self.remove_leftover_containers();
        self.stop_quietly();
    }
}

impl Daemon {
    /// Best effort, for a test that failed half-way: `docker rm -f` whatever
    /// containers are left, so their processes, mounts and cgroups do not
    /// outlive the test. Never panics (it runs from Drop).
    fn remove_leftover_containers(&mut self) {
        const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
        if !self.is_running() {
            return;
        }
        let quiet = |args: &[&str], stdout: Stdio| -> Option<Child> {
            let mut cmd = Command::new("docker");
            cmd.args(args);
            self.docker_env(&mut cmd);
            cmd.stdin(Stdio::null()).stdout(stdout).stderr(Stdio::null()).spawn().ok()
        };
        let Some(mut ps) = quiet(&["ps", "-aq"], Stdio::piped()) else {
            return;
        };
        // Wait first (a hung daemon must not block the read); the IDs fit
        // in the pipe.
        if wait_timeout(&mut ps, CLEANUP_TIMEOUT).is_none() {
            let _ = ps.kill();
            let _ = ps.wait();
            return;
        }
        let mut ids = String::new();
        if let Some(mut out) = ps.stdout.take() {
            let _ = out.read_to_string(&mut ids);
        }
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        if let Some(mut rm) = quiet(&args, Stdio::null())
            && wait_timeout(&mut rm, CLEANUP_TIMEOUT).is_none()
        {
            let _ = rm.kill();
            let _ = rm.wait();
        }
    }
}

/// A reply read by [`Daemon::http`].
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked transfer encoding removed.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics showing the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("reply (status {}) is not JSON: {e}\n{}", self.status, self.text()))
    }

    /// The body as a stream of JSON messages (the progress format of
    /// import/load/pull), one per non-empty line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stream line is not JSON: {e}: {l:?}")))
            .collect()
    }
}

fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpReply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;

    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        // The server may answer (an error) before reading all of a large
        // body and close; the reply is still what the test wants to see.
        if let Err(e) = stream.write_all(body)
            && e.kind() != std::io::ErrorKind::BrokenPipe
            && e.kind() != std::io::ErrorKind::ConnectionReset
        {
            return Err(e);
        }
    }
    stream.flush()?;

    let mut reader = BufReader::new(stream);
    let status_line = read_line(&mut reader)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| bad_reply(format!("bad status line {status_line:?}")))?;

    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or_else(|| bad_reply(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());

    let mut body = Vec::new();
    let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
    if no_body {
        // nothing to read
    } else if find("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        loop {
            let size_line = read_line(&mut reader)?;
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|_| bad_reply(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(&mut reader)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            if !read_line(&mut reader)?.is_empty() {
                return Err(bad_reply("chunk not followed by CRLF".into()));
            }
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| bad_reply(format!("bad content-length {len:?}")))?;
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(HttpReply { status, headers, body })
}

/// One CRLF-terminated line, without the CRLF.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(bad_reply("connection closed mid-reply".into()));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad_reply("non-UTF-8 header line".into()))
}

fn bad_reply(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

// ---- processes ----------------------------------------------------------

/// The daemon under test: the kapsel binary cargo built for these tests, or
/// `$KAPSEL_TEST_BIN` (to run the suite against another build).
fn daemon_binary() -> PathBuf {
    std::env::var_os("KAPSEL_TEST_BIN")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kapsel")))
}

/// A random u32 (the harness needs no crate for it).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
    hasher.finish() as u32
}

/// A /24 in 10.200.0.0 – 10.255.255.0 that no other daemon or network of
/// this test process uses and that no host route touches: for each
/// daemon's default bridge and for the networks tests create.
pub fn test_subnet() -> String {
    const COUNT: u32 = 56 * 256;
    static BASE: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = *BASE.get_or_init(|| rand_u32() % COUNT);
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    loop {
        let index = (base + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT;
        let (b, c) = (200 + index / 256, index % 256);
        // /proc/net/route: little-endian hex destination; a clash is any
        // route inside 10.b.c.0/24 or any non-default route containing it.
        let clash = routes.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let parse = |s: &str| u32::from_str_radix(s, 16).ok().map(|v| u32::from_be_bytes(v.to_le_bytes()));
            match (fields.get(1).and_then(|s| parse(s)), fields.get(7).and_then(|s| parse(s))) {
                (Some(dest), Some(mask)) if mask != 0 => {
                    let ours = (10 << 24) | (b << 16) | (c << 8);
                    (ours & mask) == (dest & mask) || (dest & 0xffff_ff00) == ours
                }
                _ => false,
            }
        });
        if !clash {
            return format!("10.{b}.{c}.0/24");
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port()
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command to completion (at most COMMAND_TIMEOUT), feeding `stdin`
/// and collecting stdout and stderr without risking a pipe deadlock.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        let data = data.to_vec();
        // A command that exits early closes the pipe: not our failure.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let Some(status) = wait_timeout(&mut child, COMMAND_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{shown} did not finish within {COMMAND_TIMEOUT:?}");
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// True when the tests run as root. Running containers needs root (CI is
/// root); tests that start containers call this first and return early
/// with a printed note otherwise.
pub fn running_as_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("note: skipped, running containers needs root (run scripts/test.sh as root)");
    false
}

/// Calls `check` every 50 ms until it returns true (true) or `timeout`
/// passes (false).
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A command's stdout, lossily decoded.
pub fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, lossily decoded.
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---- the test image -----------------------------------------------------

/// The busybox rootfs tarball for `docker import`: `$KAPSEL_TEST_IMAGE`
/// (set by scripts/test.sh), else built once by scripts/make-test-image.sh.
pub fn test_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("KAPSEL_TEST_IMAGE").filter(|p| !p.is_empty()) {
                let path = PathBuf::from(path);
                assert!(path.is_file(), "KAPSEL_TEST_IMAGE={} is not a file", path.display());
                return path;
            }
            let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
            let out =
                Command::new(repo.join("scripts/make-test-image.sh")).output().expect("run scripts/make-test-image.sh");
            assert!(
                out.status.success(),
                "scripts/make-test-image.sh failed\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let path = repo.join("target/test-image/busybox.tar");
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .clone()
}

/// The test image's bytes.
pub fn test_image_bytes() -> Vec<u8> {
    std::fs::read(test_image()).expect("read the test image")
}

/// `sha256:<hex>` of a file, as docker prints layer digests (diff IDs).
pub fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {} failed", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// True for `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_id(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}
