//! The event bus: every action is written to the store (so `docker events --since` reaches back
//! across a daemon restart) and broadcast to live `/events` subscribers.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::sync::broadcast;

use super::filters::Filters;
use super::{Error, Result};
use crate::store::Store;
use crate::store::events::EventRow;

/// One event in Docker's `/events` wire shape (with the legacy `status`, `id`, `from`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Legacy: the action, for container and image events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Legacy: the actor's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Legacy: the image, for container events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
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
    #[schema(value_type = String)]
    pub scope: &'static str,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// The owner; not sent to clients.
    #[serde(skip)]
    pub tenant: String,
    /// The store's order; not sent to clients.
    #[serde(skip)]
    pub seq: i64,
}

/// The object an event is about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// The object's id (or name, for images).
    #[serde(rename = "ID")]
    pub id: String,
    /// Name, image, exitCode, signal… as Docker sends them.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    fn new(
        seq: i64,
        tenant: &str,
        time_nano: i64,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        let legacy = kind == "container" || kind == "image";
        Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: (kind == "container").then(|| attributes.get("image").cloned()).flatten(),
            kind: kind.into(),
            action: action.into(),
            actor: Actor { id: id.into(), attributes },
            scope: "local",
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
            tenant: tenant.into(),
            seq,
        }
    }

    fn from_row(row: EventRow) -> Event {
        let attributes = serde_json::from_str(&row.attributes).unwrap_or_default();
        Event::new(row.seq, &row.tenant_id, row.time_nano, &row.kind, &row.action, &row.actor_id, attributes)
    }

    /// Whether the event passes `docker events` filters (type, container, image, event, label,
    /// network, volume, scope).
    pub fn matches(&self, filters: &Filters) -> bool {
        let attr = |key: &str| self.actor.attributes.get(key).map(String::as_str);
        let object = |kind: &str, value: &str| {
            self.kind == kind
                && (self.actor.id == value || self.actor.id.starts_with(value) || attr("name") == Some(value))
        };
        // The action may carry a suffix (`exec_create: ls`); the filter names the action.
        let action = self.action.split(':').next().unwrap_or(&self.action);
        filters.match_any("type", |t| t == self.kind)
            && filters.match_any("event", |e| e == action || e == self.action)
            && filters.match_any("container", |c| object("container", c))
            && filters.match_any("image", |i| {
                (self.kind == "image"
                    && (self.actor.id == i || attr("name").is_some_and(|n| n == i || without_tag(n) == i)))
                    || (self.kind == "container" && attr("image") == Some(i))
            })
            && filters.match_any("network", |n| object("network", n))
            && filters.match_any("volume", |v| object("volume", v))
            && filters.match_any("scope", |s| s == self.scope)
            && filters.match_labels(&self.actor.attributes)
    }
}

/// `busybox` from `busybox:latest` (a registry port's colon is kept: `host:5000/x`).
fn without_tag(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

/// Publishes events; cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    store: Store,
    live: broadcast::Sender<Event>,
}

/// The filter keys `/events` accepts.
pub const EVENT_FILTERS: &[&str] =
    &["type", "event", "container", "image", "label", "network", "volume", "daemon", "scope"];

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
        let seq = match self.store.insert_event(tenant, time_nano, kind, action, id, &json).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!(error = %e, kind, action, "could not record an event");
                0
            }
        };
        let _ = self.live.send(Event::new(seq, tenant, time_nano, kind, action, id, attributes));
    }

    /// A tenant's events: those recorded between `since` and `until` (nanoseconds), then —
    /// when `until` is in the future or absent — the live ones until then. Each passes
    /// `filters`; none is sent twice.
    pub async fn stream(
        &self,
        tenant: &str,
        since: Option<i64>,
        until: Option<i64>,
        filters: Filters,
    ) -> Result<tokio::sync::mpsc::Receiver<Event>> {
        filters.validate(EVENT_FILTERS).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut live = self.live.subscribe();
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
        let replay = match since {
            Some(since) => self.store.events_between(tenant, since, until.unwrap_or(now).min(now)).await?,
            None => Vec::new(),
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        let tenant = tenant.to_string();
        tokio::spawn(async move {
            let mut last_seq = 0;
            for row in replay {
                let event = Event::from_row(row);
                last_seq = event.seq;
                if event.matches(&filters) && sender.send(event).await.is_err() {
                    return;
                }
            }
            if until.is_some_and(|u| u <= now) {
                return;
            }
            let deadline = async {
                match until {
                    Some(u) => tokio::time::sleep(std::time::Duration::from_nanos((u - now).max(0) as u64)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => return,
                    _ = sender.closed() => return,
                    received = live.recv() => match received {
                        Ok(event) => {
                            if event.tenant != tenant || (event.seq != 0 && event.seq <= last_seq) || !event.matches(&filters) {
                                continue;
                            }
                            if sender.send(event).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "an events subscriber fell behind");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) -> Event {
        let attributes = attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Event::new(1, "t", 0, kind, action, id, attributes)
    }

    #[test]
    fn filters_select_events_like_docker() {
        let die = event("container", "die", "abc123", &[("name", "web"), ("image", "busybox"), ("exitCode", "0")]);
        let f = |json: &str| Filters::parse(Some(json)).unwrap();
        assert!(die.matches(&f(r#"{"type":["container"]}"#)));
        assert!(!die.matches(&f(r#"{"type":["image"]}"#)));
        assert!(die.matches(&f(r#"{"container":{"web":true}}"#)));
        assert!(die.matches(&f(r#"{"container":["abc"]}"#)));
        assert!(die.matches(&f(r#"{"event":["die","start"]}"#)));
        assert!(die.matches(&f(r#"{"image":["busybox"]}"#)));
        assert!(!die.matches(&f(r#"{"event":["start"]}"#)));
        let tag = event("image", "tag", "sha256:1", &[("name", "busybox:latest")]);
        assert!(tag.matches(&f(r#"{"image":["busybox"]}"#)));
        assert!(tag.matches(&f(r#"{"image":["busybox:latest"]}"#)));
        assert!(!tag.matches(&f(r#"{"image":["busy"]}"#)));
        let exec = event("container", "exec_create: ls -l", "abc123", &[]);
        assert!(exec.matches(&f(r#"{"event":["exec_create"]}"#)));
        let json = serde_json::to_value(&die).unwrap();
        assert_eq!(json["status"], "die");
        assert_eq!(json["from"], "busybox");
        assert_eq!(json["Actor"]["Attributes"]["exitCode"], "0");
    }
}
