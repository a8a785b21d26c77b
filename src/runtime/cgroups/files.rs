//! Reading and writing cgroup interface files the way cgroupfs expects.
//!
//! Writes open with `O_WRONLY|O_TRUNC` and never `O_CREAT`: cgroupfs refuses to create files, so
//! a missing file must surface as `NotFound` (controller not enabled, feature not compiled in)
//! rather than as a stray regular file.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use super::error::CgroupError;

/// Writes `value` to the interface file `path` in one `write(2)`.
pub fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let result =
        OpenOptions::new().write(true).truncate(true).open(path).and_then(|mut file| file.write_all(value.as_bytes()));
    result.map_err(|source| CgroupError::Write { path: path.to_owned(), value: value.to_owned(), source })
}

/// Reads the whole interface file `path`.
pub fn read(path: &Path) -> Result<String, CgroupError> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut file| file.read_to_string(&mut text))
        .map_err(|source| CgroupError::Read { path: path.to_owned(), source })?;
    Ok(text)
}

/// Reads `path`, or `None` when it does not exist (controller or kernel feature absent).
pub fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match read(path) {
        Ok(text) => Ok(Some(text)),
        Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Reads a file holding one unsigned number.
pub fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    parse_u64(path, read(path)?.trim())
}

/// Reads a file holding one number or `max`; `max` becomes `None`.
pub fn read_u64_or_max(path: &Path) -> Result<Option<u64>, CgroupError> {
    let text = read(path)?;
    match text.trim() {
        "max" => Ok(None),
        number => parse_u64(path, number).map(Some),
    }
}

/// Parses one unsigned number found in `path`.
pub fn parse_u64(path: &Path, text: &str) -> Result<u64, CgroupError> {
    text.parse()
        .map_err(|_| CgroupError::Parse { path: path.to_owned(), detail: format!("expected a number, found {text:?}") })
}

/// Parses a flat keyed file (`key value` per line, as memory.stat or cpu.stat).
pub fn parse_flat_keyed(path: &Path, text: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(CgroupError::Parse {
                path: path.to_owned(),
                detail: format!("expected `key value`, found {line:?}"),
            });
        };
        map.insert(key.to_owned(), parse_u64(path, value)?);
    }
    Ok(map)
}

/// Reads a flat keyed file; a missing file gives an empty map.
pub fn read_flat_keyed(path: &Path) -> Result<BTreeMap<String, u64>, CgroupError> {
    match read_optional(path)? {
        Some(text) => parse_flat_keyed(path, &text),
        None => Ok(BTreeMap::new()),
    }
}

/// Parses `cgroup.procs`: one pid per line.
pub fn parse_pids(path: &Path, text: &str) -> Result<Vec<i32>, CgroupError> {
    text.split_whitespace()
        .map(|pid| {
            pid.parse().map_err(|_| CgroupError::Parse {
                path: path.to_owned(),
                detail: format!("expected a pid, found {pid:?}"),
            })
        })
        .collect()
}

/// Reads the pids of `dir/cgroup.procs`; a directory already gone holds none.
pub fn read_procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let path = dir.join("cgroup.procs");
    match read_optional(&path)? {
        Some(text) => parse_pids(&path, &text),
        None => Ok(Vec::new()),
    }
}

/// Removes the cgroup directory `dir`; one already gone is fine.
pub fn remove_dir(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CgroupError::RemoveDir { path: dir.to_owned(), source }),
    }
}

/// Creates the directory `dir` (its parent exists); one already there is fine.
pub fn make_dir(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(source) if source.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::CreateDir { path: dir.to_owned(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_never_creates_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pids.max");
        let error = write(&path, "max").unwrap_err();
        assert!(error.is_not_found());
        assert!(!path.exists());
        assert!(error.to_string().starts_with("writing \"max\" to "));
    }

    #[test]
    fn flat_keyed_parses_and_rejects_garbage() {
        let path = Path::new("memory.stat");
        let map = parse_flat_keyed(path, "anon 10\nfile 20\n\n").unwrap();
        assert_eq!(map["anon"], 10);
        assert_eq!(map["file"], 20);
        assert!(parse_flat_keyed(path, "anon ten\n").is_err());
        assert!(parse_flat_keyed(path, "anon 1 2\n").is_err());
    }

    #[test]
    fn pids_parse() {
        assert_eq!(parse_pids(Path::new("cgroup.procs"), "1\n22\n").unwrap(), [1, 22]);
        assert!(parse_pids(Path::new("cgroup.procs"), "x\n").is_err());
    }
}
