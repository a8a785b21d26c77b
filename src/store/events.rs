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

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Ordering key.
    pub seq: i64,
    /// Owner.
    pub tenant_id: String,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
    /// container, image, volume, network.
    pub kind: String,
    /// create, start, tag…
    pub action: String,
    /// The object's id or name.
    pub actor_id: String,
    /// Attributes as a JSON object.
    pub attributes: String,
}

impl Store {
    /// A tenant's events between two times (nanoseconds, inclusive), oldest first.
    pub async fn events_between(&self, tenant: &str, since: i64, until: i64) -> sqlx::Result<Vec<EventRow>> {
        let rows: Vec<(i64, String, i64, String, String, String, String)> = sqlx::query_as(
            "SELECT seq, tenant_id, time_nano, type, action, actor_id, attributes FROM events
             WHERE tenant_id = ? AND time_nano >= ? AND time_nano <= ? ORDER BY seq",
        )
        .bind(tenant)
        .bind(since)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, tenant_id, time_nano, kind, action, actor_id, attributes)| EventRow {
                seq,
                tenant_id,
                time_nano,
                kind,
                action,
                actor_id,
                attributes,
            })
            .collect())
    }
}
