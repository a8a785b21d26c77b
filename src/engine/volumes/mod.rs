//! Volumes: `docker volume create/ls/inspect/rm/prune` over the `local` driver. A volume is a
//! row in the store and a directory `<data-root>/volumes/<name>/_data`; what containers do with
//! volumes is in `mounts`.
//!
//! Every change of volumes (create, remove, a container's volumes recorded at create, file
//! systems mounted at start and unmounted at exit) happens under one lock, which also guards the
//! count of running containers per volume that decides when a tmpfs or bind volume is mounted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use super::filters::Filters;
use super::{Engine, Error, Result};
use crate::store::DEFAULT_TENANT;
use crate::store::volumes::VolumeRow;

pub mod mounts;
pub mod names;
pub mod options;

pub use names::ANONYMOUS_LABEL;
use names::{random_name, validate_name};
use options::{LOCAL_DRIVER, check_driver, device_mount};

/// The volumes' in-memory state.
#[derive(Default)]
pub(crate) struct VolumeState {
    /// For each (tenant, volume), the running containers that have it mounted. Its lock
    /// serializes every change of volumes.
    active: tokio::sync::Mutex<HashMap<(String, String), HashSet<String>>>,
}

/// `POST /volumes/create`'s request, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateVolume {
    /// Empty: a random name (the volume is then anonymous, as with dockerd).
    pub name: String,
    /// Empty or `local`.
    pub driver: String,
    /// The local driver's `type`, `device`, `o`.
    pub driver_opts: BTreeMap<String, String>,
    /// User labels.
    pub labels: BTreeMap<String, String>,
}

/// dockerd's 404 for a volume that does not exist.
fn no_such_volume(name: &str) -> Error {
    Error::NotFound(format!("get {name}: no such volume"))
}

impl Engine {
    /// `docker volume create`: the volume, made now or, if the name exists, as it is.
    pub async fn create_volume(&self, tenant: &str, request: CreateVolume) -> Result<VolumeRow> {
        let mut labels = request.labels;
        let name = if request.name.is_empty() {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
            random_name()
        } else {
            request.name
        };
        let op_error = |e: String| Error::InvalidArgument(format!("create {name}: {e}"));
        validate_name(&name).map_err(op_error)?;
        check_driver(&request.driver).map_err(Error::NotFound)?;
        let _volumes = self.volumes.active.lock().await;
        Ok(self.ensure_volume(tenant, &name, &request.driver_opts, &labels).await?.0)
    }

    /// `docker volume inspect`.
    pub async fn inspect_volume(&self, tenant: &str, name: &str) -> Result<VolumeRow> {
        self.store.volume(tenant, name).await?.ok_or_else(|| no_such_volume(name))
    }

    /// `docker volume ls`: filters `dangling`, `driver`, `label`, `name` (a substring).
    pub async fn list_volumes(&self, tenant: &str, filters: &Filters) -> Result<Vec<VolumeRow>> {
        filters
            .validate(&["dangling", "driver", "label", "name"])
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let dangling = filters.bool_value("dangling").map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let in_use = match dangling {
            Some(_) => self.store.volumes_in_use(tenant).await?,
            None => HashSet::new(),
        };
        Ok(self
            .store
            .volumes(tenant)
            .await?
            .into_iter()
            .filter(|v| dangling.is_none_or(|d| d != in_use.contains(&v.name)))
            .filter(|v| filters.match_any("name", |n| v.name.contains(n)))
            .filter(|v| filters.match_any("driver", |d| v.driver == d))
            .filter(|v| filters.match_labels(&v.labels))
            .collect())
    }

    /// `docker volume rm`: refused while any container uses it; `force` ignores a missing one.
    pub async fn remove_volume(&self, tenant: &str, name: &str, force: bool) -> Result<()> {
        let _volumes = self.volumes.active.lock().await;
        if self.store.volume(tenant, name).await?.is_none() {
            return if force { Ok(()) } else { Err(no_such_volume(name)) };
        }
        let users = self.store.volume_users(tenant, name).await?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        self.destroy_volume(tenant, name).await
    }

