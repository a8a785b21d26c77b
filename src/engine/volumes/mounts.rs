//! The volumes of a container: which it asks for (named volumes in `Binds`, `--mount
//! type=volume`, the image's and `-v /path`'s anonymous volumes), their creation and seeding
//! at `docker create`, their mounting at start and release at exit, and their removal with the
//! container (`docker rm -v` removes the anonymous ones).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;

use super::names::{ANONYMOUS_LABEL, random_name, validate_name};
use super::options::{check_driver, device_mount};
use crate::engine::containers::{Config, Container, HostConfig};
use crate::engine::{Engine, Error, Result};
use crate::runtime::container_fs::access::{RootAccess, VolumeBind, with_container_root};
use crate::runtime::init::paths::clean_components;
use crate::runtime::spec::{MountKind, MountSpec};
use crate::store::volumes::ContainerVolumeRow;

/// One volume a container asks for, as parsed from its create request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeRequest {
    /// The volume's name; None for an anonymous volume (named at create).
    pub name: Option<String>,
    /// Where it is mounted inside, cleaned.
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Seed an empty volume from the image's content at the destination (not `nocopy`).
    pub copy: bool,
    /// The mode as inspect shows it.
    pub mode: String,
    /// Labels for a volume made now (`volume-label=`).
    pub labels: BTreeMap<String, String>,
    /// Driver options for a volume made now (`volume-opt=`).
    pub driver_options: BTreeMap<String, String>,
}

/// `Mount.VolumeOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VolumeOptions {
    no_copy: bool,
    labels: Option<BTreeMap<String, String>>,
    driver_config: Option<DriverConfig>,
    subpath: String,
}

/// `Mount.VolumeOptions.DriverConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DriverConfig {
    name: String,
    options: Option<BTreeMap<String, String>>,
}

/// Whether an entry of `HostConfig.Binds` is a volume (`name:/path`, or a bare `/path`, an
/// anonymous volume) rather than a bind of a host path.
pub fn is_volume_bind(bind: &str) -> bool {
    let mut parts = bind.split(':');
    let source = parts.next().unwrap_or_default();
    parts.next().is_none() || !source.starts_with('/')
}

/// A mount destination as dockerd compares them (`filepath.Clean`).
pub(crate) fn clean_destination(path: &str) -> String {
    format!("/{}", clean_components(path).join("/"))
}

fn absolute(path: &str, what: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid mount config for type \"volume\": invalid mount path: '{path}' mount path must be absolute ({what})"
        )));
    }
    Ok(clean_destination(path))
}

/// Reads the volumes a create request asks for, refusing what dockerd refuses: invalid names,
/// modes and options, duplicate mount points, other drivers.
pub fn volume_requests(config: &Config, hc: &HostConfig) -> Result<Vec<VolumeRequest>> {
    let mut requests = Vec::new();
    let mut taken = BTreeSet::new();
    let mut take = |destination: &str| -> Result<()> {
        if taken.insert(clean_destination(destination)) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!("Duplicate mount point: {}", clean_destination(destination))))
        }
    };
    for bind in hc.binds.as_deref().unwrap_or_default() {
        if !is_volume_bind(bind) {
            if let Some(destination) = bind.split(':').nth(1) {
                take(destination)?;
            }
            continue;
        }
        let request = parse_volume_bind(bind)?;
        take(&request.destination)?;
        requests.push(request);
    }
    for m in hc.mounts.as_deref().unwrap_or_default() {
        take(&m.target)?;
        if m.r#type != "volume" {
            continue;
        }
        let invalid = |why: &str| Error::InvalidArgument(format!("invalid mount config for type \"volume\": {why}"));
        if m.bind_options.as_ref().is_some_and(|o| !o.is_null()) {
            return Err(invalid("field BindOptions must not be specified"));
        }
        if m.tmpfs_options.is_some() {
            return Err(invalid("field TmpfsOptions must not be specified"));
        }
        if m.source.is_empty() && m.read_only {
            return Err(invalid("must not set ReadOnly mode when using anonymous volumes"));
        }
        let options: VolumeOptions = match &m.volume_options {
            Some(v) if !v.is_null() => {
                serde_json::from_value(v.clone()).map_err(|e| invalid(&format!("invalid VolumeOptions: {e}")))?
            }
            _ => VolumeOptions::default(),
        };
        if !options.subpath.is_empty() {
            return Err(Error::NotImplemented("volume subpaths are not supported by kapsel yet".into()));
        }
        let driver = options.driver_config.as_ref().map(|d| d.name.as_str()).unwrap_or_default();
        check_driver(driver).map_err(Error::NotFound)?;
        if !m.source.is_empty() {
            validate_name(&m.source).map_err(|e| Error::InvalidArgument(format!("create {}: {e}", m.source)))?;
        }
        requests.push(VolumeRequest {
            name: Some(m.source.clone()).filter(|s| !s.is_empty()),
            destination: absolute(&m.target, "target")?,
            read_only: m.read_only,
            copy: !options.no_copy,
            mode: String::new(),
            labels: options.labels.unwrap_or_default(),
            driver_options: options.driver_config.and_then(|d| d.options).unwrap_or_default(),
        });
    }
    for path in hc.tmpfs.iter().flatten().map(|(p, _)| p) {
        take(path)?;
    }
    // The image's VOLUMEs and `-v /path`: anonymous volumes where nothing else is mounted.
    for path in config.volumes.iter().flatten().map(|(p, _)| p) {
        let destination = absolute(path, "volume")?;
        if taken.insert(destination.clone()) {
            requests.push(VolumeRequest { destination, copy: true, ..Default::default() });
        }
    }
    if !requests.is_empty() {
        check_driver(&hc.volume_driver).map_err(Error::NotFound)?;
    }
    Ok(requests)
}

