//! Streamed bodies: uploads spooled to disk before the engine reads them, archives streamed out
//! from a blocking writer, and the newline-delimited JSON replies of import and load.

use std::io::Write;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::error::ApiError;

/// Writes a request body (chunked, of any size) to a temporary file under `dir`; the file is
/// deleted when the returned handle drops.
pub async fn spool_body(body: Body, dir: &Path) -> Result<tempfile::TempPath, ApiError> {
    let internal = |e: std::io::Error| ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("could not spool the upload: {e}"),
    };
    let path = tempfile::NamedTempFile::new_in(dir).map_err(internal)?.into_temp_path();
    let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    Ok(path)
}

/// A `Write` for a blocking thread whose bytes become a streamed response body. A write error
/// is passed on as a body error, so the client sees a broken transfer, not a short archive.
pub struct BodyWriter {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

const BODY_CHUNK: usize = 128 * 1024;

impl BodyWriter {
    /// A writer and the body its bytes flow into.
    pub fn new() -> (BodyWriter, Body) {
        let (sender, receiver) = mpsc::channel(8);
        let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
        (BodyWriter { sender, buffer: Vec::with_capacity(BODY_CHUNK) }, body)
    }

    /// Ends the body with an error, after what was written so far.
    pub fn fail(mut self, error: std::io::Error) {
        let _ = self.flush();
        let _ = self.sender.blocking_send(Err(error));
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(BODY_CHUNK)));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= BODY_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// A 200 reply of newline-delimited JSON messages, as import and load send.
pub fn json_lines(messages: &[serde_json::Value], separator: &str) -> Response {
    let mut body = String::new();
    for message in messages {
        body.push_str(&message.to_string());
        body.push_str(separator);
    }
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The content type of a container's or exec's output: raw bytes with a TTY, else Docker's
/// multiplexed frames.
pub fn output_content_type(tty: bool) -> &'static str {
    if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" }
}

/// The 101 reply that hands the connection over to the output stream (attach, exec start).
pub fn hijacked_response(tty: bool) -> Response {
    let mut response = axum::http::StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(output_content_type(tty)));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    response
}

/// Carries a hijacked attach connection: output frames from the shim go to the client (as
/// Docker's multiplexed frames, or raw bytes with a TTY); the client's raw stdin bytes go to
/// the shim as stdin frames, and its half-close becomes "close stdin". The connection closes
/// when the shim's stream ends, which is how the client learns the output is complete.
///
/// `finished` is awaited after the last output and before the close, so that whatever the
/// client asks right after EOF (an exec's exit code) is already recorded.
pub async fn pump_attach<C>(
    client: C,
    shim: tokio::net::UnixStream,
    tty: bool,
    forward_stdin: bool,
    finished: impl std::future::Future<Output = ()>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use crate::runtime::shim::protocol::{FRAME_CLOSE_STDIN, FRAME_STDIN, frame_header, parse_frame_header};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut shim_read, mut shim_write) = shim.into_split();
    let input = async move {
        if !forward_stdin {
            return std::future::pending::<()>().await;
        }
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => {
                    let _ = shim_write.write_all(&frame_header(FRAME_CLOSE_STDIN, 0)).await;
                    // Keep the write half open: output may still come.
                    return std::future::pending::<()>().await;
                }
                Ok(n) => {
                    if shim_write.write_all(&frame_header(FRAME_STDIN, n)).await.is_err()
                        || shim_write.write_all(&buffer[..n]).await.is_err()
                    {
                        return std::future::pending::<()>().await;
                    }
                }
            }
        }
    };
    let output = async move {
        let mut header = [0u8; 8];
        let mut payload = Vec::new();
        while shim_read.read_exact(&mut header).await.is_ok() {
            let (_, len) = parse_frame_header(&header);
            payload.resize(len, 0);
            if shim_read.read_exact(&mut payload).await.is_err() {
                break;
            }
            let written = if tty {
                client_write.write_all(&payload).await
            } else {
                match client_write.write_all(&header).await {
                    Ok(()) => client_write.write_all(&payload).await,
                    Err(e) => Err(e),
                }
            };
            if written.is_err() {
                break;
            }
        }
        let _ = client_write.flush().await;
        finished.await;
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = output => {}
        _ = input => {}
    }
}
