//! The engine: what each request means. It owns the store, the image store and the event bus,
//! and knows nothing of HTTP and makes no syscalls of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::images::layer_store::LayerStore;
use crate::runtime::cgroups::Layout;
use crate::runtime::host::HostInfo;
use crate::store::Store;

pub mod containers;
pub mod error;
pub mod events;
pub mod filters;
pub mod images;
pub mod login;
pub mod networks;
pub mod pool;
pub mod progress;
pub mod pull;
pub mod push;
pub mod ratelimit;
pub mod repo_digests;
pub mod system;
pub mod tenants;
pub mod userns;
pub mod volumes;

pub use error::{Error, Result};

/// Tunables of the engine, from the command line.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Container operations running at once.
    pub workers: usize,
    /// Container operations allowed to wait for a worker.
    pub queue_depth: usize,
    /// The default bridge's name and subnet.
    pub network: networks::NetworkOptions,
    /// Requests per second a tenant may make unless its quotas say otherwise (0: unlimited).
    pub tenant_rate_limit: u32,
    /// Tenants' containers may see the image layers through idmapped mounts when the kernel
    /// can (false: always shifted copies).
    pub userns_idmap: bool,
    /// Insecure registries and Docker Hub mirrors.
    pub registry: crate::images::registry::RegistryOptions,
}

/// The daemon's state, shared by every request.
pub struct Engine {
    store: Store,
    layers: Arc<LayerStore>,
    events: events::EventBus,
    host: HostInfo,
    /// seccomp support, the host's LSMs and the compiled seccomp filters.
    confinement: containers::security::Confinement,
    data_root: PathBuf,
    daemon_id: String,
    /// The host's cgroup hierarchies; None where there are none (containers cannot start).
    cgroups: Option<Layout>,
    /// This binary, re-executed as the shim and init.
    kapsel_exe: PathBuf,
    /// The host's bounding set: what a privileged container gets.
    host_capabilities: Vec<String>,
    /// Execs, in memory as dockerd keeps them.
    execs: containers::exec::ExecTable,
    /// Per-tenant request rates.
    pub rate_limiter: ratelimit::RateLimiter,
    /// The request rate a tenant gets when its quotas name none (0: unlimited).
    pub default_tenant_rate: u32,
    /// Bounds concurrent container operations.
    pool: pool::WorkerPool,
    /// In-memory bookkeeping of containers (waiters, pending attaches, op locks).
    live: containers::LiveTable,
    /// Serializes changes to the image store, so that a layer being removed is never one that a
    /// concurrent import is adopting.
    image_lock: tokio::sync::Mutex<()>,
    /// Volumes: the lock over their changes and which running containers mount each.
    volumes: volumes::VolumeState,
    /// Networks: the netlink connection, proxies, DNS servers and locks.
    networks: networks::NetworkState,
    /// Tenants' user namespaces: how layers are presented, the shifted copies' lock.
    userns: userns::UsernsState,
    /// Insecure registries and Docker Hub mirrors, for pull, push and login.
    registry: crate::images::registry::RegistryOptions,
}

impl Engine {
    /// Opens the data root and the database, and removes what a crash may have left half-made.
    pub async fn open(data_root: &Path, database_url: &str, options: EngineOptions) -> anyhow::Result<Engine> {
        std::fs::create_dir_all(data_root)?;
        let store = Store::open(database_url).await?;
        let layers = Arc::new(LayerStore::open(data_root)?);
        let daemon_id = store.setting("engine_id").await?.unwrap_or_default();
        let cgroups = match Layout::detect() {
            Ok(layout) => Some(layout),
            Err(e) => {
                tracing::warn!(error = %e, "no usable cgroups: containers cannot start");
                None
            }
        };
        let host = HostInfo::probe();
        let engine = Engine {
            daemon_id,
            cgroups,
            kapsel_exe: std::env::current_exe()?,
            host_capabilities: crate::runtime::host::bounding_capabilities(),
            live: containers::LiveTable::default(),
            execs: containers::exec::ExecTable::default(),
            pool: pool::WorkerPool::new(options.workers, options.queue_depth),
            rate_limiter: ratelimit::RateLimiter::default(),
            default_tenant_rate: options.tenant_rate_limit,
            events: events::EventBus::new(store.clone()),
            store,
            layers,
            confinement: containers::security::Confinement::start(&host),
            host,
            data_root: data_root.to_path_buf(),
            image_lock: tokio::sync::Mutex::new(()),
            volumes: volumes::VolumeState::default(),
            networks: networks::NetworkState::new(options.network.clone()),
            userns: userns::UsernsState::new(options.userns_idmap),
            registry: options.registry.clone(),
        };
        engine.remove_unknown_layers().await?;
        engine.sweep_shifted_layers().await?;
        engine.ensure_admin_token().await?;
        Ok(engine)
    }

    /// Closes the database cleanly and removes the shared cgroup parents when no container
    /// is left in them; with no container running, the networks' bridges and rules go too.
    pub async fn close(&self) {
        self.stop_networks().await;
        if let Some(layout) = self.cgroups.clone() {
            let _ = tokio::task::spawn_blocking(move || crate::runtime::cgroups::remove_empty_parent(&layout)).await;
        }
        self.store.close().await;
    }

    /// Runs container work (create, start, stop, remove) on the bounded worker pool.
    pub async fn queued<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.pool.run(work).await
    }

    /// Where uploads are spooled before they are read: the layer store's staging area, emptied
    /// at every start.
    pub fn staging_dir(&self) -> PathBuf {
        self.data_root.join("tmp")
    }
}
