//! Queries over volumes and the volumes containers mount. A volume is in use while any
//! container (running or not) has a `container_volumes` row naming it; the foreign key keeps a
//! used volume's row from being deleted even by a racing remove.

use std::collections::{BTreeMap, HashSet};

use sqlx::Row;

use super::Store;

/// A volume as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeRow {
    /// Owner.
    pub tenant_id: String,
    /// The name, unique per tenant.
    pub name: String,
    /// Always `local` so far.
    pub driver: String,
    /// The host directory holding the data (`<data-root>/volumes/<name>/_data`).
    pub mountpoint: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// RFC 3339, seconds.
    pub created_at: String,
}

/// One volume a container mounts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerVolumeRow {
    /// The container.
    pub container_id: String,
    /// The volume's name.
    pub volume_name: String,
    /// Where it is mounted inside.
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Made for this container (no name given): `docker rm -v` removes it.
    pub anonymous: bool,
    /// The mode as inspect shows it.
    pub mode: String,
    /// The volume's driver (joined from `volumes`; ignored on insert).
    pub driver: String,
    /// The volume's data directory (joined from `volumes`; ignored on insert).
    pub mountpoint: String,
}

/// Why a volume could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteVolumeError {
    /// A container references it.
    #[error("volume is in use")]
    InUse,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn to_json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

