//! Writing a process's id maps from outside its user namespace. Only a process privileged in
//! the parent namespace may write arbitrary ranges; each file takes exactly one write, and
//! `setgroups` may stay "allow" because the writer is privileged (CVE-2014-8989 concerns
//! unprivileged writers only).

use std::io::Write;

use super::IdMapping;

/// Writes `/proc/<pid>/uid_map` and then `gid_map` for a process that has just unshared its
/// user namespace.
pub fn write_id_maps(pid: i32, mapping: &IdMapping) -> std::io::Result<()> {
    for (file, text) in [("uid_map", mapping.uid_map()), ("gid_map", mapping.gid_map())] {
        let path = format!("/proc/{pid}/{file}");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("opening {path}: {e}")))?;
        out.write_all(text.as_bytes())
            .map_err(|e| std::io::Error::new(e.kind(), format!("writing {path} ({}): {e}", text.trim())))?;
    }
    Ok(())
}
