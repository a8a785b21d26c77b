//! The container state machine: start, exit, stop, kill, restart, wait, remove, rename, and the
//! recovery of running containers after a daemon restart. Each running container has a
//! monitor task that waits on its shim and records the exit.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::spec::{self, NetworkChoice, SpecInputs};
use super::{Container, PendingAttach};
use crate::engine::{Engine, Error, Result};
use crate::runtime::bundle;
use crate::runtime::cgroups::Cgroup;
use crate::runtime::shim::client as shim;
use crate::runtime::shim::protocol::{ExitRecord, Reply, Request};
use crate::store::containers::ContainerState;

/// Docker's `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Return once the container is not running (at once if it is not).
    NotRunning,
    /// Return at the next exit.
    NextExit,
    /// Return once the container is removed.
    Removed,
}

impl FromStr for WaitCondition {
    type Err = Error;

    fn from_str(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::InvalidArgument(format!("invalid condition: {other:?}"))),
        }
    }
}

/// The outcome of a wait: the exit code, resolved later.
pub type WaitFuture = Pin<Box<dyn Future<Output = i64> + Send>>;

/// Where an attach stream comes from: the shim now, or once the container starts.
pub type AttachFuture = Pin<Box<dyn Future<Output = Option<tokio::net::UnixStream>> + Send>>;

/// Reads a signal given by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| Error::InvalidArgument(format!("Invalid signal: {text}")));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    Signal::from_str(&name).map_err(|_| Error::InvalidArgument(format!("Invalid signal: {text}")))
}

impl Engine {
    /// `docker start`: prepares the container through a new shim, hands the container's streams
    /// to the clients already attached, then lets it execute.
    pub async fn start_container(self: &Arc<Self>, tenant: &str, name: &str) -> Result<()> {
        self.start(tenant, name, false).await
    }

    /// Starts a container its restart policy brings back (it may be in `restarting`).
    pub(super) async fn start_by_policy(self: &Arc<Self>, tenant: &str, id: &str) -> Result<()> {
        self.start(tenant, id, true).await
    }

    async fn start(self: &Arc<Self>, tenant: &str, name: &str, by_policy: bool) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let c = self.resolve_container(tenant, &c.row.id).await?;
        let restarting = c.row.state.status == "restarting";
        if c.is_running() && !(by_policy && restarting) {
            return Err(Error::NotModified);
        }
        if !by_policy {
            *live.restart_delay.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.check_start_quota(tenant).await?;
        let bundle_dir = self.bundle_dir(&c.row.id);
        let cgroup = self.create_cgroup(&c).await?;
        match self.launch(&c, &bundle_dir, &cgroup).await {
            Ok(pid) => {
                let state = ContainerState {
                    status: "running".into(),
                    pid: pid as i64,
                    exit_code: 0,
                    oom_killed: false,
                    error: String::new(),
                    started_at: Some(crate::runtime::now_rfc3339_nanos()),
                    finished_at: c.row.state.finished_at.clone(),
                    // A user's start resets the count, as dockerd's does.
                    restart_count: if by_policy { c.row.state.restart_count } else { 0 },
                    manually_stopped: false,
                };
                self.store.set_container_state(&c.row.id, &state).await?;
                self.emit_container(&c, "start", &[]).await;
                self.spawn_monitor(tenant.to_string(), c.row.id.clone());
                self.start_health_checks(&c, state.started_at.clone().unwrap_or_default()).await;
                Ok(())
            }
            Err(message) => {
                remove_cgroup(cgroup).await;
                self.release_volumes(&c).await;
                self.release_endpoints(&c).await;
                let code = start_failure_exit_code(&message);
                let status = if c.row.state.started_at.is_some() || restarting { "exited" } else { "created" };
                let state = ContainerState {
                    status: status.into(),
                    exit_code: code,
                    error: message.clone(),
                    pid: 0,
                    ..c.row.state.clone()
                };
                self.store.set_container_state(&c.row.id, &state).await?;
                live.pending_attach.lock().unwrap_or_else(|e| e.into_inner()).clear();
                live.lifecycle.send_modify(|l| {
                    l.exits += 1;
                    l.exit_code = code;
                });
                if c.host_config.auto_remove {
                    self.delete_container(&c, true).await?;
                }
                // dockerd answers 400 for a command that cannot be executed, 500 otherwise
                // (404 for a network that does not exist).
                if code == 127 || code == 126 {
                    Err(Error::InvalidArgument(message))
                } else if message.starts_with("failed to set up container networking: network ") {
                    Err(Error::NotFound(message))
                } else {
                    Err(Error::Internal(anyhow::anyhow!(message)))
                }
            }
        }
    }