/// `name:/path[:mode]` or `/path` (anonymous).
fn parse_volume_bind(bind: &str) -> Result<VolumeRequest> {
    let invalid = || Error::InvalidArgument(format!("invalid volume specification: '{bind}'"));
    let parts: Vec<&str> = bind.split(':').collect();
    let (name, destination, mode) = match parts.as_slice() {
        [destination] => (None, *destination, ""),
        [name, destination] => (Some(*name), *destination, ""),
        [name, destination, mode] => (Some(*name), *destination, *mode),
        _ => return Err(invalid()),
    };
    if !destination.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid volume specification: '{bind}': invalid mount config for type \"volume\": invalid mount path: '{destination}' mount path must be absolute"
        )));
    }
    if let Some(name) = name {
        if name.is_empty() {
            return Err(invalid());
        }
        validate_name(name).map_err(|e| Error::InvalidArgument(format!("create {name}: {e}")))?;
    }
    let (mut read_only, mut copy) = (false, true);
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" | "z" | "Z" => {}
            "nocopy" => copy = false,
            other => {
                return Err(Error::InvalidArgument(format!("invalid mode: {other}")));
            }
        }
    }
    Ok(VolumeRequest {
        name: name.map(str::to_string),
        destination: clean_destination(destination),
        read_only,
        copy,
        mode: if name.is_some() && mode.is_empty() { "z".into() } else { mode.into() },
        ..Default::default()
    })
}

