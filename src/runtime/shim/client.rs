//! The daemon's side of the shim: launching one for a prepared bundle, and talking to it over
//! its socket (start, attach, wait, kill, resize). Async, for the tokio daemon.

use std::io;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{EXIT_FILE, ExitRecord, Handshake, Reply, Request, SOCKET_FILE};

/// Starts `kapsel shim <bundle>` and waits until the container is prepared; returns the
/// container process's host pid, or init's Docker-worded failure.
pub async fn launch(kapsel: &Path, bundle: &Path) -> Result<i32, String> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(bundle.join("shim.log"))
        .map_err(|e| format!("opening the shim's log: {e}"))?;
    let mut child = tokio::process::Command::new(kapsel)
        .arg("shim")
        .arg(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("starting the shim: {e}"))?;
    let stdout = child.stdout.take().ok_or("the shim has no stdout")?;
    // The first shim process exits as soon as it has forked the real one; reap it.
    let _ = child.wait().await;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await.map_err(|e| format!("reading the shim's answer: {e}"))?;
    match serde_json::from_str::<Handshake>(line.trim()) {
        Ok(Handshake::Ready { pid }) => Ok(pid),
        Ok(Handshake::Failed { message }) => Err(message),
        Err(_) if line.trim().is_empty() => {
            Err("the shim exited without an answer (see shim.log in the bundle)".into())
        }
        Err(e) => Err(format!("the shim's answer is garbled ({e}): {line}")),
    }
}

/// Connects to a shim's socket through `/proc/self/fd/<dir>/`, whose length does not depend on
/// the data root (a unix socket path is limited to 108 bytes).
pub async fn connect_socket(bundle: &Path) -> io::Result<UnixStream> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(bundle)?;
    UnixStream::connect(format!("/proc/self/fd/{}/{SOCKET_FILE}", dir.as_raw_fd())).await
}

async fn connect(bundle: &Path, request: &Request) -> io::Result<UnixStream> {
    let mut stream = connect_socket(bundle).await?;
    let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    Ok(stream)
}

/// Sends a request and reads its one-line reply.
pub async fn call(bundle: &Path, request: &Request) -> io::Result<Reply> {
    let stream = connect(bundle, request).await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    if line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the shim closed the connection"));
    }
    serde_json::from_str(line.trim()).map_err(io::Error::other)
}

/// Opens an attach stream: output frames come in Docker's multiplexed format; stdin, close
/// and resize frames go out.
pub async fn attach(bundle: &Path, stdin: bool, stdout: bool, stderr: bool) -> io::Result<UnixStream> {
    connect(bundle, &Request::Attach { stdin, stdout, stderr }).await
}

/// Waits until the container exits and returns how; when the shim is already gone, the record
/// it left in the bundle.
pub async fn wait(bundle: &Path) -> io::Result<ExitRecord> {
    match call(bundle, &Request::Wait).await {
        Ok(Reply::Exited(record)) => Ok(record),
        Ok(other) => Err(io::Error::other(format!("unexpected reply to wait: {other:?}"))),
        Err(_) => read_exit_record(bundle).ok_or_else(|| io::Error::other("the shim is gone and left no exit record")),
    }
}

/// The exit record a shim wrote, if any.
pub fn read_exit_record(bundle: &Path) -> Option<ExitRecord> {
    serde_json::from_slice(&std::fs::read(bundle.join(EXIT_FILE)).ok()?).ok()
}
