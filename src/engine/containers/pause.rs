//! `docker pause` and `docker unpause`: the cgroup freezer (v1 freezer.state, v2
//! cgroup.freeze) stops and resumes every process of the container; the state is `paused` in
//! between. A signal meant to end a paused container thaws it, so that it is delivered.

use nix::sys::signal::Signal;

use super::Container;
use super::lifecycle::parse_signal;
use crate::engine::{Engine, Error, Result};
use crate::runtime::cgroups::{Cgroup, container_cgroup_path};
use crate::store::containers::ContainerState;

impl Engine {
    /// `docker pause`: freezes a running container.
    pub async fn pause_container(&self, tenant: &str, name: &str) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let c = self.resolve_container(tenant, &c.row.id).await?;
        match c.row.state.status.as_str() {
            "running" => {}
            "paused" => return Err(Error::Conflict(format!("container {} is already paused", c.row.id))),
            "restarting" => {
                return Err(Error::Conflict(format!(
                    "Container {} is restarting, wait until the container is running",
                    c.row.id
                )));
            }
            _ => return Err(Error::Conflict(format!("container {} is not running", c.row.id))),
        }
        let cgroup = self.container_cgroup(&c)?;
        tokio::task::spawn_blocking(move || cgroup.freeze())
            .await?
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot pause container {}: {e}", c.row.id)))?;
        self.set_status(&c, "paused").await?;
        self.emit_container(&c, "pause", &[]).await;
        Ok(())
    }

    /// `docker unpause`: thaws a paused container.
    pub async fn unpause_container(&self, tenant: &str, name: &str) -> Result<()> {
        let c = self.resolve_container(tenant, name).await?;
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        let c = self.resolve_container(tenant, &c.row.id).await?;
        if c.row.state.status != "paused" {
            return Err(Error::Conflict(format!("Container {} is not paused", c.row.id)));
        }
        let cgroup = self.container_cgroup(&c)?;
        tokio::task::spawn_blocking(move || cgroup.thaw())
            .await?
            .map_err(|e| Error::Internal(anyhow::anyhow!("Cannot unpause container {}: {e}", c.row.id)))?;
        self.set_status(&c, "running").await?;
        self.emit_container(&c, "unpause", &[]).await;
        Ok(())
    }

    /// After `signal` was sent to `c`: thaws the container if it is paused and the signal is
    /// meant to end it (SIGKILL, its stop signal, or any signal when it has none), as dockerd
    /// does, so that the signal is delivered. The state says `running` again (before the thaw,
    /// so that an exit right after it is recorded last) and `unpause` is emitted.
    pub(super) async fn resume_after_signal(&self, c: &Container, signal: Signal) {
        if !ends_paused_container(c.config.stop_signal.as_deref(), signal) || !self.is_paused(c).await {
            return;
        }
        let live = self.live.get(&c.row.id);
        let _op = live.op.lock().await;
        // Again under the lock: an unpause may have come first.
        let Ok(Some(row)) = self.store.container(&c.row.tenant_id, &c.row.id).await else {
            return;
        };
        let Ok(c) = Container::from_row(row) else {
            return;
        };
        if c.row.state.status != "paused" {
            return;
        }
        let Ok(cgroup) = self.container_cgroup(&c) else {
            return;
        };
        if let Err(e) = self.set_status(&c, "running").await {
            tracing::warn!(container = %c.row.id, error = %e, "recording the unpause failed");
        }
        match tokio::task::spawn_blocking(move || cgroup.thaw()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(container = %c.row.id, error = %e, "cannot unpause container"),
            Err(e) => tracing::warn!(container = %c.row.id, error = %e, "cannot unpause container"),
        }
        self.emit_container(&c, "unpause", &[]).await;
    }

    /// Whether the container is paused now, by its stored state.
    async fn is_paused(&self, c: &Container) -> bool {
        matches!(self.store.container(&c.row.tenant_id, &c.row.id).await, Ok(Some(row)) if row.state.status == "paused")
    }

    /// The cgroup of a running container.
    pub(super) fn container_cgroup(&self, c: &Container) -> Result<Cgroup> {
        let layout = self
            .cgroups
            .as_ref()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("cgroups are not available on this host")))?;
        Ok(Cgroup::open(layout, &container_cgroup_path(&c.row.id)))
    }

    /// Records a new status, keeping the rest of the state.
    async fn set_status(&self, c: &Container, status: &str) -> Result<()> {
        let state = ContainerState { status: status.into(), ..c.row.state.clone() };
        self.store.set_container_state(&c.row.id, &state).await?;
        Ok(())
    }
}

/// Whether dockerd would thaw a paused container after sending it `signal`: for SIGKILL, and
/// for its stop signal (any signal when none is configured).
fn ends_paused_container(stop_signal: Option<&str>, signal: Signal) -> bool {
    match stop_signal.filter(|s| !s.is_empty()) {
        Some(stop_signal) if signal != Signal::SIGKILL => parse_signal(stop_signal).is_ok_and(|s| s == signal),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_that_thaw_a_paused_container() {
        assert!(ends_paused_container(None, Signal::SIGTERM));
        assert!(ends_paused_container(Some(""), Signal::SIGHUP));
        assert!(ends_paused_container(Some("SIGQUIT"), Signal::SIGKILL));
        assert!(ends_paused_container(Some("QUIT"), Signal::SIGQUIT));
        assert!(!ends_paused_container(Some("SIGQUIT"), Signal::SIGTERM));
        assert!(!ends_paused_container(Some("bogus"), Signal::SIGTERM));
    }
}
