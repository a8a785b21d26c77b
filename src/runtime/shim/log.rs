//! The json-file log the shim writes, in Docker's format (one JSON object a line with `log`,
//! `stream` and `time`), rotated by size, so `docker logs` works with nobody attached and
//! survives a daemon restart.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A line longer than this is written as several entries, as Docker splits at 16 KiB.
const MAX_ENTRY: usize = 16 * 1024;

/// One log entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The text, with its newline when it had one.
    pub log: String,
    /// stdout or stderr.
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

/// The path of rotated file `n` (0 is the live file).
pub fn rotated_path(live: &Path, n: u32) -> PathBuf {
    if n == 0 { live.to_path_buf() } else { PathBuf::from(format!("{}.{n}", live.display())) }
}

/// Appends entries to the live log, rotating it by size.
pub struct JsonFileLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    partial: [Vec<u8>; 2],
}

impl JsonFileLog {
    /// Opens (appending to) the live log.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<JsonFileLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Logs output of stream 1 (stdout) or 2 (stderr): every complete line becomes an entry;
    /// an unfinished line waits for the rest (or for `flush_partial`).
    pub fn write(&mut self, stream: u8, data: &[u8]) -> io::Result<()> {
        let index = usize::from(stream == 2);
        let mut pending = std::mem::take(&mut self.partial[index]);
        pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(offset) = pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + offset + 1;
            self.write_entry(stream, &pending[start..end])?;
            start = end;
        }
        while pending.len() - start >= MAX_ENTRY {
            self.write_entry(stream, &pending[start..start + MAX_ENTRY])?;
            start += MAX_ENTRY;
        }
        pending.drain(..start);
        self.partial[index] = pending;
        Ok(())
    }

    /// Writes out unfinished lines, at the end of the container's output.
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [1u8, 2] {
            let pending = std::mem::take(&mut self.partial[usize::from(stream == 2)]);
            if !pending.is_empty() {
                self.write_entry(stream, &pending)?;
            }
        }
        self.file.flush()
    }

    fn write_entry(&mut self, stream: u8, text: &[u8]) -> io::Result<()> {
        let entry = LogEntry {
            log: String::from_utf8_lossy(text).into_owned(),
            stream: if stream == 2 { "stderr" } else { "stdout" }.to_string(),
            time: crate::runtime::now_rfc3339_nanos(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.max_files).rev() {
            let from = rotated_path(&self.path, n - 1);
            if from.exists() {
                std::fs::rename(from, rotated_path(&self.path, n))?;
            }
        }
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<LogEntry> {
        std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn lines_become_entries_and_partials_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonFileLog::open(&path, 0, 1).unwrap();
        log.write(1, b"hello\nwor").unwrap();
        log.write(2, b"oops\n").unwrap();
        log.write(1, b"ld\ntail").unwrap();
        log.flush_partial().unwrap();
        let got: Vec<(String, String)> = entries(&path).into_iter().map(|e| (e.stream, e.log)).collect();
        assert_eq!(
            got,
            vec![
                ("stdout".into(), "hello\n".into()),
                ("stderr".into(), "oops\n".into()),
                ("stdout".into(), "world\n".into()),
                ("stdout".into(), "tail".into()),
            ]
        );
    }

    #[test]
    fn rotates_by_size_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonFileLog::open(&path, 200, 3).unwrap();
        for i in 0..20 {
            log.write(1, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(rotated_path(&path, 1).exists());
        assert!(rotated_path(&path, 2).exists());
        assert!(!rotated_path(&path, 3).exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        assert_eq!(entries(&path).last().unwrap().log, "line 19\n");
    }
}