impl Engine {
    /// At `docker create`, after the container's row and bundle exist: makes the volumes it
    /// names that do not exist yet and its anonymous ones, records that it uses them, and
    /// seeds the empty ones from the image. Undoes its own work on failure.
    pub(crate) async fn attach_volumes(&self, c: &Container, requests: Vec<VolumeRequest>) -> Result<()> {
        if requests.is_empty() {
            return Ok(());
        }
        let tenant = &c.row.tenant_id;
        // Held throughout, so that no remove or prune slips in before the rows are recorded.
        let _volumes = self.volumes.active.lock().await;
        let mut rows = Vec::new();
        let mut made = Vec::new();
        let mut seeds = Vec::new();
        let mut result = Ok(());
        for request in &requests {
            let anonymous = request.name.is_none();
            let name = request.name.clone().unwrap_or_else(random_name);
            let mut labels = request.labels.clone();
            if anonymous {
                labels.insert(ANONYMOUS_LABEL.into(), String::new());
            }
            match self.ensure_volume(tenant, &name, &request.driver_options, &labels).await {
                Ok((volume, created)) => {
                    if created {
                        made.push(name.clone());
                    }
                    if request.copy && volume.options.is_empty() {
                        seeds.push((request.destination.clone(), PathBuf::from(&volume.mountpoint)));
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            rows.push(ContainerVolumeRow {
                container_id: c.row.id.clone(),
                volume_name: name,
                destination: request.destination.clone(),
                read_only: request.read_only,
                anonymous,
                mode: request.mode.clone(),
                ..Default::default()
            });
        }
        if result.is_ok() {
            result = self.store.insert_container_volumes(tenant, &rows).await.map_err(Error::from);
        }
        if result.is_ok() && !seeds.is_empty() {
            result = self.seed_volumes(c, seeds).await;
        }
        if result.is_err() {
            let _ = self.store.delete_container_volumes(&c.row.id).await;
            for name in made {
                if let Err(e) = self.destroy_volume(tenant, &name).await {
                    tracing::warn!(volume = %name, error = %e, "removing a volume of a failed create");
                }
            }
        }
        result
    }

    /// Copies the image's content at each destination into the volume's empty directory,
    /// through a private view of the container's (still pristine) root.
    async fn seed_volumes(&self, c: &Container, seeds: Vec<(String, PathBuf)>) -> Result<()> {
        let (upper, lower) = self.layer_dirs(c).await?;
        let bundle = self.bundle_dir(&c.row.id);
        let shift = self.tenant_id_mapping(&c.row.tenant_id).await?;
        let access = RootAccess::Stopped {
            lower,
            upper,
            work: bundle.join("work"),
            mount_point: bundle.join("rootfs"),
            volumes: Vec::new(),
        };
        tokio::task::spawn_blocking(move || {
            with_container_root(&access, move |root| -> std::io::Result<()> {
                for (destination, data) in &seeds {
                    crate::runtime::volumes::seed_from_root(root, destination, data, shift.as_ref()).map_err(|e| {
                        std::io::Error::new(e.kind(), format!("copying the image's {destination} into its volume: {e}"))
                    })?;
                }
                Ok(())
            })
        })
        .await??;
        Ok(())
    }

    /// At start: mounts the file systems of the container's volumes that have driver options
    /// (unless another running container has them mounted already), and returns the binds
    /// init makes. Emits `mount` events.
    pub(crate) async fn mount_volumes(&self, c: &Container) -> Result<Vec<MountSpec>> {
        let rows = self.store.container_volumes(&c.row.id).await?;
        let mut specs = Vec::new();
        if rows.is_empty() {
            return Ok(specs);
        }
        let tenant = &c.row.tenant_id;
        let mut active = self.volumes.active.lock().await;
        for row in rows {
            let volume = self.store.volume(tenant, &row.volume_name).await?.ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("the volume {} of this container is gone", row.volume_name))
            })?;
            let users = active.entry((tenant.clone(), row.volume_name.clone())).or_default();
            if users.is_empty()
                && let Some(device) = device_mount(&volume.options).map_err(Error::InvalidArgument)?
            {
                let data = PathBuf::from(&volume.mountpoint);
                let owner = self.tenant_id_mapping(tenant).await?;
                tokio::task::spawn_blocking(move || {
                    if crate::runtime::volumes::is_mounted(&data)? {
                        return Ok(());
                    }
                    crate::runtime::volumes::mount(&device, &data)?;
                    // A tenant's tmpfs is its container root's, as a fresh one is root's.
                    match owner {
                        Some(mapping) => crate::runtime::volumes::give_data_to(&data, &mapping),
                        None => Ok(()),
                    }
                })
                .await??;
            }
            users.insert(c.row.id.clone());
            let rw = (!row.read_only).to_string();
            self.events
                .emit(
                    tenant,
                    "volume",
                    "mount",
                    &row.volume_name,
                    &[
                        ("container", &c.row.id),
                        ("destination", &row.destination),
                        ("driver", &row.driver),
                        ("propagation", ""),
                        ("read/write", &rw),
                    ],
                )
                .await;
            specs.push(MountSpec {
                kind: MountKind::Bind,
                source: PathBuf::from(&volume.mountpoint),
                destination: row.destination,
                readonly: row.read_only,
                options: vec!["rprivate".into()],
            });
        }
        Ok(specs)
    }