    /// Makes the container's cgroup with its limits.
    async fn create_cgroup(&self, c: &Container) -> Result<Cgroup> {
        let layout = self
            .cgroups
            .clone()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("cgroups are not available on this host")))?;
        let resources = spec::resources(c);
        let relative = crate::runtime::cgroups::container_cgroup_path(&c.row.id);
        tokio::task::spawn_blocking(move || Cgroup::create(&layout, &relative, &resources))
            .await?
            .map_err(|e| Error::Internal(anyhow::anyhow!("setting up the container's cgroup: {e}")))
    }

    /// Writes the bundle, starts the shim, delivers pending attach streams, and starts the
    /// process; the container's pid, or Docker-worded failure text.
    async fn launch(
        &self,
        c: &Container,
        bundle_dir: &std::path::Path,
        cgroup: &Cgroup,
    ) -> std::result::Result<i32, String> {
        let image = self.store.image(&c.row.tenant_id, &c.row.image_id).await.map_err(|e| e.to_string())?;
        let image = image.ok_or_else(|| format!("the image {} of this container is gone", c.row.image_id))?;
        let mut layers = Vec::new();
        for layer in &image.layers {
            layers.push((layer.diff_id.clone(), self.layers.layer_dir(&layer.diff_id).map_err(|e| e.to_string())?));
        }
        // A tenant's container: its own user namespace, and the layers as it sees them.
        let userns = self.userns_rootfs(&c.row.tenant_id, &layers).await.map_err(|e| e.to_string())?;
        let layers = match &userns {
            Some(userns) => userns.layers.clone(),
            None => layers.into_iter().map(|(_, dir)| dir).collect(),
        };
        let joined_network = match spec::network_mode(&c.host_config.network_mode) {
            NetworkChoice::Container(other) => {
                let other = self.resolve_container(&c.row.tenant_id, other).await.map_err(|e| e.to_string())?;
                if !other.is_running() {
                    return Err(format!("cannot join network of a non running container: {}", other.row.id));
                }
                Some(std::path::PathBuf::from(format!("/proc/{}/ns/net", other.row.state.pid)))
            }
            _ => None,
        };
        let inputs = SpecInputs {
            bundle: bundle_dir,
            layers,
            host_capabilities: &self.host_capabilities,
            joined_network,
            cgroup_dirs: cgroup.procs_dirs(),
            oom_file: cgroup.oom_events_file(),
            volumes: self.mount_volumes(c).await.map_err(|e| e.to_string())?,
            user_namespace: userns.as_ref().map(|u| u.mapping),
            idmapped: userns.as_ref().is_some_and(|u| u.idmapped),
            confinement: &self.confinement,
        };
        let container_spec = spec::container_spec(c, &inputs).map_err(|e| e.to_string())?;
        let shim_options = spec::shim_options(c, &inputs).map_err(|e| e.to_string())?;
        // [networks] Addresses are reserved before the bundle is written (/etc/hosts names
        // them); a failed start releases them with the rest (`release_endpoints`).
        let endpoints = self.reserve_endpoints(c).await.map_err(|e| e.to_string())?;
        let mut etc = spec::etc_files(c, bundle::host_resolv_conf());
        self.network_etc_files(c, &endpoints, &mut etc);
        bundle::write_start_files(bundle_dir, &container_spec, &shim_options, &etc)
            .map_err(|e| format!("writing the bundle: {e}"))?;
        if let Some(userns) = &userns {
            let (dir, mapping, idmapped) = (bundle_dir.to_path_buf(), userns.mapping, userns.idmapped);
            tokio::task::spawn_blocking(move || crate::runtime::userns::bundle::prepare(&dir, &mapping, idmapped))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("preparing the bundle for the user namespace: {e}"))?;
        }
        let pid = shim::launch(&self.kapsel_exe, bundle_dir).await?;
        // [networks] The process waits in its new network namespace: wire it before it runs.
        if let Err(e) = self.wire_endpoints(c, pid, &endpoints).await {
            let _ = shim::call(bundle_dir, &Request::Kill { signal: libc::SIGKILL }).await;
            let _ = shim::wait(bundle_dir).await;
            return Err(e.to_string());
        }
        let pending: Vec<PendingAttach> =
            std::mem::take(&mut *self.live.get(&c.row.id).pending_attach.lock().unwrap_or_else(|e| e.into_inner()));
        for attach in pending {
            let (stdin, stdout, stderr) = attach.streams;
            if let Ok(stream) = shim::attach(bundle_dir, stdin, stdout, stderr).await {
                let _ = attach.deliver.send(stream);
            }
        }
        match shim::call(bundle_dir, &Request::Start).await {
            Ok(Reply::Ok) => Ok(pid),
            Ok(Reply::Error { message }) => {
                // The shim records the failed process's exit and leaves; let it finish.
                let _ = shim::wait(bundle_dir).await;
                Err(message)
            }
            Ok(other) => Err(format!("unexpected answer from the shim: {other:?}")),
            Err(e) => Err(format!("talking to the shim: {e}")),
        }
    }

    /// Starts the task that waits for a running container's exit.
    fn spawn_monitor(self: &Arc<Self>, tenant: String, id: String) {
        let engine = self.clone();
        tokio::spawn(async move {
            let bundle_dir = engine.bundle_dir(&id);
            let record = match shim::wait(&bundle_dir).await {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "lost the container's shim; recording exit 255");
                    ExitRecord {
                        exit_code: 255,
                        finished_at: crate::runtime::now_rfc3339_nanos(),
                        ..Default::default()
                    }
                }
            };
            if let Err(e) = engine.handle_exit(&tenant, &id, record).await {
                tracing::error!(container = %id, error = %e, "recording the container's exit failed");
            }
        });
    }

    /// Records an exit: state, cgroup, events, waiters, and `--rm`. Under the container's op
    /// lock, so that a start cannot slip in between the state saying `exited` and the clean-up
    /// (which would kill the new process with the old cgroup).
    async fn handle_exit(self: &Arc<Self>, tenant: &str, id: &str, record: ExitRecord) -> Result<()> {
        let live = self.live.get(id);
        let _op = live.op.lock().await;
        let Some(row) = self.store.container(tenant, id).await? else {
            return Ok(());
        };
        let c = Container::from_row(row)?;
        let state = ContainerState {
            status: "exited".into(),
            pid: 0,
            exit_code: record.exit_code as i64,
            oom_killed: record.oom_killed,
            error: String::new(),
            started_at: c.row.state.started_at.clone(),
            finished_at: Some(record.finished_at.clone()),
            restart_count: c.row.state.restart_count,
            manually_stopped: c.row.state.manually_stopped,
        };
        // [networks] Released while the state still says running, so that a start racing
        // with this exit cannot have its new endpoints released.
        self.release_endpoints(&c).await;
        self.store.set_container_state(id, &state).await?;
        self.release_volumes(&c).await;
        if let Some(layout) = self.cgroups.clone() {
            remove_cgroup(Cgroup::open(&layout, &crate::runtime::cgroups::container_cgroup_path(id))).await;
        }
        if record.oom_killed {
            self.emit_container(&c, "oom", &[]).await;
        }
        let code = record.exit_code.to_string();
        self.emit_container(&c, "die", &[("exitCode", &code)]).await;
        live.lifecycle.send_modify(|l| {
            l.exits += 1;
            l.exit_code = record.exit_code as i64;
        });
        if c.host_config.auto_remove {
            self.delete_container(&c, true).await?;
        } else if super::restart::should_restart(
            &c.host_config.restart_policy,
            record.exit_code as i64,
            c.row.state.restart_count,
            c.row.state.manually_stopped,
        ) {
            self.schedule_restart(&c, ran_for(&state)).await?;
        }
        Ok(())
    }

    /// `docker kill`: sends a signal (SIGKILL by default).
    pub async fn kill_container(&self, tenant: &str, name: &str, signal: Option<&str>) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {name}: container {} is not running",
                c.row.id
            )));
        }
        let signal = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => Signal::SIGKILL,
        };
        self.signal(&c, signal).await?;
        let number = (signal as i32).to_string();
        self.emit_container(&c, "kill", &[("signal", &number)]).await;
        Ok(())
    }

    async fn signal(&self, c: &Container, signal: Signal) -> Result<()> {
        let sent = match shim::call(&self.bundle_dir(&c.row.id), &Request::Kill { signal: signal as i32 }).await {
            Ok(Reply::Ok) => Ok(()),
            Ok(Reply::Error { message }) => Err(Error::Conflict(message)),
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Conflict(format!("container {} is not running: {e}", c.row.id))),
        };
        if sent.is_ok() {
            // A paused container receives the signal once thawed, as with dockerd.
            self.resume_after_signal(c, signal).await;
        }
        sent
    }

    /// `docker stop`: the stop signal, then SIGKILL after the timeout; NotModified if it was
    /// not running.
    pub async fn stop_container(
        &self,
        tenant: &str,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        if !c.is_running() {
            return Err(Error::NotModified);
        }
        let signal =
            match signal.filter(|s| !s.is_empty()).or(c.config.stop_signal.as_deref().filter(|s| !s.is_empty())) {
                Some(s) => parse_signal(s)?,
                None => Signal::SIGTERM,
            };
        let timeout = timeout.or(c.config.stop_timeout).unwrap_or(10);
        self.stop(&c, signal, timeout).await?;
        self.emit_container(&c, "stop", &[]).await;
        Ok(())
    }

    /// Sends `signal`, waits `timeout` seconds (-1: for ever) for the exit, then SIGKILL. The
    /// container is marked as stopped by the user first, so its restart policy leaves it down;
    /// one waiting to restart is just marked exited. The mark and the exit count to wait past
    /// are taken under the op lock, which exits are recorded under: neither can be lost.
    async fn stop(&self, c: &Container, signal: Signal, timeout: i64) -> Result<()> {
        let live = self.live.get(&c.row.id);
        let mut lifecycle = live.lifecycle.subscribe();
        let before = {
            let _op = live.op.lock().await;
            let Some(row) = self.store.container(&c.row.tenant_id, &c.row.id).await? else {
                return Ok(());
            };
            let status = row.state.status.clone();
            let state = ContainerState {
                manually_stopped: true,
                status: if status == "restarting" { "exited".into() } else { status.clone() },
                ..row.state
            };
            self.store.set_container_state(&c.row.id, &state).await?;
            if !matches!(status.as_str(), "running" | "paused") {
                return Ok(());
            }
            lifecycle.borrow().exits
        };
        let exited = |l: &super::Lifecycle| l.exits > before || l.removed;
        let _ = self.signal(c, signal).await;
        if timeout >= 0 {
            let wait = lifecycle.wait_for(exited);
            if tokio::time::timeout(Duration::from_secs(timeout as u64), wait).await.is_ok() {
                return Ok(());
            }
            let _ = self.signal(c, Signal::SIGKILL).await;
        }
        let _ = lifecycle.wait_for(exited).await;
        Ok(())
    }

    /// `docker restart`: stop (if running), then start.
    pub async fn restart_container(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        match self.stop_container(tenant, name, timeout, signal).await {
            Ok(()) | Err(Error::NotModified) => {}
            Err(e) => return Err(e),
        }
        let c = self.resolve_container(tenant, name).await?;
        // Started meanwhile (a restart policy, another request): restarted all the same.
        match self.start_container(tenant, &c.row.id).await {
            Ok(()) | Err(Error::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.emit_container(&c, "restart", &[]).await;
        Ok(())
    }

    /// `docker wait`: resolves the container now (so an unknown one is a 404 before any body),
    /// and returns a future of its exit code under the condition.
    pub async fn wait_container(&self, tenant: &str, name: &str, condition: WaitCondition) -> Result<WaitFuture> {
        let c = self.resolve_container(tenant, name).await?;
        let live = self.live.get(&c.row.id);
        let mut lifecycle = live.lifecycle.subscribe();
        let before = lifecycle.borrow().clone();
        // Read the state after subscribing, so that an exit in between is not missed.
        let c = self.resolve_container(tenant, &c.row.id).await?;
        if condition == WaitCondition::NotRunning && !c.is_running() {
            let code = c.row.state.exit_code;
            return Ok(Box::pin(async move { code }));
        }
        Ok(Box::pin(async move {
            let _keep = live;
            let done = |l: &super::Lifecycle| match condition {
                WaitCondition::Removed => l.removed,
                _ => l.exits > before.exits || l.removed,
            };
            match lifecycle.wait_for(done).await {
                Ok(l) => l.exit_code,
                Err(_) => before.exit_code,
            }
        }))
    }

    /// `docker attach`: the container's shim connection, now if it runs, else once it starts.
    pub async fn attach_container(
        &self,
        tenant: &str,
        name: &str,
        streams: (bool, bool, bool),
    ) -> Result<(Container, AttachFuture)> {
        let c = self.resolve_container(tenant, name).await?;
        self.emit_container(&c, "attach", &[]).await;
        let (stdin, stdout, stderr) = streams;
        let stdin = stdin && c.config.open_stdin;
        if c.is_running() {
            let stream = shim::attach(&self.bundle_dir(&c.row.id), stdin, stdout, stderr).await.ok();
            return Ok((c, Box::pin(async move { stream })));
        }
        let (deliver, receive) = tokio::sync::oneshot::channel();
        let live = self.live.get(&c.row.id);
        live.pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingAttach { streams: (stdin, stdout, stderr), deliver });
        Ok((c, Box::pin(async move { receive.await.ok() })))
    }

    /// `docker resize`.
    pub async fn resize_container(&self, tenant: &str, name: &str, height: u16, width: u16) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        if !c.is_running() {
            return Err(Error::Conflict(format!("Container {} is not running", c.row.id)));
        }
        match shim::call(&self.bundle_dir(&c.row.id), &Request::Resize { height, width }).await {
            Ok(Reply::Error { message }) => Err(Error::InvalidArgument(message)),
            _ => Ok(()),
        }
    }

    /// `docker rm`: refuses a running container unless forced (then kills it first);
    /// `remove_volumes` (`-v`) removes its anonymous volumes too.
    pub async fn remove_container(&self, tenant: &str, name: &str, force: bool, remove_volumes: bool) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        if c.is_running() {
            if !force {
                return Err(running_conflict(&c));
            }
            self.stop(&c, Signal::SIGKILL, 30).await?;
        }
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        // An AutoRemove container may have gone away meanwhile.
        let Some(row) = self.store.container(tenant, &c.row.id).await? else {
            return Ok(());
        };
        let current = Container::from_row(row)?;
        if current.is_running() && !force {
            // Started again meanwhile (a restart racing with this remove).
            return Err(running_conflict(&current));
        }
        self.delete_container(&current, remove_volumes).await
    }

    /// Deletes a stopped container: cgroup, bundle, volume references (and its anonymous
    /// volumes when `remove_volumes`), row; tells the waiters. The caller holds the
    /// container's op lock.
    async fn delete_container(&self, c: &Container, remove_volumes: bool) -> Result<()> {
        let id = c.row.id.clone();
        if let Some(layout) = self.cgroups.clone() {
            remove_cgroup(Cgroup::open(&layout, &crate::runtime::cgroups::container_cgroup_path(&id))).await;
        }
        let bundle_dir = self.bundle_dir(&id);
        tokio::task::spawn_blocking(move || bundle::remove(&bundle_dir)).await??;
        self.detach_volumes(c, remove_volumes).await?;
        // [networks] Nothing should be left running; its attachments go with the row.
        self.release_endpoints(c).await;
        self.store.delete_container(&id).await?;
        self.confinement.mcs.release(&id);
        self.emit_container(c, "destroy", &[]).await;
        let live = self.live.get(&id);
        live.pending_attach.lock().unwrap_or_else(|e| e.into_inner()).clear();
        live.lifecycle.send_modify(|l| l.removed = true);
        self.live.forget(&id);
        self.execs.forget_container(&id);
        Ok(())
    }

    /// `docker container prune`: removes stopped containers passing the filters (label, until).
    pub async fn prune_containers(
        &self,
        tenant: &str,
        filters: &crate::engine::filters::Filters,
    ) -> Result<Vec<String>> {
        filters.validate(&["label", "label!", "until"]).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let until = match filters.values("until").first() {
            Some(u) => Some(
                super::logs::parse_log_time(u)
                    .ok_or_else(|| Error::InvalidArgument(format!("invalid filter 'until={u}'")))?,
            ),
            None => None,
        };
        let mut deleted = Vec::new();
        for row in self.store.containers(tenant).await? {
            let c = Container::from_row(row)?;
            if c.is_running() || !filters.match_labels(&c.config.labels) {
                continue;
            }
            if filters.contains("label!") && filters.match_labels_key("label!", &c.config.labels) {
                continue;
            }
            let created =
                time::OffsetDateTime::parse(&c.row.created_at, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp_nanos())
                    .unwrap_or(0);
            if until.is_some_and(|u| created >= u) {
                continue;
            }
            let live = self.live.get(&c.row.id);
            let _op = live.op.lock().await;
            // Again under the lock: it may have been started or removed meanwhile.
            let Some(row) = self.store.container(tenant, &c.row.id).await? else { continue };
            let c = Container::from_row(row)?;
            if c.is_running() {
                continue;
            }
            self.delete_container(&c, false).await?;
            deleted.push(c.row.id);
        }
        Ok(deleted)
    }

    /// `docker rename`.
    pub async fn rename_container(&self, tenant: &str, name: &str, new_name: &str) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        let new_name = super::names::validate_name(new_name).map_err(Error::InvalidArgument)?.to_string();
        match self.store.rename_container(&c.row.id, &new_name).await {
            Ok(()) => {}
            Err(crate::store::UniqueError::Taken) => {
                return Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use. You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            Err(crate::store::UniqueError::Database(e)) => return Err(e.into()),
        }
        // [networks] The container answers to its new name on its user networks.
        self.refresh_container_names(&c.row.id).await;
        self.events
            .emit(
                tenant,
                "container",
                "rename",
                &c.row.id,
                &[("name", &new_name), ("oldName", &format!("/{}", c.row.name))],
            )
            .await;
        Ok(())
    }

    /// After a daemon restart: finds running containers again through their shims, and
    /// records the real exits of those that ended meanwhile.
    pub async fn recover_containers(self: &Arc<Self>) -> Result<()> {
        for row in self.store.live_containers().await? {
            let bundle_dir = self.bundle_dir(&row.id);
            let alive = shim::connect_socket(&bundle_dir).await.is_ok();
            if alive {
                tracing::info!(container = %row.id, "found a running container again");
                self.spawn_monitor(row.tenant_id.clone(), row.id.clone());
                continue;
            }
            let record = shim::read_exit_record(&bundle_dir).unwrap_or_else(|| ExitRecord {
                exit_code: 255,
                finished_at: crate::runtime::now_rfc3339_nanos(),
                ..Default::default()
            });
            tracing::info!(container = %row.id, exit_code = record.exit_code, "a container exited while the daemon was away");
            self.handle_exit(&row.tenant_id, &row.id, record).await?;
        }
        Ok(())
    }
}

