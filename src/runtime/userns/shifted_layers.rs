//! Where shifted copies of layers live: `<data-root>/layers-shifted/<uid base>/<diff-id hex>/`,
//! one directory per tenant range, one copy per layer the tenant's images use. The engine
//! decides which to keep; this only makes, lists and removes them.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::IdMapping;
use super::shift::shifted_copy;

/// The directory name under the data root.
pub const SHIFTED_LAYERS_DIR: &str = "layers-shifted";

/// The shifted layers of every range.
#[derive(Debug, Clone)]
pub struct ShiftedLayers {
    root: PathBuf,
}

impl ShiftedLayers {
    /// The store under `data_root`.
    pub fn new(data_root: &Path) -> ShiftedLayers {
        ShiftedLayers { root: data_root.join(SHIFTED_LAYERS_DIR) }
    }

    /// The directory of one range.
    pub fn range_dir(&self, base: u32) -> PathBuf {
        self.root.join(base.to_string())
    }

    /// The shifted copy of the layer `source` (named `name`, its diff-id hex) for `mapping`,
    /// made now if missing. Blocking; the copy of a big layer takes a while, once.
    pub fn ensure(&self, mapping: &IdMapping, name: &str, source: &Path) -> io::Result<PathBuf> {
        if name.is_empty() || name.starts_with('.') || name.contains('/') {
            return Err(io::Error::other(format!("invalid layer name {name:?}")));
        }
        let target = self.range_dir(mapping.host_uid).join(name);
        shifted_copy(source, &target, mapping)?;
        Ok(target)
    }

    /// Removes the copies of one range that are not in `keep` (and staging leftovers).
    pub fn retain(&self, base: u32, keep: &HashSet<String>) -> io::Result<()> {
        let dir = self.range_dir(base);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Removes every copy of one range.
    pub fn remove_range(&self, base: u32) -> io::Result<()> {
        remove_tree(&self.range_dir(base))
    }

    /// The ranges that have a directory.
    pub fn ranges(&self) -> io::Result<Vec<u32>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ranges = Vec::new();
        for entry in entries {
            if let Ok(base) = entry?.file_name().to_string_lossy().parse() {
                ranges.push(base);
            }
        }
        Ok(ranges)
    }
}

fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_what_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let layers = ShiftedLayers::new(dir.path());
        for name in ["aa", "bb", ".tmp-cc-123"] {
            std::fs::create_dir_all(layers.range_dir(100_000).join(name).join("sub")).unwrap();
        }
        std::fs::create_dir_all(layers.range_dir(165_536)).unwrap();
        let mut ranges = layers.ranges().unwrap();
        ranges.sort();
        assert_eq!(ranges, [100_000, 165_536]);
        layers.retain(100_000, &["aa".to_string()].into_iter().collect()).unwrap();
        let left: Vec<String> = std::fs::read_dir(layers.range_dir(100_000))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["aa"]);
        layers.remove_range(100_000).unwrap();
        layers.remove_range(100_000).unwrap();
        assert_eq!(layers.ranges().unwrap(), [165_536]);
        assert!(layers.ensure(&IdMapping::range(1, 1), "../x", dir.path()).is_err());
    }
}