    /// At exit (or a failed start): lets go of the container's volumes, unmounting the file
    /// systems no running container uses any more. Emits `unmount` events.
    pub(crate) async fn release_volumes(&self, c: &Container) {
        let rows = match self.store.container_volumes(&c.row.id).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(container = %c.row.id, error = %e, "reading the container's volumes");
                return;
            }
        };
        let tenant = &c.row.tenant_id;
        let mut active = self.volumes.active.lock().await;
        for row in rows {
            let key = (tenant.clone(), row.volume_name.clone());
            let Some(users) = active.get_mut(&key) else {
                continue;
            };
            if !users.remove(&c.row.id) {
                continue;
            }
            if users.is_empty() {
                active.remove(&key);
                let data = PathBuf::from(&row.mountpoint);
                let unmounted = tokio::task::spawn_blocking(move || {
                    if crate::runtime::volumes::is_mounted(&data)? {
                        crate::runtime::volumes::unmount(&data)?;
                    }
                    Ok::<_, std::io::Error>(())
                })
                .await;
                if let Ok(Err(e)) = unmounted {
                    tracing::warn!(volume = %row.volume_name, error = %e, "unmounting a volume");
                }
            }
            self.events
                .emit(
                    tenant,
                    "volume",
                    "unmount",
                    &row.volume_name,
                    &[("container", &c.row.id), ("driver", &row.driver)],
                )
                .await;
        }
    }

    /// When the container is deleted: forgets which volumes it uses and, with `docker rm -v`
    /// (or `--rm`), removes its anonymous volumes that no other container uses.
    pub(crate) async fn detach_volumes(&self, c: &Container, remove_anonymous: bool) -> Result<()> {
        let rows = self.store.container_volumes(&c.row.id).await?;
        if rows.is_empty() {
            return Ok(());
        }
        self.store.delete_container_volumes(&c.row.id).await?;
        if !remove_anonymous {
            return Ok(());
        }
        for row in rows.into_iter().filter(|r| r.anonymous) {
            match self.remove_volume(&c.row.tenant_id, &row.volume_name, false).await {
                Ok(()) | Err(Error::Conflict(_)) | Err(Error::NotFound(_)) => {}
                Err(e) => tracing::warn!(volume = %row.volume_name, error = %e, "removing an anonymous volume"),
            }
        }
        Ok(())
    }

    /// A stopped container's volumes, for `docker cp`'s private view of its root. A volume
    /// with its own file system (tmpfs, a bind) is left out unless a running container has it
    /// mounted: its directory alone holds nothing of it.
    pub(crate) async fn volume_binds(&self, c: &Container) -> Result<Vec<VolumeBind>> {
        let rows = self.store.container_volumes(&c.row.id).await?;
        let active = self.volumes.active.lock().await;
        let mut binds = Vec::new();
        for row in rows {
            let mounted = active.contains_key(&(c.row.tenant_id.clone(), row.volume_name.clone()));
            let volume = self.store.volume(&c.row.tenant_id, &row.volume_name).await?;
            if !mounted && volume.is_none_or(|v| !v.options.is_empty()) {
                continue;
            }
            binds.push(VolumeBind {
                source: PathBuf::from(row.mountpoint),
                destination: row.destination,
                readonly: row.read_only,
            });
        }
        binds.sort_by_key(|b| b.destination.split('/').filter(|p| !p.is_empty()).count());
        Ok(binds)
    }

    /// The volumes a container mounts, for inspect.
    pub async fn container_volume_mounts(&self, c: &Container) -> Result<Vec<ContainerVolumeRow>> {
        Ok(self.store.container_volumes(&c.row.id).await?)
    }

    /// After a daemon restart (and the recovery of containers): counts which running
    /// containers use which volumes again, and unmounts volume file systems none uses.
    pub async fn recover_volumes(&self) -> Result<()> {
        let mut active = self.volumes.active.lock().await;
        for row in self.store.live_containers().await? {
            if !matches!(row.state.status.as_str(), "running" | "paused") {
                continue;
            }
            for v in self.store.container_volumes(&row.id).await? {
                active.entry((row.tenant_id.clone(), v.volume_name)).or_default().insert(row.id.clone());
            }
        }
        for volume in self.store.all_volumes().await? {
            if volume.options.is_empty() || active.contains_key(&(volume.tenant_id.clone(), volume.name.clone())) {
                continue;
            }
            let data = PathBuf::from(&volume.mountpoint);
            let idle = tokio::task::spawn_blocking(move || {
                if crate::runtime::volumes::is_mounted(&data)? {
                    crate::runtime::volumes::unmount(&data)?;
                }
                Ok::<_, std::io::Error>(())
            })
            .await?;
            if let Err(e) = idle {
                tracing::warn!(volume = %volume.name, error = %e, "unmounting an unused volume");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::containers::config::Mount;

    fn hc(binds: &[&str], mounts: Vec<Mount>) -> HostConfig {
        HostConfig {
            binds: Some(binds.iter().map(|b| b.to_string()).collect()),
            mounts: Some(mounts),
            ..Default::default()
        }
    }

    #[test]
    fn binds_name_volumes_and_anonymous_ones() {
        assert!(is_volume_bind("data:/data") && is_volume_bind("/data") && !is_volume_bind("/srv:/data:ro"));
        let requests =
            volume_requests(&Config::default(), &hc(&["data:/data:ro", "/srv:/srv", "/anon"], vec![])).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].name.as_deref(), Some("data"));
        assert!(requests[0].read_only && requests[0].copy);
        assert_eq!(requests[0].mode, "ro");
        assert_eq!((requests[1].name.as_deref(), requests[1].destination.as_str()), (None, "/anon"));
        let nocopy = volume_requests(&Config::default(), &hc(&["v1:/x/:nocopy"], vec![])).unwrap();
        assert!(!nocopy[0].copy);
        assert_eq!(nocopy[0].destination, "/x");
        assert_eq!(volume_requests(&Config::default(), &hc(&["v1:/x"], vec![])).unwrap()[0].mode, "z");
    }

    #[test]
    fn bad_binds_are_refused_with_dockers_words() {
        let err = |binds: &[&str]| volume_requests(&Config::default(), &hc(binds, vec![])).unwrap_err().to_string();
        assert!(
            err(&["a/b:/x"]).starts_with("create a/b: \"a/b\" includes invalid characters"),
            "{}",
            err(&["a/b:/x"])
        );
        assert_eq!(err(&["v1:/x", "/srv:/x"]), "Duplicate mount point: /x");
        assert_eq!(err(&["v1:/x:shared"]), "invalid mode: shared");
        assert!(err(&["v1:rel"]).contains("mount path must be absolute"));
        assert!(err(&["a:b:c:d"]).starts_with("invalid volume specification"));
    }

    #[test]
    fn mounts_of_type_volume() {
        let m = |source: &str, read_only: bool, options: serde_json::Value| Mount {
            r#type: "volume".into(),
            source: source.into(),
            target: "/v".into(),
            read_only,
            volume_options: Some(options),
            ..Default::default()
        };
        let options = serde_json::json!({"NoCopy": true, "Labels": {"a": "b"},
            "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}}});
        let requests = volume_requests(&Config::default(), &hc(&[], vec![m("v1", true, options)])).unwrap();
        let r = &requests[0];
        assert_eq!((r.name.as_deref(), r.read_only, r.copy, r.mode.as_str()), (Some("v1"), true, false, ""));
        assert_eq!(r.labels["a"], "b");
        assert_eq!(r.driver_options["type"], "tmpfs");
        let anonymous_ro = volume_requests(&Config::default(), &hc(&[], vec![m("", true, serde_json::Value::Null)]));
        assert!(anonymous_ro.unwrap_err().to_string().contains("anonymous volumes"));
        let plugin = serde_json::json!({"DriverConfig": {"Name": "nfs"}});
        assert!(matches!(
            volume_requests(&Config::default(), &hc(&[], vec![m("v1", false, plugin)])),
            Err(Error::NotFound(_))
        ));
        let subpath = serde_json::json!({"Subpath": "a"});
        assert!(matches!(
            volume_requests(&Config::default(), &hc(&[], vec![m("v1", false, subpath)])),
            Err(Error::NotImplemented(_))
        ));
    }

    #[test]
    fn image_volumes_are_anonymous_unless_something_is_mounted_there() {
        let config = Config {
            volumes: Some(
                ["/data", "/cache", "/tmpfs"].iter().map(|p| (p.to_string(), serde_json::json!({}))).collect(),
            ),
            ..Default::default()
        };
        let mut host = hc(&["named:/data"], vec![]);
        host.tmpfs = Some([("/tmpfs".to_string(), String::new())].into_iter().collect());
        let requests = volume_requests(&config, &host).unwrap();
        let summary: Vec<(Option<&str>, &str)> =
            requests.iter().map(|r| (r.name.as_deref(), r.destination.as_str())).collect();
        assert_eq!(summary, [(Some("named"), "/data"), (None, "/cache")]);
        assert!(requests[1].copy);
    }
}
