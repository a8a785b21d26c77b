//! Whether this host can present image layers through idmapped mounts, found by doing it once:
//! the daemon runs `kapsel userns-probe <dir>` (single-threaded, as the mount work forks and
//! unshares) and the probe mounts a one-file layer the way stage 1 of init mounts a tenant's
//! root filesystem, in a private mount namespace that disappears with it. It needs
//! `mount_setattr(MOUNT_ATTR_IDMAP)` on the data root's file system (Linux 5.12, ext4/xfs/btrfs)
//! and overlayfs accepting idmapped layers (Linux 5.19).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use super::IdMapping;
use super::identity::ContainerRootIdentity;
use crate::runtime::init::premount::mount_rootfs;
use crate::runtime::spec::RootfsSpec;

/// The mapping the probe tries (any range works; none is ever used by a process).
const PROBE_MAPPING: IdMapping = IdMapping { host_uid: 100_000, host_gid: 100_000, size: 65_536 };
/// The file the probe's layer holds.
const LAYER_FILE: &str = "probe";
/// The file the probe writes through the overlay as the container's root.
const WRITTEN_FILE: &str = "written";

/// `kapsel userns-probe <dir>`: exits 0 when the idmapped mount of a layer under `dir` worked,
/// else 1 with the reason on stderr.
pub fn main(args: &[String]) -> ExitCode {
    let Some(dir) = args.get(2) else {
        eprintln!("usage: kapsel userns-probe <dir>");
        return ExitCode::from(2);
    };
    match mount_and_check(Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The probe's root filesystem below `dir`.
fn probe_rootfs(dir: &Path) -> RootfsSpec {
    let bundle = dir.join("bundle");
    RootfsSpec {
        lower: vec![dir.join("layer")],
        upper: bundle.join("upper"),
        work: bundle.join("work"),
        merged: bundle.join("rootfs"),
        readonly: false,
        idmapped: true,
    }
}

fn mount_and_check(dir: &Path) -> Result<(), String> {
    let rootfs = probe_rootfs(dir);
    mount_rootfs(&rootfs, &dir.join("bundle"), &PROBE_MAPPING).map_err(|e| e.to_string())?;
    let owner = std::fs::symlink_metadata(rootfs.merged.join(LAYER_FILE))
        .map_err(|e| format!("reading the layer through the overlay: {e}"))?
        .uid();
    if owner != PROBE_MAPPING.host_uid {
        return Err(format!("the idmapped layer shows uid {owner}, not {}", PROBE_MAPPING.host_uid));
    }
    let _identity = ContainerRootIdentity::assume(&PROBE_MAPPING).map_err(|e| format!("switching ids: {e}"))?;
    std::fs::write(rootfs.merged.join(WRITTEN_FILE), b"")
        .map_err(|e| format!("writing through the idmapped upper layer: {e}"))
}

/// Runs the probe (`exe` is the kapsel binary) in a fresh directory `dir`, which is removed
/// afterwards; Err tells why idmapped layers cannot be used. Blocking.
pub fn idmapped_layers_work(exe: &Path, dir: &Path) -> Result<(), String> {
    let result = prepare(dir).map_err(|e| format!("preparing {}: {e}", dir.display())).and_then(|()| {
        let out = std::process::Command::new(exe)
            .arg("userns-probe")
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("running the probe: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        // Stored with the container's own ids on disk, through the idmapped bundle.
        let written = std::fs::symlink_metadata(probe_rootfs(dir).upper.join(WRITTEN_FILE))
            .map_err(|e| format!("the probe's write is missing: {e}"))?;
        if written.uid() != 0 {
            return Err(format!("the probe's write is stored as uid {}, not 0", written.uid()));
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(dir);
    result
}

/// The probe's layer (one root-owned file) and bundle directories.
fn prepare(dir: &Path) -> io::Result<()> {
    let rootfs = probe_rootfs(dir);
    for path in [&rootfs.lower[0], &rootfs.upper, &rootfs.work, &rootfs.merged] {
        std::fs::create_dir_all(path)?;
    }
    std::fs::write(rootfs.lower[0].join(LAYER_FILE), b"")
}
