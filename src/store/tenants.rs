//! Queries over tenants, their tokens (hashes only), usage figures for quotas, and the audit log.

use sqlx::Row;

use super::{Store, now_rfc3339};

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    /// Its id (the default tenant's is "default").
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// Quotas as JSON.
    pub quotas: String,
    /// Defaults as JSON.
    pub defaults: String,
    /// First host uid/gid of its user-namespace range; none for the default tenant.
    pub uid_base: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
}

/// A token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    /// Its id, for revocation.
    pub id: String,
    /// The tenant it acts for.
    pub tenant_id: String,
    /// An admin token.
    pub admin: bool,
    /// RFC 3339.
    pub created_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// Order.
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    /// The tenant acted for.
    pub tenant_id: String,
    /// admin, or the tenant's name.
    pub principal: String,
    /// HTTP method.
    pub method: String,
    /// Path without the version prefix.
    pub path: String,
    /// What was done, e.g. container.create.
    pub action: String,
    /// The object the path names.
    pub object: String,
    /// HTTP status of the answer.
    pub status: i64,
}

/// What a tenant uses now, for its quotas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Containers.
    pub containers: i64,
    /// Running (or paused, or restarting) containers.
    pub running: i64,
    /// Sum of the containers' memory limits.
    pub memory_bytes: i64,
    /// Sum of the containers' CPU limits (×1e9).
    pub nano_cpus: i64,
    /// Volumes.
    pub volumes: i64,
    /// Bytes of its images' layers (each layer counted once per tenant).
    pub image_bytes: i64,
}

fn tenant_from_row(row: sqlx::sqlite::SqliteRow) -> TenantRow {
    TenantRow {
        id: row.get("id"),
        name: row.get("name"),
        quotas: row.get("quotas"),
        defaults: row.get("defaults"),
        uid_base: row.get("uid_base"),
        created_at: row.get("created_at"),
    }
}

