//! `--volumes-from c[:ro|:rw]`: a new container mounts what another one mounts (its volumes,
//! named or anonymous, and its host binds) at the same places. Resolved once, at create, as
//! dockerd does; the new container's own mounts win where both name the same destination.

use std::collections::BTreeSet;

use super::HostConfig;
use crate::engine::volumes::mounts::{clean_destination, is_volume_bind};
use crate::engine::{Engine, Error, Result};

/// One `--volumes-from` entry: the container, and the mode forced on what it lends (None: each
/// mount keeps its own).
fn parse_entry(entry: &str) -> Result<(&str, Option<bool>)> {
    match entry.rsplit_once(':') {
        Some((name, "ro")) => Ok((name, Some(true))),
        Some((name, "rw")) => Ok((name, Some(false))),
        Some((_, mode)) => Err(Error::InvalidArgument(format!("invalid mode: {mode}"))),
        None => Ok((entry, None)),
    }
}

/// The destinations the container mounts on its own (binds, mounts, tmpfs), as compared.
fn own_destinations(hc: &HostConfig) -> BTreeSet<String> {
    let binds = hc.binds.iter().flatten().filter_map(|b| {
        let mut parts = b.split(':');
        let first = parts.next()?;
        Some(parts.next().unwrap_or(first).to_string())
    });
    let mounts = hc.mounts.iter().flatten().map(|m| m.target.clone());
    let tmpfs = hc.tmpfs.iter().flatten().map(|(path, _)| path.clone());
    binds.chain(mounts).chain(tmpfs).map(|d| clean_destination(&d)).collect()
}

/// A host bind `src:dst[:opts]` with its read-only option replaced by `read_only`.
fn with_mode(bind: &str, read_only: bool) -> String {
    let mut parts = bind.splitn(3, ':');
    let (source, destination) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let mut options: Vec<&str> =
        parts.next().unwrap_or_default().split(',').filter(|o| !o.is_empty() && *o != "ro" && *o != "rw").collect();
    if read_only {
        options.push("ro");
    }
    if options.is_empty() {
        format!("{source}:{destination}")
    } else {
        format!("{source}:{destination}:{}", options.join(","))
    }
}

impl Engine {
    /// Adds the mounts of the `--volumes-from` containers to `hc` (volumes and host binds as
    /// binds, `--mount` binds as mounts); 400 for a container the tenant does not have.
    pub(super) async fn inherit_volumes(&self, tenant: &str, hc: &mut HostConfig) -> Result<()> {
        let entries = hc.volumes_from.clone().unwrap_or_default();
        if entries.is_empty() {
            return Ok(());
        }
        let mut taken = own_destinations(hc);
        let mut binds = Vec::new();
        let mut mounts = Vec::new();
        for entry in &entries {
            let (name, forced) = parse_entry(entry)?;
            // dockerd answers 400 here, not 404 (which the CLI would take for a missing image).
            let source = self.resolve_container(tenant, name).await.map_err(|e| match e {
                Error::NotFound(message) => Error::InvalidArgument(message),
                other => other,
            })?;
            for volume in self.store.container_volumes(&source.row.id).await? {
                if taken.insert(clean_destination(&volume.destination)) {
                    let suffix = if forced.unwrap_or(volume.read_only) { ":ro" } else { "" };
                    binds.push(format!("{}:{}{suffix}", volume.volume_name, volume.destination));
                }
            }
            for bind in source.host_config.binds.iter().flatten().filter(|b| !is_volume_bind(b)) {
                let destination = bind.split(':').nth(1).unwrap_or_default();
                if taken.insert(clean_destination(destination)) {
                    binds.push(match forced {
                        Some(read_only) => with_mode(bind, read_only),
                        None => bind.clone(),
                    });
                }
            }
            for mount in source.host_config.mounts.iter().flatten().filter(|m| m.r#type == "bind") {
                if taken.insert(clean_destination(&mount.target)) {
                    let mut mount = mount.clone();
                    mount.read_only = forced.unwrap_or(mount.read_only);
                    mounts.push(mount);
                }
            }
        }
        hc.binds.get_or_insert_with(Vec::new).extend(binds);
        if !mounts.is_empty() {
            hc.mounts.get_or_insert_with(Vec::new).extend(mounts);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_take_an_optional_mode() {
        assert_eq!(parse_entry("data").unwrap(), ("data", None));
        assert_eq!(parse_entry("data:ro").unwrap(), ("data", Some(true)));
        assert_eq!(parse_entry("data:rw").unwrap(), ("data", Some(false)));
        assert_eq!(parse_entry("data:xyz").unwrap_err().to_string(), "invalid mode: xyz");
    }

    #[test]
    fn own_mounts_are_compared_cleaned() {
        let hc = HostConfig {
            binds: Some(vec!["v:/data/".into(), "/anon".into(), "/host:/etc/x:ro".into()]),
            tmpfs: Some([("/run".to_string(), String::new())].into()),
            ..Default::default()
        };
        let taken = own_destinations(&hc);
        assert_eq!(taken, ["/anon", "/data", "/etc/x", "/run"].map(String::from).into());
    }

    #[test]
    fn a_forced_mode_replaces_the_bind_one() {
        assert_eq!(with_mode("/h:/c:ro,z", false), "/h:/c:z");
        assert_eq!(with_mode("/h:/c", true), "/h:/c:ro");
        assert_eq!(with_mode("/h:/c:rw", true), "/h:/c:ro");
    }
}
