//! Per-tenant user namespaces: a tenant's containers run in a user namespace of their own whose
//! root is the first uid of the tenant's range (`tenants::UID_RANGE` ids from its `uid_base`,
//! recorded with the tenant). The admin's containers keep the host's, as Docker's do.
//!
//! How the image's layers get the right owners inside (see `runtime::userns`) is decided once,
//! at the first tenant container: idmapped mounts when the probe shows this kernel can mount
//! an overlay of idmapped layers (and `--userns-idmap` is not `off`), else per-tenant shifted
//! copies of each layer, kept while one of the tenant's images uses the layer.

use std::collections::HashSet;
use std::path::PathBuf;

use super::tenants::UID_RANGE;
use super::{Engine, Error, Result};
use crate::runtime::userns::IdMapping;
use crate::runtime::userns::shifted_layers::ShiftedLayers;

/// The engine's user-namespace state.
pub(crate) struct UsernsState {
    /// Whether idmapped layers may be used at all (`--userns-idmap auto`).
    allow_idmap: bool,
    /// The probe's verdict, found once.
    idmapped: tokio::sync::OnceCell<bool>,
    /// Serializes making and removing shifted layers.
    shifted_lock: tokio::sync::Mutex<()>,
}

impl UsernsState {
    /// The state for the daemon's flags.
    pub(crate) fn new(allow_idmap: bool) -> UsernsState {
        UsernsState { allow_idmap, idmapped: tokio::sync::OnceCell::new(), shifted_lock: tokio::sync::Mutex::new(()) }
    }
}

/// What a tenant container's root filesystem is made of.
pub(crate) struct UsernsRootfs {
    /// The container's mapping.
    pub mapping: IdMapping,
    /// The lower layers, bottom first: the shared ones (idmapped) or the tenant's copies.
    pub layers: Vec<PathBuf>,
    /// Whether the layers are presented through idmapped mounts.
    pub idmapped: bool,
}

impl Engine {
    /// The id mapping of a tenant's containers; None for the admin's (the default tenant has no
    /// range).
    pub(crate) async fn tenant_id_mapping(&self, tenant_id: &str) -> Result<Option<IdMapping>> {
        let tenant = self.tenant(tenant_id).await?;
        let Some(base) = tenant.uid_base else {
            return Ok(None);
        };
        let base = u32::try_from(base).map_err(|_| Error::Internal(anyhow::anyhow!("uid base {base} out of range")))?;
        Ok(Some(IdMapping::range(base, UID_RANGE as u32)))
    }

    /// Whether tenants' layers are presented through idmapped mounts (probed once).
    pub(crate) async fn idmapped_layers(&self) -> bool {
        if !self.userns.allow_idmap {
            return false;
        }
        *self
            .userns
            .idmapped
            .get_or_init(|| async {
                let exe = self.kapsel_exe.clone();
                let dir = self.staging_dir().join(format!("userns-probe-{}", hex::encode(rand::random::<[u8; 6]>())));
                let probed = tokio::task::spawn_blocking(move || {
                    crate::runtime::userns::probe::idmapped_layers_work(&exe, &dir)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                match probed {
                    Ok(()) => {
                        tracing::info!("tenants' containers see the image layers through idmapped mounts");
                        true
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "idmapped mounts do not work here: tenants get shifted copies of layers");
                        false
                    }
                }
            })
            .await
    }

    /// The user namespace and lower layers of a container of `tenant_id` whose image has the
    /// layers `layers` (diff-id, extracted directory; bottom first); None for the admin's.
    pub(crate) async fn userns_rootfs(
        &self,
        tenant_id: &str,
        layers: &[(String, PathBuf)],
    ) -> Result<Option<UsernsRootfs>> {
        let Some(mapping) = self.tenant_id_mapping(tenant_id).await? else {
            return Ok(None);
        };
        if self.idmapped_layers().await {
            let layers = layers.iter().map(|(_, dir)| dir.clone()).collect();
            return Ok(Some(UsernsRootfs { mapping, layers, idmapped: true }));
        }
        let _lock = self.userns.shifted_lock.lock().await;
        let store = ShiftedLayers::new(&self.data_root);
        let sources: Vec<(String, PathBuf)> = layers.iter().map(|(_, dir)| (layer_name(dir), dir.clone())).collect();
        let shifted = tokio::task::spawn_blocking(move || {
            sources.iter().map(|(name, dir)| store.ensure(&mapping, name, dir)).collect::<std::io::Result<Vec<_>>>()
        })
        .await?
        .map_err(|e| Error::Internal(anyhow::anyhow!("making the tenant's copy of the image's layers: {e}")))?;
        Ok(Some(UsernsRootfs { mapping, layers: shifted, idmapped: false }))
    }

    /// Removes the tenant's shifted layers that none of its images uses any more.
    pub(crate) async fn prune_shifted_layers(&self, tenant_id: &str) -> Result<()> {
        let Some(mapping) = self.tenant_id_mapping(tenant_id).await? else {
            return Ok(());
        };
        let _lock = self.userns.shifted_lock.lock().await;
        let mut keep = HashSet::new();
        for image in self.store.images(tenant_id).await? {
            for layer in image.layers {
                keep.insert(layer_name(&self.layers.layer_dir(&layer.diff_id)?));
            }
        }
        let store = ShiftedLayers::new(&self.data_root);
        tokio::task::spawn_blocking(move || store.retain(mapping.host_uid, &keep)).await??;
        Ok(())
    }

    /// Removes every shifted layer of a range (a deleted tenant's).
    pub(crate) async fn remove_shifted_range(&self, base: u32) -> Result<()> {
        let _lock = self.userns.shifted_lock.lock().await;
        let store = ShiftedLayers::new(&self.data_root);
        tokio::task::spawn_blocking(move || store.remove_range(base)).await??;
        Ok(())
    }

    /// At start: removes the shifted layers of ranges no tenant has and those no image uses.
    pub(super) async fn sweep_shifted_layers(&self) -> Result<()> {
        let store = ShiftedLayers::new(&self.data_root);
        let ranges = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.ranges()).await??
        };
        if ranges.is_empty() {
            return Ok(());
        }
        let tenants = self.store.tenants().await?;
        for base in ranges {
            match tenants.iter().find(|t| t.uid_base == Some(i64::from(base))) {
                Some(tenant) => self.prune_shifted_layers(&tenant.id).await?,
                None => self.remove_shifted_range(base).await?,
            }
        }
        Ok(())
    }
}

/// The name of a layer's directory (its diff-id hex), which its copies are named by too.
fn layer_name(dir: &std::path::Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
