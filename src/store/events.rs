//! The event log, kept in SQLite so that `docker events --since` reaches back across restarts.

use super::Store;

/// How many events are kept; older ones are trimmed as new ones arrive.
pub const EVENT_RETENTION: i64 = 100_000;

impl Store {
    /// Appends an event and trims the log to its retention; returns its sequence number.
    pub async fn insert_event(
        &self,
        tenant: &str,
        time_nano: i64,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: &str,
    ) -> sqlx::Result<i64> {
        let seq = sqlx::query(
            "INSERT INTO events (tenant_id, time_nano, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(time_nano)
        .bind(kind)
        .bind(action)
        .bind(actor_id)
        .bind(attributes)
        .execute(self.pool())
        .await?
        .last_insert_rowid();
        if seq % 1000 == 0 {
            sqlx::query("DELETE FROM events WHERE seq <= ?").bind(seq - EVENT_RETENTION).execute(self.pool()).await?;
        }
        Ok(seq)
    }
}
