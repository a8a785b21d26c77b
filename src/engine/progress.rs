//! The JSON progress messages of pull and push, shaped as dockerd sends them so that the docker
//! CLI draws its per-layer bars:
//!
//! ```text
//! {"status":"Pulling from library/busybox","id":"latest"}
//! {"status":"Downloading","progressDetail":{"current":1024,"total":2048},"progress":"[=====…>   ]  1.024kB/2.048kB","id":"a3ed95caeb02"}
//! {"status":"Status: Downloaded newer image for busybox:latest"}
//! {"errorDetail":{"message":"…"},"error":"…"}
//! ```
//!
//! The engine sends messages into a channel; the API writes them out, one per line.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

/// One progress message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    /// What is happening (`Downloading`, `Pull complete`, `Digest: sha256:…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Bytes done and expected, for the CLI's bar (`{}` on per-layer messages without counts).
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// The bar as text, for clients that do not draw their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// What the message is about: a short layer id, or the tag being pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Structured data for the client (push's `{"Tag","Digest","Size"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
    /// An error that ended the stream.
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// The same error, for old clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Bytes done out of bytes expected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Bytes expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// The error of an error message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// What went wrong.
    pub message: String,
}

impl Progress {
    /// A status line (`Digest: sha256:…`).
    pub fn status(status: impl Into<String>) -> Progress {
        Progress { status: Some(status.into()), ..Progress::default() }
    }

    /// A status line about one thing (`{"status":"Pulling from busybox","id":"latest"}`).
    pub fn with_id(id: impl Into<String>, status: impl Into<String>) -> Progress {
        Progress { status: Some(status.into()), id: Some(id.into()), ..Progress::default() }
    }

    /// A per-layer step without counts (`Pulling fs layer`, `Pull complete`), with the empty
    /// `progressDetail` dockerd sends.
    pub fn layer(id: impl Into<String>, status: impl Into<String>) -> Progress {
        Progress { progress_detail: Some(ProgressDetail::default()), ..Progress::with_id(id, status) }
    }

    /// A per-layer step with counts (`Downloading`, `Extracting`, `Pushing`).
    pub fn bytes(id: impl Into<String>, status: impl Into<String>, current: u64, total: u64) -> Progress {
        Progress {
            progress_detail: Some(ProgressDetail { current: Some(current), total: (total > 0).then_some(total) }),
            progress: Some(progress_bar(current, total)),
            ..Progress::with_id(id, status)
        }
    }

    /// An auxiliary message (push's result).
    pub fn aux(value: serde_json::Value) -> Progress {
        Progress { progress_detail: Some(ProgressDetail::default()), aux: Some(value), ..Progress::default() }
    }

    /// The message that reports an error mid-stream.
    pub fn error(message: impl Into<String>) -> Progress {
        let message = message.into();
        Progress {
            error_detail: Some(ErrorDetail { message: message.clone() }),
            error: Some(message),
            ..Progress::default()
        }
    }
}

/// Where the engine sends progress; sending never fails (a client that went away just stops
/// reading), and [`ProgressSender::is_closed`] lets long transfers stop early.
#[derive(Debug, Clone)]
pub struct ProgressSender(mpsc::UnboundedSender<Progress>);

impl ProgressSender {
    /// A sender and the receiver the API reads.
    pub fn channel() -> (ProgressSender, mpsc::UnboundedReceiver<Progress>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (ProgressSender(sender), receiver)
    }

    /// A sender whose messages go nowhere (for callers that want no progress).
    pub fn discard() -> ProgressSender {
        ProgressSender::channel().0
    }

    /// Sends a message.
    pub fn send(&self, progress: Progress) {
        let _ = self.0.send(progress);
    }

    /// True when nobody reads any more (the client disconnected).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Lets byte-count messages through at most every 100 ms, so a fast transfer does not flood
/// the client, while always letting the last one through.
#[derive(Debug)]
pub struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    /// How often counts are reported.
    const INTERVAL: Duration = Duration::from_millis(100);

    /// A throttle that lets the first message through.
    pub fn new() -> Throttle {
        Throttle { last: None }
    }

    /// Whether to report now (`done` always reports).
    pub fn ready(&mut self, done: bool) -> bool {
        let now = Instant::now();
        if done || self.last.is_none_or(|last| now.duration_since(last) >= Throttle::INTERVAL) {
            self.last = Some(now);
            return true;
        }
        false
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

/// The first 12 hex digits of a digest: how progress names layers.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// dockerd's text bar: `[=========>         ]  1.234MB/5.678MB`.
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let half_percent = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(half_percent), " ".repeat(50 - half_percent));
    if current > total {
        return format!("{bar}{:>8}", human_size(current));
    }
    format!("{bar}{:>8}/{}", human_size(current), human_size(total))
}

/// A size with decimal units and four significant digits, as Go's `units.HumanSize` writes it
/// (`1.235MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let integer_digits = if value < 10.0 {
        1
    } else if value < 100.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.*}", 4usize.saturating_sub(integer_digits));
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_dockerd_shapes() {
        let json = |p: Progress| serde_json::to_string(&p).unwrap();
        assert_eq!(
            json(Progress::with_id("latest", "Pulling from library/busybox")),
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#
        );
        assert_eq!(
            json(Progress::layer("a3ed95caeb02", "Pull complete")),
            r#"{"status":"Pull complete","progressDetail":{},"id":"a3ed95caeb02"}"#
        );
        let downloading = json(Progress::bytes("a3ed95caeb02", "Downloading", 1024, 2048));
        assert!(
            downloading.starts_with(r#"{"status":"Downloading","progressDetail":{"current":1024,"total":2048},"progress":"[=========================>"#),
            "{downloading}"
        );
        assert!(downloading.ends_with(r#"  1.024kB/2.048kB","id":"a3ed95caeb02"}"#), "{downloading}");
        assert_eq!(json(Progress::error("boom")), r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#);
        let aux: serde_json::Value = serde_json::from_str(&json(Progress::aux(
            serde_json::json!({"Tag":"latest","Digest":"sha256:x","Size":527}),
        )))
        .unwrap();
        assert_eq!(aux, serde_json::json!({"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:x","Size":527}}));
    }

    #[test]
    fn sizes_and_bars_read_like_go() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(12_345_678), "12.35MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
        assert_eq!(progress_bar(100, 100), format!("[{}>]     100B/100B", "=".repeat(50)));
        assert_eq!(progress_bar(0, 100), format!("[>{}]       0B/100B", " ".repeat(50)));
        assert_eq!(short_digest("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn throttle_lets_the_first_and_last_through() {
        let mut throttle = Throttle::new();
        assert!(throttle.ready(false));
        assert!(!throttle.ready(false));
        assert!(throttle.ready(true));
    }
}
