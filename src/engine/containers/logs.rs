//! `docker logs`: reads the json-file logs the shim writes (rotated files oldest first), with
//! Docker's stream, since, until and tail selection, and follows the live file until the
//! container stops.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{Container, Lifecycle};
use crate::engine::{Engine, Result};
use crate::runtime::shim::log::{LogEntry, rotated_path};
use crate::runtime::shim::protocol::LOG_FILE;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only entries at or after this time (nanoseconds since the epoch).
    pub since: Option<i128>,
    /// Only entries before this time.
    pub until: Option<i128>,
    /// Only the last N entries of the backlog.
    pub tail: Option<usize>,
    /// Keep streaming new entries until the container stops.
    pub follow: bool,
}

/// One log entry, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// The entry's time as written (RFC 3339).
    pub time: String,
    /// The text.
    pub text: String,
}

/// How often a followed log is polled for growth.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

impl Engine {
    /// The container and a channel of its log lines.
    pub async fn container_logs(
        &self,
        tenant: &str,
        name: &str,
        options: LogOptions,
    ) -> Result<(Container, mpsc::Receiver<LogLine>)> {
        let c = self.resolve_container(tenant, name).await?;
        let lifecycle = self.live.get(&c.row.id).lifecycle.subscribe();
        // Re-read after subscribing so that an exit in between ends the follow.
        let c = self.resolve_container(tenant, &c.row.id).await?;
        let follow = options.follow && c.is_running();
        let live = self.bundle_dir(&c.row.id).join(LOG_FILE);
        let (sender, receiver) = mpsc::channel(256);
        tokio::task::spawn_blocking(move || read_logs(&live, &options, follow, lifecycle, &sender));
        Ok((c, receiver))
    }
}

