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
    let path = tempfile::NamedTempFile::new_in(dir)
        .map_err(internal)?
        .into_temp_path();
    let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
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
        (
            BodyWriter {
                sender,
                buffer: Vec::with_capacity(BODY_CHUNK),
            },
            body,
        )
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
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(BODY_CHUNK),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
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
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
