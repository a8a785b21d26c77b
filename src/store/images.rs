//! Queries over images, their layers and their tags.

use sqlx::Row;

use super::{Store, now_rfc3339};

/// An image as stored: its config bytes, layers in order and tags.
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// The config JSON exactly as received or made.
    pub config: Vec<u8>,
    /// Sum of the layers' content sizes.
    pub size: i64,
    /// The config's creation time (RFC 3339), when it has one.
    pub created: Option<String>,
    /// When the image entered this daemon.
    pub added_at: String,
    /// The layers, bottom first.
    pub layers: Vec<LayerRef>,
    /// (repository, tag) pairs naming this image, oldest first.
    pub tags: Vec<(String, String)>,
}

/// A layer as an image uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of file content.
    pub size: i64,
}

/// One layer of an image being added.
#[derive(Debug, Clone)]
pub struct NewLayer {
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of file content.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
}

impl Store {
    /// Records an image and its layers; returns false when the tenant already had it.
    pub async fn insert_image(
        &self,
        tenant: &str,
        id: &str,
        config: &[u8],
        created: Option<&str>,
        layers: &[NewLayer],
    ) -> sqlx::Result<bool> {
        let now = now_rfc3339();
        let mut tx = self.pool().begin().await?;
        for layer in layers {
            sqlx::query("INSERT OR IGNORE INTO layers (diff_id, size, tar_size, created_at) VALUES (?, ?, ?, ?)")
                .bind(&layer.diff_id)
                .bind(layer.size as i64)
                .bind(layer.tar_size as i64)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
        }
        let size: u64 = layers.iter().map(|l| l.size).sum();
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO images (tenant_id, id, config, size, created, added_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(id)
        .bind(config)
        .bind(size as i64)
        .bind(created)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for (position, layer) in layers.iter().enumerate() {
                sqlx::query("INSERT INTO image_layers (tenant_id, image_id, position, diff_id) VALUES (?, ?, ?, ?)")
                    .bind(tenant)
                    .bind(id)
                    .bind(position as i64)
                    .bind(&layer.diff_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Every image of a tenant, with layers and tags.
    pub async fn images(&self, tenant: &str) -> sqlx::Result<Vec<ImageRow>> {
        let rows = sqlx::query(
            "SELECT id, config, size, created, added_at FROM images WHERE tenant_id = ? ORDER BY added_at DESC, id",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?;
        let mut images: Vec<ImageRow> = rows.into_iter().map(image_from_row).collect();
        let layers = sqlx::query(
            "SELECT il.image_id, il.diff_id, l.size FROM image_layers il JOIN layers l USING (diff_id)
             WHERE il.tenant_id = ? ORDER BY il.image_id, il.position",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?;
        let tags = sqlx::query(
            "SELECT image_id, repository, tag FROM tags WHERE tenant_id = ? ORDER BY tagged_at, repository, tag",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?;
        let by_id: std::collections::HashMap<String, usize> =
            images.iter().enumerate().map(|(i, image)| (image.id.clone(), i)).collect();
        for row in layers {
            if let Some(&i) = by_id.get(row.get::<&str, _>("image_id")) {
                images[i].layers.push(LayerRef { diff_id: row.get("diff_id"), size: row.get("size") });
            }
        }
        for row in tags {
            if let Some(&i) = by_id.get(row.get::<&str, _>("image_id")) {
                images[i].tags.push((row.get("repository"), row.get("tag")));
            }
        }
        Ok(images)
    }

    /// One image of a tenant by full id.
    pub async fn image(&self, tenant: &str, id: &str) -> sqlx::Result<Option<ImageRow>> {
        let Some(row) =
            sqlx::query("SELECT id, config, size, created, added_at FROM images WHERE tenant_id = ? AND id = ?")
                .bind(tenant)
                .bind(id)
                .fetch_optional(self.pool())
                .await?
        else {
            return Ok(None);
        };
        let mut image = image_from_row(row);
        let layers: Vec<(String, i64)> = sqlx::query_as(
            "SELECT il.diff_id, l.size FROM image_layers il JOIN layers l USING (diff_id)
             WHERE il.tenant_id = ? AND il.image_id = ? ORDER BY il.position",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        image.layers = layers.into_iter().map(|(diff_id, size)| LayerRef { diff_id, size }).collect();
        image.tags = sqlx::query_as(
            "SELECT repository, tag FROM tags WHERE tenant_id = ? AND image_id = ? ORDER BY tagged_at, repository, tag",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(image))
    }

    /// Ids of a tenant's images that start with `prefix` (`sha256:` included).
    pub async fn image_ids_with_prefix(&self, tenant: &str, prefix: &str) -> sqlx::Result<Vec<String>> {
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        sqlx::query_scalar("SELECT id FROM images WHERE tenant_id = ? AND id LIKE ? LIMIT 2")
            .bind(tenant)
            .bind(pattern)
            .fetch_all(self.pool())
            .await
    }

    /// The image a tag points to.
    pub async fn tag_target(&self, tenant: &str, repository: &str, tag: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT image_id FROM tags WHERE tenant_id = ? AND repository = ? AND tag = ?")
            .bind(tenant)
            .bind(repository)
            .bind(tag)
            .fetch_optional(self.pool())
            .await
    }

    /// Points a tag at an image, moving it if it named another; returns the image it named before.
    pub async fn set_tag(
        &self,
        tenant: &str,
        repository: &str,
        tag: &str,
        image_id: &str,
    ) -> sqlx::Result<Option<String>> {
        let mut tx = self.pool().begin().await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT image_id FROM tags WHERE tenant_id = ? AND repository = ? AND tag = ?")
                .bind(tenant)
                .bind(repository)
                .bind(tag)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO tags (tenant_id, repository, tag, image_id, tagged_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, repository, tag) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at",
        )
        .bind(tenant)
        .bind(repository)
        .bind(tag)
        .bind(image_id)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(previous.filter(|p| p != image_id))
    }

    /// Removes a tag; returns whether it existed.
    pub async fn remove_tag(&self, tenant: &str, repository: &str, tag: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM tags WHERE tenant_id = ? AND repository = ? AND tag = ?")
            .bind(tenant)
            .bind(repository)
            .bind(tag)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes an image with its tags; returns the diff-ids no image references any more (their
    /// rows are deleted too, so the caller removes them from disk).
    pub async fn delete_image(&self, tenant: &str, id: &str) -> sqlx::Result<Vec<LayerRef>> {
        let mut tx = self.pool().begin().await?;
        let layers: Vec<(String, i64)> = sqlx::query_as(
            "SELECT DISTINCT il.diff_id, l.size FROM image_layers il JOIN layers l USING (diff_id)
             WHERE il.tenant_id = ? AND il.image_id = ?",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM tags WHERE tenant_id = ? AND image_id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM images WHERE tenant_id = ? AND id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut orphaned = Vec::new();
        for (diff_id, size) in layers {
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM image_layers WHERE diff_id = ?")
                .bind(&diff_id)
                .fetch_one(&mut *tx)
                .await?;
            if users == 0 {
                sqlx::query("DELETE FROM layers WHERE diff_id = ?").bind(&diff_id).execute(&mut *tx).await?;
                orphaned.push(LayerRef { diff_id, size });
            }
        }
        tx.commit().await?;
        Ok(orphaned)
    }

    /// Every layer diff-id the database knows, to find directories left by a crash.
    pub async fn layer_ids(&self) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT diff_id FROM layers").fetch_all(self.pool()).await
    }

    /// Counts a tenant's images, for `/info`.
    pub async fn count_images(&self, tenant: &str) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM images WHERE tenant_id = ?").bind(tenant).fetch_one(self.pool()).await
    }
}

fn image_from_row(row: sqlx::sqlite::SqliteRow) -> ImageRow {
    ImageRow {
        id: row.get("id"),
        config: row.get("config"),
        size: row.get("size"),
        created: row.get("created"),
        added_at: row.get("added_at"),
        layers: Vec::new(),
        tags: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DEFAULT_TENANT as T, test_store};

    fn layer(n: u8) -> NewLayer {
        NewLayer { diff_id: format!("sha256:{}", hex::encode([n; 32])), size: 10, tar_size: 20 }
    }

    #[tokio::test]
    async fn images_tags_and_layer_sharing() {
        let (store, _dir) = test_store().await;
        assert!(store.insert_image(T, "sha256:aa", b"{}", None, &[layer(1), layer(2)]).await.unwrap());
        assert!(!store.insert_image(T, "sha256:aa", b"{}", None, &[layer(1), layer(2)]).await.unwrap());
        assert!(store.insert_image(T, "sha256:bb", b"{ }", None, &[layer(1)]).await.unwrap());
        assert_eq!(store.set_tag(T, "docker.io/library/busybox", "latest", "sha256:aa").await.unwrap(), None);
        assert_eq!(
            store.set_tag(T, "docker.io/library/busybox", "latest", "sha256:bb").await.unwrap(),
            Some("sha256:aa".into())
        );
        let bb = store.image(T, "sha256:bb").await.unwrap().unwrap();
        assert_eq!(bb.tags, vec![("docker.io/library/busybox".into(), "latest".into())]);
        assert_eq!(store.image(T, "sha256:aa").await.unwrap().unwrap().layers.len(), 2);
        assert_eq!(store.image_ids_with_prefix(T, "sha256:a").await.unwrap(), vec!["sha256:aa"]);
        // Layer 1 is shared with bb: only layer 2 is orphaned.
        let orphan = |n| vec![LayerRef { diff_id: layer(n).diff_id, size: 10 }];
        assert_eq!(store.delete_image(T, "sha256:aa").await.unwrap(), orphan(2));
        assert_eq!(store.delete_image(T, "sha256:bb").await.unwrap(), orphan(1));
        assert!(store.images(T).await.unwrap().is_empty());
        assert!(store.layer_ids().await.unwrap().is_empty());
    }
}
