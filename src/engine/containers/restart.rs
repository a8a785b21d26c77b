//! Restart policies: `no`, `always`, `unless-stopped`, `on-failure[:N]`, with dockerd's growing
//! back-off (100 ms, doubling, at most a minute, back to 100 ms after a run of 10 s or more), and
//! what a daemon start does with containers whose policy says they should be running.

use std::sync::Arc;
use std::time::Duration;

use super::Container;
use super::config::RestartPolicy;
use crate::engine::{Engine, Result};
use crate::store::containers::ContainerState;

/// The first delay before a restart.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay before a restart.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// Whether a container that just exited restarts by its policy.
pub fn should_restart(policy: &RestartPolicy, exit_code: i64, restart_count: i64, manually_stopped: bool) -> bool {
    match policy.name.as_str() {
        "always" | "unless-stopped" => !manually_stopped,
        "on-failure" => {
            !manually_stopped
                && exit_code != 0
                && (policy.maximum_retry_count == 0 || restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// The next delay, from the last one and how long the container ran.
pub fn next_delay(last: Option<Duration>, ran_for: Duration) -> Duration {
    match last {
        Some(last) if ran_for < STABLE_RUN => (last * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}

impl Engine {
    /// Marks an exited container as restarting and starts it again after the back-off; the
    /// restart is dropped if the user stops or removes it meanwhile.
    pub(super) async fn schedule_restart(self: &Arc<Self>, c: &Container, ran_for: Duration) -> Result<()> {
        let live = self.live.get(&c.row.id);
        let delay = {
            let mut last = live.restart_delay.lock().unwrap_or_else(|e| e.into_inner());
            let delay = next_delay(*last, ran_for);
            *last = Some(delay);
            delay
        };
        let Some(row) = self.store.container(&c.row.tenant_id, &c.row.id).await? else {
            return Ok(());
        };
        let state =
            ContainerState { status: "restarting".into(), restart_count: row.state.restart_count + 1, ..row.state };
        self.store.set_container_state(&c.row.id, &state).await?;
        let engine = self.clone();
        let (tenant, id) = (c.row.tenant_id.clone(), c.row.id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            match engine.store.container(&tenant, &id).await {
                Ok(Some(row)) if row.state.status == "restarting" => {}
                _ => return,
            }
            if let Err(e) = engine.start_by_policy(&tenant, &id).await {
                tracing::warn!(container = %id, error = %e, "restarting by policy failed");
            }
        });
        Ok(())
    }

    /// At daemon start: containers whose policy says they run (`always`; `unless-stopped` unless
    /// the user stopped it) and that do not, are started.
    pub(crate) async fn apply_restart_policies(self: &Arc<Self>) -> Result<()> {
        for row in self.store.all_containers().await? {
            let c = Container::from_row(row)?;
            let wanted = match c.host_config.restart_policy.name.as_str() {
                "always" => true,
                "unless-stopped" => !c.row.state.manually_stopped,
                _ => false,
            };
            if wanted
                && matches!(c.row.state.status.as_str(), "exited" | "created" | "restarting")
                && c.row.state.started_at.is_some()
            {
                tracing::info!(container = %c.row.id, "starting by restart policy");
                if let Err(e) = self.start_by_policy(&c.row.tenant_id, &c.row.id).await {
                    tracing::warn!(container = %c.row.id, error = %e, "starting by restart policy failed");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy { name: name.into(), maximum_retry_count: max }
    }

    #[test]
    fn policies_decide_like_dockerd() {
        assert!(!should_restart(&policy("no", 0), 1, 0, false));
        assert!(should_restart(&policy("always", 0), 0, 5, false));
        assert!(!should_restart(&policy("always", 0), 0, 5, true));
        assert!(should_restart(&policy("unless-stopped", 0), 0, 0, false));
        assert!(should_restart(&policy("on-failure", 3), 1, 2, false));
        assert!(!should_restart(&policy("on-failure", 3), 1, 3, false));
        assert!(!should_restart(&policy("on-failure", 3), 0, 0, false));
        assert!(should_restart(&policy("on-failure", 0), 2, 100, false));
    }

    #[test]
    fn back_off_doubles_and_resets() {
        let quick = Duration::from_millis(50);
        assert_eq!(next_delay(None, quick), FIRST_DELAY);
        assert_eq!(next_delay(Some(FIRST_DELAY), quick), Duration::from_millis(200));
        assert_eq!(next_delay(Some(Duration::from_secs(40)), quick), MAX_DELAY);
        assert_eq!(next_delay(Some(Duration::from_secs(8)), Duration::from_secs(11)), FIRST_DELAY);
    }
}
