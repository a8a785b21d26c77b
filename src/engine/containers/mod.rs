//! Containers: the definition (Config, HostConfig), the state machine, and the bookkeeping the
//! daemon keeps in memory for running containers (who waits, who is about to attach).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use super::{Engine, Error, Result};
use crate::store::containers::ContainerRow;

pub mod archive;
pub mod commit;
pub mod config;
mod create;
pub mod diff;
pub mod exec;
pub mod health;
mod lifecycle;
pub mod logs;
pub mod lsm;
mod names;
mod pause;
mod query;
mod restart;
pub mod security;
pub(crate) mod spec;
pub mod stats;
pub mod top;
pub mod update;
mod volumes_from;

pub use config::{Config, CreateRequest, HostConfig};
pub use lifecycle::WaitCondition;
pub use names::validate_name as validate_object_name;
pub use query::ListOptions;

/// A container with its parsed definition.
#[derive(Debug, Clone)]
pub struct Container {
    /// The stored row (identity, image, state).
    pub row: ContainerRow,
    /// What runs.
    pub config: Config,
    /// How the host runs it.
    pub host_config: HostConfig,
}

impl Container {
    /// Parses a stored row.
    pub fn from_row(row: ContainerRow) -> Result<Container> {
        let config = serde_json::from_str(&row.config)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored config of {} is invalid: {e}", row.id)))?;
        let host_config = serde_json::from_str(&row.host_config)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored host config of {} is invalid: {e}", row.id)))?;
        Ok(Container { row, config, host_config })
    }

    /// The 12-hex short id.
    pub fn short_id(&self) -> &str {
        &self.row.id[..12.min(self.row.id.len())]
    }

    /// Whether a process may be alive (running or paused).
    pub fn is_running(&self) -> bool {
        matches!(self.row.state.status.as_str(), "running" | "paused" | "restarting")
    }

    /// The health check's state, when the container has one.
    pub fn health(&self) -> Option<health::Health> {
        self.row.health.as_deref().and_then(|h| serde_json::from_str(h).ok())
    }

    /// The path and arguments of the command, as inspect shows them.
    pub fn command(&self) -> Vec<String> {
        let mut argv = self.config.entrypoint.clone().unwrap_or_default();
        argv.extend(self.config.cmd.clone().unwrap_or_default());
        argv
    }
}

/// What waiters watch: exits and removal, counted so that nothing is missed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// How many times the container has exited since the daemon started.
    pub exits: u64,
    /// The last exit code.
    pub exit_code: i64,
    /// The container is gone.
    pub removed: bool,
}

/// A request to attach, waiting for the container to start.
pub(crate) struct PendingAttach {
    /// stdin, stdout, stderr.
    pub streams: (bool, bool, bool),
    /// Receives the shim connection once the container is prepared, before it executes.
    pub deliver: oneshot::Sender<tokio::net::UnixStream>,
}

/// In-memory state of one container.
pub(crate) struct Live {
    /// Serializes start, remove and other changes of one container.
    pub op: tokio::sync::Mutex<()>,
    /// Exit and removal notifications.
    pub lifecycle: watch::Sender<Lifecycle>,
    /// Attach requests made before start.
    pub pending_attach: Mutex<Vec<PendingAttach>>,
    /// The last restart delay, for the back-off.
    pub restart_delay: Mutex<Option<std::time::Duration>>,
}

/// The containers' in-memory bookkeeping.
#[derive(Default)]
pub(crate) struct LiveTable {
    entries: Mutex<HashMap<String, Arc<Live>>>,
}

impl LiveTable {
    /// The entry of a container, made on first use.
    pub fn get(&self, id: &str) -> Arc<Live> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(Live {
                    op: tokio::sync::Mutex::new(()),
                    lifecycle: watch::channel(Lifecycle::default()).0,
                    pending_attach: Mutex::new(Vec::new()),
                    restart_delay: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Forgets a removed container (waiters keep their receiver).
    pub fn forget(&self, id: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

impl Engine {
    /// Emits a container event with what dockerd puts on every one (the container's labels,
    /// its image and name) plus `extra`.
    pub(crate) async fn emit_container(&self, c: &Container, action: &str, extra: &[(&str, &str)]) {
        let mut attributes: Vec<(&str, &str)> = c.config.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        attributes.push(("image", &c.config.image));
        attributes.push(("name", &c.row.name));
        attributes.extend_from_slice(extra);
        self.events.emit(&c.row.tenant_id, "container", action, &c.row.id, &attributes).await;
    }

    /// Finds a container by full id, name (with or without `/`), or unique id prefix.
    pub async fn resolve_container(&self, tenant: &str, name: &str) -> Result<Container> {
        let missing = || Error::NotFound(format!("No such container: {name}"));
        if name.is_empty() {
            return Err(missing());
        }
        if let Some(row) = self.store.container(tenant, name).await? {
            return Container::from_row(row);
        }
        if let Some(row) = self.store.container_by_name(tenant, name.strip_prefix('/').unwrap_or(name)).await? {
            return Container::from_row(row);
        }
        if name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let ids = self.store.container_ids_with_prefix(tenant, &name.to_ascii_lowercase()).await?;
            match ids.as_slice() {
                [id] => {
                    if let Some(row) = self.store.container(tenant, id).await? {
                        return Container::from_row(row);
                    }
                }
                [] => {}
                _ => {
                    return Err(Error::InvalidArgument(format!("multiple IDs found with provided prefix: {name}")));
                }
            }
        }
        Err(missing())
    }

    /// `<data-root>/containers/<id>`.
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }
}
