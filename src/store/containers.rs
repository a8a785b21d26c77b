//! Queries over containers: the definition as created (Config and HostConfig JSON) and the
//! state the runtime reports. Names are unique per tenant.

use sqlx::Row;

use super::{Store, UniqueError, unique_error};

/// A container's state columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerState {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// Host pid of the first process while running.
    pub pid: i64,
    /// The last exit code.
    pub exit_code: i64,
    /// The last exit was an OOM kill.
    pub oom_killed: bool,
    /// Why the last start failed.
    pub error: String,
    /// RFC 3339, when it last started.
    pub started_at: Option<String>,
    /// RFC 3339, when it last ended.
    pub finished_at: Option<String>,
    /// Restarts by policy.
    pub restart_count: i64,
    /// The user stopped it (restart policies leave it down).
    pub manually_stopped: bool,
}

/// A container as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerRow {
    /// Owner.
    pub tenant_id: String,
    /// 64 hex.
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// The image's id.
    pub image_id: String,
    /// The image as the user named it.
    pub image_ref: String,
    /// Docker Config JSON.
    pub config: String,
    /// Docker HostConfig JSON.
    pub host_config: String,
    /// RFC 3339.
    pub created_at: String,
    /// The state.
    pub state: ContainerState,
    /// The health check's state as JSON (Docker's State.Health), when it has one.
    pub health: Option<String>,
}

/// A static `SELECT` of every container column, with the given tail.
macro_rules! select_containers {
    ($tail:literal) => {
        concat!(
            "SELECT tenant_id, id, name, image_id, image_ref, config, host_config, created_at, status, pid, exit_code, ",
            "oom_killed, error, started_at, finished_at, restart_count, manually_stopped, health FROM containers ",
            $tail
        )
    };
}

fn row_to_container(row: sqlx::sqlite::SqliteRow) -> ContainerRow {
    ContainerRow {
        tenant_id: row.get("tenant_id"),
        id: row.get("id"),
        name: row.get("name"),
        image_id: row.get("image_id"),
        image_ref: row.get("image_ref"),
        config: row.get("config"),
        host_config: row.get("host_config"),
        created_at: row.get("created_at"),
        state: ContainerState {
            status: row.get("status"),
            pid: row.get("pid"),
            exit_code: row.get("exit_code"),
            oom_killed: row.get::<i64, _>("oom_killed") != 0,
            error: row.get("error"),
            started_at: row.get("started_at"),
            finished_at: row.get("finished_at"),
            restart_count: row.get("restart_count"),
            manually_stopped: row.get::<i64, _>("manually_stopped") != 0,
        },
        health: row.get("health"),
    }
}

impl Store {
    /// Records a new container; fails with `UniqueError::Taken` when the tenant has the name.
    pub async fn insert_container(&self, c: &ContainerRow) -> Result<(), UniqueError> {
        sqlx::query(
            "INSERT INTO containers (tenant_id, id, name, image_id, image_ref, config, host_config, created_at, status)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.tenant_id)
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.image_id)
        .bind(&c.image_ref)
        .bind(&c.config)
        .bind(&c.host_config)
        .bind(&c.created_at)
        .bind(&c.state.status)
        .execute(self.pool())
        .await
        .map_err(unique_error)?;
        Ok(())
    }

    /// A tenant's container by full id.
    pub async fn container(&self, tenant: &str, id: &str) -> sqlx::Result<Option<ContainerRow>> {
        Ok(sqlx::query(select_containers!("WHERE tenant_id = ? AND id = ?"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(row_to_container))
    }

    /// A tenant's container by name.
    pub async fn container_by_name(&self, tenant: &str, name: &str) -> sqlx::Result<Option<ContainerRow>> {
        Ok(sqlx::query(select_containers!("WHERE tenant_id = ? AND name = ?"))
            .bind(tenant)
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .map(row_to_container))
    }

    /// Ids of a tenant's containers starting with `prefix` (at most two, to detect ambiguity).
    pub async fn container_ids_with_prefix(&self, tenant: &str, prefix: &str) -> sqlx::Result<Vec<String>> {
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        sqlx::query_scalar("SELECT id FROM containers WHERE tenant_id = ? AND id LIKE ? LIMIT 2")
            .bind(tenant)
            .bind(pattern)
            .fetch_all(self.pool())
            .await
    }

    /// A tenant's containers, newest first.
    pub async fn containers(&self, tenant: &str) -> sqlx::Result<Vec<ContainerRow>> {
        Ok(sqlx::query(select_containers!("WHERE tenant_id = ? ORDER BY created_at DESC, rowid DESC"))
            .bind(tenant)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_container)
            .collect())
    }

    /// Every tenant's containers whose state says a process may be alive, for recovery at start.
    pub async fn live_containers(&self) -> sqlx::Result<Vec<ContainerRow>> {
        Ok(sqlx::query(select_containers!("WHERE status IN ('running', 'paused', 'restarting', 'removing')"))
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_container)
            .collect())
    }

