//! Queries over containers (definitions and state). The runtime issue fills this in; for now the
//! image store needs to know which images containers use.

use super::Store;

impl Store {
    /// Ids and statuses of a tenant's containers created from an image.
    pub async fn containers_using_image(
        &self,
        tenant: &str,
        image_id: &str,
    ) -> sqlx::Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT id, status FROM containers WHERE tenant_id = ? AND image_id = ?")
            .bind(tenant)
            .bind(image_id)
            .fetch_all(self.pool())
            .await
    }

    /// Counts a tenant's containers by status, for `/info`.
    pub async fn count_containers_by_status(
        &self,
        tenant: &str,
    ) -> sqlx::Result<Vec<(String, i64)>> {
        sqlx::query_as(
            "SELECT status, COUNT(*) FROM containers WHERE tenant_id = ? GROUP BY status",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await
    }
}
