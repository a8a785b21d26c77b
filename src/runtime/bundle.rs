//! A container's bundle directory on the host: its writable layer, the files init and the shim
//! read, and the generated /etc files. Creating and removing it is all the daemon does on disk
//! for a container; mounts happen only inside the container's own mount namespace.

use std::io;
use std::path::Path;

use super::shim::protocol::{EXIT_FILE, OPTIONS_FILE, SOCKET_FILE, ShimOptions};
use super::spec::{ContainerSpec, SPEC_FILE};

/// The generated `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EtcFiles {
    /// `/etc/hostname`.
    pub hostname: String,
    /// `/etc/hosts`.
    pub hosts: String,
    /// `/etc/resolv.conf`.
    pub resolv_conf: String,
}

/// Makes the bundle and its writable layer (upper/, work/, rootfs/).
pub fn create(bundle: &Path) -> io::Result<()> {
    for dir in ["upper", "work", "rootfs"] {
        std::fs::create_dir_all(bundle.join(dir))?;
    }
    Ok(())
}

/// Writes what a start needs: the spec for init, the options for the shim, the /etc files;
/// and clears what the previous run left (its exit record and socket).
pub fn write_start_files(bundle: &Path, spec: &ContainerSpec, shim: &ShimOptions, etc: &EtcFiles) -> io::Result<()> {
    create(bundle)?;
    for stale in [EXIT_FILE, SOCKET_FILE] {
        match std::fs::remove_file(bundle.join(stale)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::write(bundle.join(SPEC_FILE), serde_json::to_vec_pretty(spec).map_err(io::Error::other)?)?;
    std::fs::write(bundle.join(OPTIONS_FILE), serde_json::to_vec(shim).map_err(io::Error::other)?)?;
    std::fs::write(bundle.join("hostname"), &etc.hostname)?;
    std::fs::write(bundle.join("hosts"), &etc.hosts)?;
    std::fs::write(bundle.join("resolv.conf"), &etc.resolv_conf)?;
    Ok(())
}

/// Removes the bundle with everything in it.
pub fn remove(bundle: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(bundle) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The host's resolv.conf without loopback name servers (unreachable from a container's own
/// network namespace), as dockerd filters it.
pub fn host_resolv_conf() -> String {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    filter_resolv_conf(&text)
}

fn filter_resolv_conf(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") && words.next().is_some_and(|ip| ip.starts_with("127.") || ip == "::1") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_name_servers_are_dropped() {
        let text = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\noptions edns0\n";
        assert_eq!(filter_resolv_conf(text), "search lan\nnameserver 10.0.0.1\noptions edns0\n");
    }

    #[test]
    fn start_files_replace_the_last_run() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("c");
        create(&bundle).unwrap();
        std::fs::write(bundle.join(EXIT_FILE), "{}").unwrap();
        let etc = EtcFiles { hostname: "h\n".into(), ..Default::default() };
        write_start_files(&bundle, &ContainerSpec::default(), &ShimOptions::default(), &etc).unwrap();
        assert!(!bundle.join(EXIT_FILE).exists());
        assert_eq!(std::fs::read_to_string(bundle.join("hostname")).unwrap(), "h\n");
        remove(&bundle).unwrap();
        assert!(!bundle.exists());
        remove(&bundle).unwrap();
    }
}