impl Store {
    /// Records a tenant; false when the name is taken.
    pub async fn insert_tenant(&self, t: &TenantRow) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO tenants (id, name, quotas, defaults, uid_base, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.quotas)
        .bind(&t.defaults)
        .bind(t.uid_base)
        .bind(&t.created_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every tenant.
    pub async fn tenants(&self) -> sqlx::Result<Vec<TenantRow>> {
        let rows = sqlx::query(
            "SELECT id, name, quotas, defaults, uid_base, created_at FROM tenants ORDER BY created_at, name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(tenant_from_row).collect())
    }

    /// A tenant by name.
    pub async fn tenant_by_name(&self, name: &str) -> sqlx::Result<Option<TenantRow>> {
        let row = sqlx::query("SELECT id, name, quotas, defaults, uid_base, created_at FROM tenants WHERE name = ?")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(tenant_from_row))
    }

    /// A tenant by id.
    pub async fn tenant(&self, id: &str) -> sqlx::Result<Option<TenantRow>> {
        let row = sqlx::query("SELECT id, name, quotas, defaults, uid_base, created_at FROM tenants WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(tenant_from_row))
    }

    /// Replaces a tenant's quotas and defaults.
    pub async fn update_tenant(&self, id: &str, quotas: &str, defaults: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE tenants SET quotas = ?, defaults = ? WHERE id = ?")
            .bind(quotas)
            .bind(defaults)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes a tenant and its tokens.
    pub async fn delete_tenant(&self, id: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM tenants WHERE id = ?").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// The uid bases in use, to give a new tenant the first free range.
    pub async fn uid_bases(&self) -> sqlx::Result<Vec<i64>> {
        sqlx::query_scalar("SELECT uid_base FROM tenants WHERE uid_base IS NOT NULL ORDER BY uid_base")
            .fetch_all(self.pool())
            .await
    }

    /// How many objects a tenant owns (containers, images, volumes, networks), to refuse
    /// deleting a tenant that still has some.
    pub async fn tenant_object_count(&self, id: &str) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM containers WHERE tenant_id = ?1) + (SELECT COUNT(*) FROM images WHERE tenant_id = ?1)
                  + (SELECT COUNT(*) FROM volumes WHERE tenant_id = ?1) + (SELECT COUNT(*) FROM networks WHERE tenant_id = ?1)",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await
    }

    /// Records a token's hash.
    pub async fn insert_token(&self, id: &str, tenant_id: &str, admin: bool, hash: &str) -> sqlx::Result<()> {
        sqlx::query("INSERT INTO tokens (id, tenant_id, admin, hash, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(tenant_id)
            .bind(admin as i64)
            .bind(hash)
            .bind(now_rfc3339())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The live (not revoked) token with this hash.
    pub async fn token_by_hash(&self, hash: &str) -> sqlx::Result<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, admin, created_at, revoked_at FROM tokens WHERE hash = ? AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| TokenRow {
            id: r.get("id"),
            tenant_id: r.get("tenant_id"),
            admin: r.get::<i64, _>("admin") != 0,
            created_at: r.get("created_at"),
            revoked_at: r.get("revoked_at"),
        }))
    }

    /// Whether a live admin token exists.
    pub async fn has_admin_token(&self) -> sqlx::Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE admin = 1 AND revoked_at IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Revokes a token; false when there is no live token with that id.
    pub async fn revoke_token(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now_rfc3339())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A tenant's usage, for its quotas.
    pub async fn tenant_usage(&self, tenant: &str) -> sqlx::Result<Usage> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS containers,
                    COALESCE(SUM(status IN ('running', 'paused', 'restarting')), 0) AS running,
                    COALESCE(SUM(CAST(json_extract(host_config, '$.Memory') AS INTEGER)), 0) AS memory,
                    COALESCE(SUM(CAST(json_extract(host_config, '$.NanoCpus') AS INTEGER)), 0) AS cpus
             FROM containers WHERE tenant_id = ?",
        )
        .bind(tenant)
        .fetch_one(self.pool())
        .await?;
        let volumes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM volumes WHERE tenant_id = ?")
            .bind(tenant)
            .fetch_one(self.pool())
            .await?;
        let image_bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size), 0) FROM layers WHERE diff_id IN
               (SELECT DISTINCT diff_id FROM image_layers WHERE tenant_id = ?)",
        )
        .bind(tenant)
        .fetch_one(self.pool())
        .await?;
        Ok(Usage {
            containers: row.get("containers"),
            running: row.get("running"),
            memory_bytes: row.get("memory"),
            nano_cpus: row.get("cpus"),
            volumes,
            image_bytes,
        })
    }

    /// Appends an audit record.
    pub async fn insert_audit(&self, a: &AuditRow) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO audit (time, tenant_id, principal, method, path, action, object, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.time)
        .bind(&a.tenant_id)
        .bind(&a.principal)
        .bind(&a.method)
        .bind(&a.path)
        .bind(&a.action)
        .bind(&a.object)
        .bind(a.status)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest audit records, newest first, optionally of one tenant.
    pub async fn audit(&self, tenant: Option<&str>, limit: i64) -> sqlx::Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, time, tenant_id, principal, method, path, action, object, status FROM audit
             WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRow {
                seq: r.get("seq"),
                time: r.get("time"),
                tenant_id: r.get("tenant_id"),
                principal: r.get("principal"),
                method: r.get("method"),
                path: r.get("path"),
                action: r.get("action"),
                object: r.get("object"),
                status: r.get("status"),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn tenants_tokens_and_audit() {
        let (store, _dir) = test_store().await;
        let acme = TenantRow {
            id: "t1".into(),
            name: "acme".into(),
            quotas: "{}".into(),
            defaults: "{}".into(),
            uid_base: Some(100_000),
            created_at: now_rfc3339(),
        };
        assert!(store.insert_tenant(&acme).await.unwrap());
        assert!(!store.insert_tenant(&TenantRow { id: "t2".into(), ..acme.clone() }).await.unwrap());
        assert_eq!(store.tenant_by_name("acme").await.unwrap().unwrap().id, "t1");
        assert_eq!(store.uid_bases().await.unwrap(), vec![100_000]);
        store.insert_token("k1", "t1", false, "h1").await.unwrap();
        assert_eq!(store.token_by_hash("h1").await.unwrap().unwrap().tenant_id, "t1");
        assert!(store.revoke_token("k1").await.unwrap());
        assert!(store.token_by_hash("h1").await.unwrap().is_none());
        assert!(!store.revoke_token("k1").await.unwrap());
        assert_eq!(store.tenant_usage("t1").await.unwrap(), Usage::default());
        assert_eq!(store.tenant_object_count("t1").await.unwrap(), 0);
        let record = AuditRow {
            seq: 0,
            time: now_rfc3339(),
            tenant_id: "t1".into(),
            principal: "acme".into(),
            method: "POST".into(),
            path: "/containers/create".into(),
            action: "container.create".into(),
            object: String::new(),
            status: 201,
        };
        store.insert_audit(&record).await.unwrap();
        assert_eq!(store.audit(Some("t1"), 10).await.unwrap().len(), 1);
        assert!(store.audit(Some("other"), 10).await.unwrap().is_empty());
        store.delete_tenant("t1").await.unwrap();
        assert!(store.tenant("t1").await.unwrap().is_none());
    }
}
