//! The store: sqlx over SQLite, the source of truth for every definition and state. Every query
//! of kapsel lives in this module's files, one per table family.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub mod containers;
pub mod events;
pub mod images;
pub mod networks;
pub mod registry;
pub mod tenants;
pub mod volumes;

/// The tenant that owns everything until tenants and tokens arrive.
pub const DEFAULT_TENANT: &str = "default";

/// Why a row could not be written: a unique constraint (a name, an address) or the database.
#[derive(Debug, thiserror::Error)]
pub enum UniqueError {
    /// The name, or the address, is taken.
    #[error("taken")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Tells a unique-constraint violation from other database failures.
fn unique_error(e: sqlx::Error) -> UniqueError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => UniqueError::Taken,
        _ => UniqueError::Database(e),
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` in WAL mode with foreign keys on, and
    /// applies the migrations under `migrations/`.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Closes the pool so that the WAL is checkpointed before the process exits.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for the query functions of this module.
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The current time in RFC 3339 with nanoseconds, as Docker writes times.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formatting the current time cannot fail")
}

#[cfg(test)]
pub(crate) async fn test_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (Store::open(&url).await.unwrap(), dir)
}

impl Store {
    /// A daemon-wide setting, such as `engine_id`.
    pub async fn setting(&self, key: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(self.pool()).await
    }
}