fn read_logs(
    live: &Path,
    options: &LogOptions,
    follow: bool,
    lifecycle: watch::Receiver<Lifecycle>,
    sender: &mpsc::Sender<LogLine>,
) {
    let mut files: Vec<PathBuf> = (1..100).map(|n| rotated_path(live, n)).take_while(|p| p.exists()).collect();
    files.reverse();
    let mut backlog: VecDeque<LogLine> = VecDeque::new();
    let keep = |backlog: &mut VecDeque<LogLine>, line: LogLine| {
        backlog.push_back(line);
        if let Some(tail) = options.tail {
            while backlog.len() > tail {
                backlog.pop_front();
            }
        }
    };
    for path in &files {
        if let Ok(file) = File::open(path) {
            for line in BufReader::new(file).lines().map_while(std::result::Result::ok) {
                if let Some(line) = select(&line, options) {
                    keep(&mut backlog, line);
                }
            }
        }
    }
    let Ok(mut file) = File::open(live) else {
        send_all(backlog, sender);
        return;
    };
    let mut offset = read_from(&mut file, 0, options, &mut |line| keep(&mut backlog, line));
    if !send_all(backlog, sender) || !follow {
        return;
    }
    let exits_at_start = lifecycle.borrow().exits;
    let mut inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
    loop {
        let stopped = {
            let l = lifecycle.borrow();
            l.exits > exits_at_start || l.removed
        };
        let mut alive = true;
        offset = read_from(&mut file, offset, options, &mut |line| alive &= sender.blocking_send(line).is_ok());
        if !alive || sender.is_closed() {
            return;
        }
        // A rotation renames the live file: finish the old one (done above), then switch.
        if let Ok(meta) = std::fs::metadata(live)
            && meta.ino() != inode
            && let Ok(next) = File::open(live)
        {
            file = next;
            inode = meta.ino();
            offset = 0;
            continue;
        }
        if stopped {
            return;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// Reads complete lines from `offset`; returns the offset after the last complete line.
fn read_from(file: &mut File, offset: u64, options: &LogOptions, emit: &mut dyn FnMut(LogLine)) -> u64 {
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut reader = BufReader::new(&mut *file);
    let mut position = offset;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return position,
            Ok(n) => {
                if !line.ends_with('\n') {
                    // A line the shim is still writing: read it whole next time.
                    return position;
                }
                position += n as u64;
                if let Some(entry) = select(line.trim_end(), options) {
                    emit(entry);
                }
            }
        }
    }
}

fn send_all(lines: VecDeque<LogLine>, sender: &mpsc::Sender<LogLine>) -> bool {
    lines.into_iter().all(|line| sender.blocking_send(line).is_ok())
}

/// Parses a stored line and applies the stream and time selection.
fn select(line: &str, options: &LogOptions) -> Option<LogLine> {
    let entry: LogEntry = serde_json::from_str(line).ok()?;
    let stream = if entry.stream == "stderr" { 2 } else { 1 };
    if (stream == 1 && !options.stdout) || (stream == 2 && !options.stderr) {
        return None;
    }
    if options.since.is_some() || options.until.is_some() {
        let at = time::OffsetDateTime::parse(&entry.time, &time::format_description::well_known::Rfc3339)
            .ok()?
            .unix_timestamp_nanos();
        if options.since.is_some_and(|since| at < since) || options.until.is_some_and(|until| at > until) {
            return None;
        }
    }
    Some(LogLine { stream, time: entry.time, text: entry.log })
}

/// Docker's `since`/`until`: unix seconds with an optional fraction, or RFC 3339.
pub fn parse_log_time(text: &str) -> Option<i128> {
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i128 = seconds.parse().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    let nanos: i128 = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    Some(seconds * 1_000_000_000 + nanos)
}

/// The time prefix `docker logs -t` shows: RFC 3339 with exactly nine fractional digits.
pub fn timestamp_prefix(time: &str) -> String {
    match time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.nanosecond()
            )
        }
        Err(_) => time.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(path: &Path, entries: &[(&str, &str, &str)]) {
        let text: String = entries
            .iter()
            .map(|(stream, log, time)| {
                serde_json::to_string(&LogEntry {
                    log: log.to_string(),
                    stream: stream.to_string(),
                    time: time.to_string(),
                })
                .unwrap()
                    + "\n"
            })
            .collect();
        std::fs::write(path, text).unwrap();
    }

    fn collect(live: &Path, options: LogOptions) -> Vec<String> {
        let (sender, mut receiver) = mpsc::channel(100);
        let (_tx, rx) = watch::channel(Lifecycle::default());
        read_logs(live, &options, false, rx, &sender);
        drop(sender);
        let mut out = Vec::new();
        while let Ok(line) = receiver.try_recv() {
            out.push(line.text);
        }
        out
    }

    #[test]
    fn reads_rotated_files_in_order_with_tail_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join(LOG_FILE);
        write_log(&rotated_path(&live, 2), &[("stdout", "a\n", "2026-01-01T00:00:01Z")]);
        write_log(&rotated_path(&live, 1), &[("stderr", "b\n", "2026-01-01T00:00:02Z")]);
        write_log(&live, &[("stdout", "c\n", "2026-01-01T00:00:03Z"), ("stdout", "d\n", "2026-01-01T00:00:04Z")]);
        let all = LogOptions { stdout: true, stderr: true, ..Default::default() };
        assert_eq!(collect(&live, all.clone()), vec!["a\n", "b\n", "c\n", "d\n"]);
        assert_eq!(collect(&live, LogOptions { tail: Some(2), ..all.clone() }), vec!["c\n", "d\n"]);
        assert_eq!(collect(&live, LogOptions { stderr: false, ..all.clone() }), vec!["a\n", "c\n", "d\n"]);
        let since = parse_log_time("2026-01-01T00:00:02Z");
        let until = parse_log_time("2026-01-01T00:00:03Z");
        assert_eq!(collect(&live, LogOptions { since, until, ..all }), vec!["b\n", "c\n"]);
    }

    #[test]
    fn times_parse_and_print_like_docker() {
        assert_eq!(parse_log_time("1704067200.5"), Some(1_704_067_200_500_000_000));
        assert_eq!(parse_log_time("1704067200"), Some(1_704_067_200_000_000_000));
        assert_eq!(timestamp_prefix("2026-01-01T00:00:01.5Z"), "2026-01-01T00:00:01.500000000Z");
    }
}
