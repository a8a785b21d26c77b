//! `docker diff`: what a container changed over its image, read from its writable layer (see
//! `runtime::container_fs::changes`), and where that layer and the image's layers live.

use std::path::PathBuf;

use super::Container;
use crate::engine::{Engine, Error, Result};
use crate::runtime::container_fs::changes::upper_changes;

pub use crate::runtime::container_fs::changes::{Change, ChangeKind};

impl Engine {
    /// `GET /containers/{id}/changes`: the changed paths, sorted.
    pub async fn container_changes(&self, tenant: &str, name: &str) -> Result<Vec<Change>> {
        let c = self.resolve_container(tenant, name).await?;
        let (upper, lower) = self.layer_dirs(&c).await?;
        Ok(tokio::task::spawn_blocking(move || upper_changes(&upper, &lower)).await??)
    }

    /// The container's writable layer (`upper/` in its bundle) and its image's extracted
    /// layers, top layer first: for a tenant's container, the layers its root filesystem is
    /// made of (its shifted copies where idmapped mounts are not used, see `engine::userns`).
    pub(crate) async fn layer_dirs(&self, c: &Container) -> Result<(PathBuf, Vec<PathBuf>)> {
        let image = self.store.image(&c.row.tenant_id, &c.row.image_id).await?.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("the image {} of container {} is gone", c.row.image_id, c.row.id))
        })?;
        let mut layers = Vec::with_capacity(image.layers.len());
        for layer in &image.layers {
            layers.push((layer.diff_id.clone(), self.layers.layer_dir(&layer.diff_id)?));
        }
        let mut lower: Vec<PathBuf> = match self.userns_rootfs(&c.row.tenant_id, &layers).await? {
            Some(userns) => userns.layers,
            None => layers.into_iter().map(|(_, dir)| dir).collect(),
        };
        lower.reverse();
        Ok((self.bundle_dir(&c.row.id).join("upper"), lower))
    }
}
