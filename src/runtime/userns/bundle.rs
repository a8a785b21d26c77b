//! A container bundle made ready for its user namespace before each start. With idmapped
//! layers nothing changes on disk: the bundle is idmapped as a whole, so its root-owned files
//! (the writable layer's root, the generated /etc files) are the container root's. With
//! shifted layers the writable layer holds host ids, so its root and the /etc files are given
//! to the range's root.
//!
//! Which of the two a container's writable layer was made with is recorded in the bundle at
//! its first start: the other would show its files with the wrong owners, so it is refused.

use std::io;
use std::path::Path;

use super::IdMapping;

/// The file in the bundle recording how the writable layer stores owners.
pub const LAYERS_FILE: &str = "userns-layers";
/// Its text for idmapped layers (container ids on disk).
const IDMAPPED: &str = "idmapped";
/// Its text for shifted layers (host ids on disk).
const SHIFTED: &str = "shifted";
/// The generated files the container binds over /etc.
const ETC_FILES: &[&str] = &["hostname", "hosts", "resolv.conf"];

/// Prepares `bundle` (already written for this start) for a container mapped by `mapping`.
pub fn prepare(bundle: &Path, mapping: &IdMapping, idmapped: bool) -> io::Result<()> {
    let want = if idmapped { IDMAPPED } else { SHIFTED };
    let record = bundle.join(LAYERS_FILE);
    match std::fs::read_to_string(&record) {
        Ok(text) if text.trim() == want => {}
        Ok(text) => {
            return Err(io::Error::other(format!(
                "the container's writable layer was made with {} layers and this daemon uses {want} ones \
                 (see --userns-idmap); recreate the container",
                text.trim()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::write(&record, format!("{want}\n"))?,
        Err(e) => return Err(e),
    }
    if idmapped {
        return Ok(());
    }
    let owner = (Some(mapping.host_uid), Some(mapping.host_gid));
    std::os::unix::fs::lchown(bundle.join("upper"), owner.0, owner.1)?;
    for name in ETC_FILES {
        match std::os::unix::fs::lchown(bundle.join(name), owner.0, owner.1) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_kind_is_recorded_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("upper")).unwrap();
        let mapping = IdMapping::range(100_000, 65_536);
        prepare(dir.path(), &mapping, true).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(LAYERS_FILE)).unwrap(), "idmapped\n");
        prepare(dir.path(), &mapping, true).unwrap();
        let err = prepare(dir.path(), &mapping, false).unwrap_err().to_string();
        assert!(err.contains("made with idmapped layers"), "{err}");
    }

    #[test]
    fn shifted_bundles_belong_to_the_range_root() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("upper")).unwrap();
        std::fs::write(dir.path().join("hosts"), "127.0.0.1 localhost\n").unwrap();
        prepare(dir.path(), &IdMapping::range(100_000, 65_536), false).unwrap();
        for name in ["upper", "hosts"] {
            let meta = std::fs::metadata(dir.path().join(name)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (100_000, 100_000), "{name}");
        }
    }
}