fn from_json(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn row_to_volume(row: sqlx::sqlite::SqliteRow) -> VolumeRow {
    VolumeRow {
        tenant_id: row.get("tenant_id"),
        name: row.get("name"),
        driver: row.get("driver"),
        mountpoint: row.get("mountpoint"),
        labels: from_json(row.get("labels")),
        options: from_json(row.get("options")),
        created_at: row.get("created_at"),
    }
}

/// A static `SELECT` of every volume column of a tenant, with the given tail.
macro_rules! select_volumes {
    ($tail:literal) => {
        concat!(
            "SELECT tenant_id, name, driver, mountpoint, labels, options, created_at FROM volumes WHERE tenant_id = ? ",
            $tail
        )
    };
}

impl Store {
    /// Records a volume unless the tenant has one of that name; true when it was recorded.
    pub async fn insert_volume(&self, v: &VolumeRow) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO volumes (tenant_id, name, driver, mountpoint, labels, options, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(&v.tenant_id)
        .bind(&v.name)
        .bind(&v.driver)
        .bind(&v.mountpoint)
        .bind(to_json(&v.labels))
        .bind(to_json(&v.options))
        .bind(&v.created_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A tenant's volume by name.
    pub async fn volume(&self, tenant: &str, name: &str) -> sqlx::Result<Option<VolumeRow>> {
        Ok(sqlx::query(select_volumes!("AND name = ?"))
            .bind(tenant)
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .map(row_to_volume))
    }

    /// A tenant's volumes, by name.
    pub async fn volumes(&self, tenant: &str) -> sqlx::Result<Vec<VolumeRow>> {
        Ok(sqlx::query(select_volumes!("ORDER BY name"))
            .bind(tenant)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_volume)
            .collect())
    }

    /// Every tenant's volumes, for the recovery at daemon start.
    pub async fn all_volumes(&self) -> sqlx::Result<Vec<VolumeRow>> {
        Ok(sqlx::query("SELECT tenant_id, name, driver, mountpoint, labels, options, created_at FROM volumes")
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_volume)
            .collect())
    }

    /// Deletes a volume's row unless a container uses it; false when there was none.
    pub async fn delete_volume(&self, tenant: &str, name: &str) -> Result<bool, DeleteVolumeError> {
        let done = sqlx::query("DELETE FROM volumes WHERE tenant_id = ? AND name = ?")
            .bind(tenant)
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(|e| match e.as_database_error() {
                Some(db) if db.is_foreign_key_violation() => DeleteVolumeError::InUse,
                _ => DeleteVolumeError::Database(e),
            })?;
        Ok(done.rows_affected() == 1)
    }

    /// The containers that use a volume, oldest first.
    pub async fn volume_users(&self, tenant: &str, name: &str) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT cv.container_id FROM container_volumes cv JOIN containers c ON c.id = cv.container_id
             WHERE cv.tenant_id = ? AND cv.volume_name = ? ORDER BY c.created_at, c.rowid",
        )
        .bind(tenant)
        .bind(name)
        .fetch_all(self.pool())
        .await
    }

    /// The names of a tenant's volumes that some container uses.
    pub async fn volumes_in_use(&self, tenant: &str) -> sqlx::Result<HashSet<String>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT volume_name FROM container_volumes WHERE tenant_id = ?")
                .bind(tenant)
                .fetch_all(self.pool())
                .await?;
        Ok(names.into_iter().collect())
    }

    /// Records the volumes a container mounts, all or none.
    pub async fn insert_container_volumes(&self, tenant: &str, rows: &[ContainerVolumeRow]) -> sqlx::Result<()> {
        let mut tx = self.pool().begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO container_volumes (container_id, tenant_id, volume_name, destination, read_only, anonymous, mode)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.container_id)
            .bind(tenant)
            .bind(&r.volume_name)
            .bind(&r.destination)
            .bind(r.read_only as i64)
            .bind(r.anonymous as i64)
            .bind(&r.mode)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The volumes a container mounts, with each volume's driver and data directory, by
    /// destination.
    pub async fn container_volumes(&self, container_id: &str) -> sqlx::Result<Vec<ContainerVolumeRow>> {
        let rows = sqlx::query(
            "SELECT cv.container_id, cv.volume_name, cv.destination, cv.read_only, cv.anonymous, cv.mode, v.driver,
                    v.mountpoint
             FROM container_volumes cv JOIN volumes v ON v.tenant_id = cv.tenant_id AND v.name = cv.volume_name
             WHERE cv.container_id = ? ORDER BY cv.destination",
        )
        .bind(container_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| ContainerVolumeRow {
                container_id: row.get("container_id"),
                volume_name: row.get("volume_name"),
                destination: row.get("destination"),
                read_only: row.get::<i64, _>("read_only") != 0,
                anonymous: row.get::<i64, _>("anonymous") != 0,
                mode: row.get("mode"),
                driver: row.get("driver"),
                mountpoint: row.get("mountpoint"),
            })
            .collect())
    }

    /// Forgets the volumes a container mounts (before the container goes).
    pub async fn delete_container_volumes(&self, container_id: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM container_volumes WHERE container_id = ?")
            .bind(container_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::containers::{ContainerRow, ContainerState};
    use crate::store::{DEFAULT_TENANT as T, test_store};

    fn volume(name: &str) -> VolumeRow {
        VolumeRow {
            tenant_id: T.into(),
            name: name.into(),
            driver: "local".into(),
            mountpoint: format!("/v/{name}/_data"),
            labels: [("k".to_string(), "v".to_string())].into_iter().collect(),
            options: BTreeMap::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn used_volumes_cannot_be_deleted_until_the_container_goes() {
        let (store, _dir) = test_store().await;
        assert!(store.insert_volume(&volume("data")).await.unwrap());
        assert!(!store.insert_volume(&volume("data")).await.unwrap(), "a second insert keeps the first");
        assert!(store.insert_volume(&volume("other")).await.unwrap());
        assert_eq!(store.volume(T, "data").await.unwrap().unwrap(), volume("data"));
        assert_eq!(store.volumes(T).await.unwrap().len(), 2);

        store.insert_image(T, "sha256:aa", b"{}", None, &[]).await.unwrap();
        let c = ContainerRow {
            tenant_id: T.into(),
            id: "c1".into(),
            name: "web".into(),
            image_id: "sha256:aa".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            state: ContainerState { status: "created".into(), ..Default::default() },
            ..Default::default()
        };
        store.insert_container(&c).await.unwrap();
        let row = ContainerVolumeRow {
            container_id: "c1".into(),
            volume_name: "data".into(),
            destination: "/data".into(),
            mode: "z".into(),
            ..Default::default()
        };
        store.insert_container_volumes(T, std::slice::from_ref(&row)).await.unwrap();
        let missing = ContainerVolumeRow { volume_name: "nope".into(), destination: "/x".into(), ..row.clone() };
        assert!(store.insert_container_volumes(T, &[missing]).await.is_err(), "the volume must exist");

        assert_eq!(store.volume_users(T, "data").await.unwrap(), ["c1"]);
        assert!(store.volumes_in_use(T).await.unwrap().contains("data"));
        let mounted = store.container_volumes("c1").await.unwrap();
        assert_eq!(mounted.len(), 1);
        assert_eq!(mounted[0].mountpoint, "/v/data/_data");
        assert!(matches!(store.delete_volume(T, "data").await, Err(DeleteVolumeError::InUse)));

        store.delete_container("c1").await.unwrap();
        assert!(store.container_volumes("c1").await.unwrap().is_empty(), "the rows go with the container");
        assert!(store.delete_volume(T, "data").await.unwrap());
        assert!(!store.delete_volume(T, "data").await.unwrap());
    }
}
