//! The event bus: every action is written to the store (for `--since` after a restart) and
//! broadcast to live `/events` subscribers.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::store::Store;

/// One event in Docker's `/events` wire shape.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// container, image, volume, network.
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened: create, start, tag…
    #[serde(rename = "Action")]
    pub action: String,
    /// The object and its attributes.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always "local".
    pub scope: &'static str,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// The owner; not sent to clients.
    #[serde(skip)]
    pub tenant: String,
}

/// The object an event is about.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// The object's id (or name, for images).
    #[serde(rename = "ID")]
    pub id: String,
    /// Name, image, exitCode, signal… as Docker sends them.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// Publishes events; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    store: Store,
    live: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus over the store, with room for slow subscribers to lag a little.
    pub fn new(store: Store) -> EventBus {
        EventBus { store, live: broadcast::channel(1024).0 }
    }

    /// Records and broadcasts an event; a failure to record is logged, never fatal to the action.
    pub async fn emit(&self, tenant: &str, kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) {
        let time_nano = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
        let attributes: BTreeMap<String, String> =
            attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let json = serde_json::to_string(&attributes).unwrap_or_else(|_| "{}".into());
        if let Err(e) = self.store.insert_event(tenant, time_nano, kind, action, id, &json).await {
            tracing::warn!(error = %e, kind, action, "could not record an event");
        }
        let event = Event {
            kind: kind.into(),
            action: action.into(),
            actor: Actor { id: id.into(), attributes },
            scope: "local",
            time: time_nano / 1_000_000_000,
            time_nano,
            tenant: tenant.into(),
        };
        let _ = self.live.send(event);
    }
}