/// dockerd's refusal to remove a running container without `force`.
fn running_conflict(c: &Container) -> Error {
    Error::Conflict(format!(
        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
        c.row.name
    ))
}

async fn remove_cgroup(cgroup: Cgroup) {
    let result = tokio::task::spawn_blocking(move || cgroup.remove()).await;
    if let Ok(Err(e)) = result {
        tracing::warn!(error = %e, "removing a container's cgroup failed");
    }
}

/// How long a container ran, from its recorded start and end.
fn ran_for(state: &ContainerState) -> std::time::Duration {
    let at = |t: &Option<String>| {
        t.as_deref().and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
    };
    match (at(&state.started_at), at(&state.finished_at)) {
        (Some(start), Some(end)) => (end - start).try_into().unwrap_or_default(),
        _ => std::time::Duration::ZERO,
    }
}

/// The exit code dockerd records for a start failure, from its text.
fn start_failure_exit_code(message: &str) -> i64 {
    if message.contains("executable file not found") || message.contains("no such file or directory") {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("1").unwrap(), Signal::SIGHUP);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn start_failures_map_to_cli_exit_codes() {
        assert_eq!(start_failure_exit_code("exec: \"x\": executable file not found in $PATH"), 127);
        assert_eq!(start_failure_exit_code("exec /etc: permission denied"), 126);
        assert_eq!(start_failure_exit_code("mount failed"), 128);
        assert_eq!("removed".parse::<WaitCondition>().unwrap(), WaitCondition::Removed);
        assert!("bogus".parse::<WaitCondition>().is_err());
    }
}