    /// Writes a container's state.
    pub async fn set_container_state(&self, id: &str, s: &ContainerState) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE containers SET status = ?, pid = ?, exit_code = ?, oom_killed = ?, error = ?, started_at = ?,
             finished_at = ?, restart_count = ?, manually_stopped = ? WHERE id = ?",
        )
        .bind(&s.status)
        .bind(s.pid)
        .bind(s.exit_code)
        .bind(s.oom_killed as i64)
        .bind(&s.error)
        .bind(&s.started_at)
        .bind(&s.finished_at)
        .bind(s.restart_count)
        .bind(s.manually_stopped as i64)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Writes a container's health state (JSON), or clears it.
    pub async fn set_container_health(&self, id: &str, health: Option<&str>) -> sqlx::Result<()> {
        sqlx::query("UPDATE containers SET health = ? WHERE id = ?").bind(health).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Every tenant's containers, for the restart policies at daemon start.
    pub async fn all_containers(&self) -> sqlx::Result<Vec<ContainerRow>> {
        Ok(sqlx::query(select_containers!("ORDER BY created_at"))
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_container)
            .collect())
    }

    /// Writes a container's HostConfig (for `docker update`).
    pub async fn set_container_host_config(&self, id: &str, host_config: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE containers SET host_config = ? WHERE id = ?")
            .bind(host_config)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Renames a container; `UniqueError::Taken` when the tenant has the name.
    pub async fn rename_container(&self, id: &str, name: &str) -> Result<(), UniqueError> {
        sqlx::query("UPDATE containers SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(unique_error)?;
        Ok(())
    }

    /// Deletes a container's row.
    pub async fn delete_container(&self, id: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM containers WHERE id = ?").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Ids and statuses of a tenant's containers created from an image.
    pub async fn containers_using_image(&self, tenant: &str, image_id: &str) -> sqlx::Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT id, status FROM containers WHERE tenant_id = ? AND image_id = ?")
            .bind(tenant)
            .bind(image_id)
            .fetch_all(self.pool())
            .await
    }

    /// Counts a tenant's containers by status, for `/info`.
    pub async fn count_containers_by_status(&self, tenant: &str) -> sqlx::Result<Vec<(String, i64)>> {
        sqlx::query_as("SELECT status, COUNT(*) FROM containers WHERE tenant_id = ? GROUP BY status")
            .bind(tenant)
            .fetch_all(self.pool())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DEFAULT_TENANT as T, test_store};

    #[tokio::test]
    async fn names_are_unique_per_tenant_and_state_round_trips() {
        let (store, _dir) = test_store().await;
        store.insert_image(T, "sha256:aa", b"{}", None, &[]).await.unwrap();
        let row = ContainerRow {
            tenant_id: T.into(),
            id: "c1".into(),
            name: "web".into(),
            image_id: "sha256:aa".into(),
            image_ref: "busybox".into(),
            config: "{}".into(),
            host_config: "{}".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            state: ContainerState { status: "created".into(), ..Default::default() },
            health: None,
        };
        store.insert_container(&row).await.unwrap();
        let twin = ContainerRow { id: "c2".into(), ..row.clone() };
        assert!(matches!(store.insert_container(&twin).await, Err(UniqueError::Taken)));
        let other = ContainerRow { id: "c2".into(), name: "db".into(), ..row.clone() };
        store.insert_container(&other).await.unwrap();
        assert!(matches!(store.rename_container("c2", "web").await, Err(UniqueError::Taken)));
        let state =
            ContainerState { status: "running".into(), pid: 42, started_at: Some("t".into()), ..Default::default() };
        store.set_container_state("c1", &state).await.unwrap();
        assert_eq!(store.container(T, "c1").await.unwrap().unwrap().state, state);
        assert_eq!(store.live_containers().await.unwrap().len(), 1);
        assert_eq!(store.container_by_name(T, "db").await.unwrap().unwrap().id, "c2");
        assert_eq!(store.container_ids_with_prefix(T, "c").await.unwrap().len(), 2);
        store.delete_container("c1").await.unwrap();
        assert!(store.container(T, "c1").await.unwrap().is_none());
    }
}
