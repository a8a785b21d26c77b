//! Queries for pulls and pushes: registry digests (RepoDigests), a repository's tags, and the
//! layers a tenant already owns.

use super::{Store, now_rfc3339};

impl Store {
    /// Names an image `repository@digest`; returns true when the name is new or moved.
    pub async fn set_repo_digest(
        &self,
        tenant: &str,
        repository: &str,
        digest: &str,
        image_id: &str,
    ) -> sqlx::Result<bool> {
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT image_id FROM repo_digests WHERE tenant_id = ? AND repository = ? AND digest = ?",
        )
        .bind(tenant)
        .bind(repository)
        .bind(digest)
        .fetch_optional(self.pool())
        .await?;
        if previous.as_deref() == Some(image_id) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO repo_digests (tenant_id, repository, digest, image_id, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, repository, digest) DO UPDATE SET image_id = excluded.image_id",
        )
        .bind(tenant)
        .bind(repository)
        .bind(digest)
        .bind(image_id)
        .bind(now_rfc3339())
        .execute(self.pool())
        .await?;
        Ok(true)
    }

    /// The image `repository@digest` names.
    pub async fn repo_digest_target(
        &self,
        tenant: &str,
        repository: &str,
        digest: &str,
    ) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT image_id FROM repo_digests WHERE tenant_id = ? AND repository = ? AND digest = ?")
            .bind(tenant)
            .bind(repository)
            .bind(digest)
            .fetch_optional(self.pool())
            .await
    }

    /// Every (image id, repository, digest) of a tenant, oldest first.
    pub async fn repo_digests(&self, tenant: &str) -> sqlx::Result<Vec<(String, String, String)>> {
        sqlx::query_as(
            "SELECT image_id, repository, digest FROM repo_digests WHERE tenant_id = ?
             ORDER BY created_at, repository, digest",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await
    }

    /// The (tag, image id) pairs of one repository, by tag.
    pub async fn repository_tags(&self, tenant: &str, repository: &str) -> sqlx::Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT tag, image_id FROM tags WHERE tenant_id = ? AND repository = ? ORDER BY tag")
            .bind(tenant)
            .bind(repository)
            .fetch_all(self.pool())
            .await
    }

    /// The (size, tar size) of a layer when one of the tenant's images uses it: only then may a
    /// pull by that tenant skip downloading it.
    pub async fn tenant_layer(&self, tenant: &str, diff_id: &str) -> sqlx::Result<Option<(i64, i64)>> {
        sqlx::query_as(
            "SELECT l.size, l.tar_size FROM layers l
             WHERE l.diff_id = ? AND EXISTS (SELECT 1 FROM image_layers il WHERE il.tenant_id = ? AND il.diff_id = l.diff_id)",
        )
        .bind(diff_id)
        .bind(tenant)
        .fetch_optional(self.pool())
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::store::images::NewLayer;
    use crate::store::{DEFAULT_TENANT as T, test_store};

    #[tokio::test]
    async fn repo_digests_follow_their_image() {
        let (store, _dir) = test_store().await;
        let layer = NewLayer { diff_id: format!("sha256:{}", "1".repeat(64)), size: 5, tar_size: 10 };
        store.insert_image(T, "sha256:aa", b"{}", None, std::slice::from_ref(&layer)).await.unwrap();
        assert_eq!(store.tenant_layer(T, &layer.diff_id).await.unwrap(), Some((5, 10)));
        assert_eq!(store.tenant_layer("other", &layer.diff_id).await.unwrap(), None);

        assert!(store.set_repo_digest(T, "r:5000/bb", "sha256:m1", "sha256:aa").await.unwrap());
        assert!(!store.set_repo_digest(T, "r:5000/bb", "sha256:m1", "sha256:aa").await.unwrap());
        assert_eq!(store.repo_digest_target(T, "r:5000/bb", "sha256:m1").await.unwrap().as_deref(), Some("sha256:aa"));
        assert_eq!(store.repo_digest_target("other", "r:5000/bb", "sha256:m1").await.unwrap(), None);
        store.set_tag(T, "r:5000/bb", "v1", "sha256:aa").await.unwrap();
        assert_eq!(store.repository_tags(T, "r:5000/bb").await.unwrap(), vec![("v1".into(), "sha256:aa".into())]);

        store.delete_image(T, "sha256:aa").await.unwrap();
        assert!(store.repo_digests(T).await.unwrap().is_empty());
    }
}