    /// `docker volume prune`: removes unused volumes passing the filters (`label`, `label!`);
    /// only anonymous ones unless `all`. Returns their names and the bytes freed.
    pub async fn prune_volumes(&self, tenant: &str, filters: &Filters) -> Result<(Vec<String>, u64)> {
        filters.validate(&["label", "label!", "all"]).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let all = filters.bool_value("all").map_err(|e| Error::InvalidArgument(e.to_string()))?.unwrap_or(false);
        let _volumes = self.volumes.active.lock().await;
        let in_use = self.store.volumes_in_use(tenant).await?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for volume in self.store.volumes(tenant).await? {
            if in_use.contains(&volume.name)
                || (!all && !volume.labels.contains_key(ANONYMOUS_LABEL))
                || !filters.match_labels(&volume.labels)
                || (filters.contains("label!") && filters.match_labels_key("label!", &volume.labels))
            {
                continue;
            }
            let data = PathBuf::from(&volume.mountpoint);
            let size = if volume.options.is_empty() {
                tokio::task::spawn_blocking(move || crate::runtime::volumes::disk_usage(&data)).await?
            } else {
                0
            };
            self.destroy_volume(tenant, &volume.name).await?;
            reclaimed += size;
            deleted.push(volume.name);
        }
        Ok((deleted, reclaimed))
    }

    /// The volume `name`, made (directory, row, `create` event) when the tenant has none. The
    /// caller holds the volumes' lock. True when it was made now.
    async fn ensure_volume(
        &self,
        tenant: &str,
        name: &str,
        driver_opts: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<(VolumeRow, bool)> {
        if let Some(existing) = self.store.volume(tenant, name).await? {
            return Ok((existing, false));
        }
        let device = device_mount(driver_opts).map_err(|e| Error::InvalidArgument(format!("create {name}: {e}")))?;
        // A tenant may have tmpfs volumes, but mounting a device or host path is the admin's.
        if tenant != crate::store::DEFAULT_TENANT && device.as_ref().is_some_and(|d| d.fs_type != "tmpfs") {
            return Err(Error::Forbidden(format!(
                "create {name}: volumes of type {:?} mount host devices or paths and are not allowed for tenants",
                device.as_ref().map(|d| d.fs_type.as_str()).unwrap_or_default()
            )));
        }
        self.check_volume_quota(tenant).await?;
        let dir = self.volume_dir(tenant, name);
        let row = VolumeRow {
            tenant_id: tenant.to_string(),
            name: name.to_string(),
            driver: LOCAL_DRIVER.into(),
            mountpoint: dir.join(crate::runtime::volumes::DATA_DIR).display().to_string(),
            labels: labels.clone(),
            options: driver_opts.clone(),
            created_at: now_seconds(),
        };
        let made = dir.clone();
        // A tenant's containers run in its user namespace: the fresh volume is its root's.
        let owner = self.tenant_id_mapping(tenant).await?;
        tokio::task::spawn_blocking(move || {
            crate::runtime::volumes::create(&made)?;
            match owner {
                Some(mapping) => {
                    crate::runtime::volumes::give_data_to(&made.join(crate::runtime::volumes::DATA_DIR), &mapping)
                }
                None => Ok(()),
            }
        })
        .await??;
        if !self.store.insert_volume(&row).await? {
            // Not reachable under the lock; keep the other row and its directory.
            return Ok((self.inspect_volume(tenant, name).await?, false));
        }
        self.events.emit(tenant, "volume", "create", name, &[("driver", LOCAL_DRIVER)]).await;
        Ok((row, true))
    }

    /// Removes an unused volume's directory and row and emits `destroy`. The caller holds the
    /// volumes' lock and has checked that no container uses it.
    async fn destroy_volume(&self, tenant: &str, name: &str) -> Result<()> {
        let dir = self.volume_dir(tenant, name);
        tokio::task::spawn_blocking(move || crate::runtime::volumes::remove(&dir)).await??;
        match self.store.delete_volume(tenant, name).await {
            Ok(_) => {}
            Err(crate::store::volumes::DeleteVolumeError::InUse) => {
                let users = self.store.volume_users(tenant, name).await?;
                return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
            }
            Err(crate::store::volumes::DeleteVolumeError::Database(e)) => return Err(e.into()),
        }
        self.events.emit(tenant, "volume", "destroy", name, &[("driver", LOCAL_DRIVER)]).await;
        Ok(())
    }

    /// `<data-root>/volumes/<name>` for the default tenant; other tenants' volumes live under
    /// `<data-root>/tenants/<tenant>/volumes/`.
    fn volume_dir(&self, tenant: &str, name: &str) -> PathBuf {
        if tenant == DEFAULT_TENANT {
            self.data_root.join("volumes").join(name)
        } else {
            self.data_root.join("tenants").join(tenant).join("volumes").join(name)
        }
    }
}

/// Now in RFC 3339 to the second, as the local driver reports CreatedAt.
fn now_seconds() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_at_has_no_fraction() {
        let t = super::now_seconds();
        assert!(t.ends_with('Z') && !t.contains('.'), "{t}");
    }
}
