//! Health checks: the image's HEALTHCHECK or `--health-*` run as execs inside the container on
//! Docker's schedule; the result is `State.Health` (status, failing streak, the last five
//! probes), `health_status` events, and `(healthy)` in `docker ps`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::Container;
use super::exec::ExecConfig;
use crate::engine::Engine;
use crate::runtime::shim::protocol::parse_frame_header;

/// How much probe output is kept, as dockerd's limit.
const MAX_OUTPUT: usize = 4096;
/// How many probe results are kept.
const MAX_LOG: usize = 5;

/// A health check's schedule and command (Docker's HealthConfig, durations in nanoseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// The command, ready to exec.
    pub command: Vec<String>,
    /// Between probes (default 30 s).
    pub interval: Duration,
    /// A probe taking longer fails (default 30 s).
    pub timeout: Duration,
    /// Failures in this first stretch do not count (default 0).
    pub start_period: Duration,
    /// Between probes during the start period (default: the interval).
    pub start_interval: Duration,
    /// Consecutive failures that make it unhealthy (default 3).
    pub retries: u64,
}

impl HealthCheck {
    /// Reads Config.Healthcheck; None when there is none or it is `NONE`.
    pub fn from_config(value: Option<&Value>) -> Option<HealthCheck> {
        let value = value?;
        let test: Vec<String> = serde_json::from_value(value.get("Test")?.clone()).ok()?;
        let command = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => return None,
        };
        if command.is_empty() {
            return None;
        }
        let duration = |key: &str, default: Duration| {
            value
                .get(key)
                .and_then(Value::as_i64)
                .filter(|&n| n > 0)
                .map(|n| Duration::from_nanos(n as u64))
                .unwrap_or(default)
        };
        let interval = duration("Interval", Duration::from_secs(30));
        Some(HealthCheck {
            command,
            interval,
            timeout: duration("Timeout", Duration::from_secs(30)),
            start_period: duration("StartPeriod", Duration::ZERO),
            start_interval: duration("StartInterval", interval),
            retries: value.get("Retries").and_then(Value::as_u64).filter(|&n| n > 0).unwrap_or(3),
        })
    }
}

/// `State.Health` as inspect shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy, unhealthy.
    pub status: String,
    /// Consecutive failed probes.
    pub failing_streak: u64,
    /// The last probes.
    pub log: Vec<Probe>,
}

/// One probe's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// 0 healthy, else failed (-1 when it timed out).
    pub exit_code: i64,
    /// What it printed (at most 4 KiB).
    pub output: String,
}

impl Health {
    /// Folds a probe into the state; `counts` is false during the start period, where only a
    /// success matters.
    pub fn record(&mut self, probe: Probe, retries: u64, counts: bool) {
        if probe.exit_code == 0 {
            self.status = "healthy".into();
            self.failing_streak = 0;
        } else if counts {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(probe);
        if self.log.len() > MAX_LOG {
            self.log.remove(0);
        }
    }
}

impl Engine {
    /// Starts the probe loop of a container that just started, if it has a health check.
    pub(super) async fn start_health_checks(self: &Arc<Self>, c: &Container, started_at: String) {
        let Some(check) = HealthCheck::from_config(c.config.healthcheck.as_ref()) else {
            let _ = self.store.set_container_health(&c.row.id, None).await;
            return;
        };
        let health = Health { status: "starting".into(), ..Default::default() };
        let _ = self.store.set_container_health(&c.row.id, serde_json::to_string(&health).ok().as_deref()).await;
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move { engine.health_loop(c, check, started_at, health).await });
    }

    async fn health_loop(self: Arc<Self>, c: Container, check: HealthCheck, started_at: String, mut health: Health) {
        let began = tokio::time::Instant::now();
        loop {
            let in_start_period = began.elapsed() < check.start_period;
            let wait =
                if in_start_period && health.status == "starting" { check.start_interval } else { check.interval };
            tokio::time::sleep(wait).await;
            // Stop when this run of the container is over.
            match self.store.container(&c.row.tenant_id, &c.row.id).await {
                Ok(Some(row))
                    if row.state.status == "running" && row.state.started_at.as_deref() == Some(&started_at) => {}
                Ok(Some(row)) if row.state.status == "paused" => continue,
                _ => return,
            }
            let probe = self.probe(&c, &check).await;
            let before = health.status.clone();
            let counts = began.elapsed() >= check.start_period;
            health.record(probe, check.retries, counts);
            let _ = self.store.set_container_health(&c.row.id, serde_json::to_string(&health).ok().as_deref()).await;
            if health.status != before {
                let action = format!("health_status: {}", health.status);
                self.emit_container(&c, &action, &[]).await;
            }
        }
    }

    /// Runs one probe as an exec, with the check's timeout.
    async fn probe(self: &Arc<Self>, c: &Container, check: &HealthCheck) -> Probe {
        let start = crate::runtime::now_rfc3339_nanos();
        let finish = |exit_code: i64, output: String| Probe {
            start: start.clone(),
            end: crate::runtime::now_rfc3339_nanos(),
            exit_code,
            output,
        };
        let config = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: Some(check.command.clone()),
            ..Default::default()
        };
        let tenant = &c.row.tenant_id;
        let id = match self.create_exec(tenant, &c.row.id, config).await {
            Ok(id) => id,
            Err(e) => return finish(-1, e.to_string()),
        };
        let run = async {
            let started = self.start_exec(tenant, &id, false).await.map_err(|e| e.to_string())?;
            let mut output = Vec::new();
            if let Some(mut stream) = started.stream {
                let mut header = [0u8; 8];
                while stream.read_exact(&mut header).await.is_ok() {
                    let (_, len) = parse_frame_header(&header);
                    let mut payload = vec![0u8; len];
                    if stream.read_exact(&mut payload).await.is_err() {
                        break;
                    }
                    let room = MAX_OUTPUT.saturating_sub(output.len());
                    output.extend_from_slice(&payload[..len.min(room)]);
                }
            }
            started.finished.await;
            let code = self.inspect_exec(tenant, &id).ok().and_then(|r| r.exit_code).unwrap_or(-1);
            Ok::<_, String>((code, String::from_utf8_lossy(&output).into_owned()))
        };
        let probe = match tokio::time::timeout(check.timeout, run).await {
            Ok(Ok((code, output))) => finish(code, output),
            Ok(Err(message)) => finish(-1, message),
            Err(_) => {
                self.kill_exec(&c.row.id, &id).await;
                finish(-1, format!("Health check exceeded timeout ({:?})", check.timeout))
            }
        };
        self.forget_exec(&id);
        probe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_configs_parse_like_docker() {
        let shell = json!({"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 1_000_000_000i64, "Retries": 2});
        let check = HealthCheck::from_config(Some(&shell)).unwrap();
        assert_eq!(check.command, vec!["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(check.interval, Duration::from_secs(1));
        assert_eq!(check.timeout, Duration::from_secs(30));
        assert_eq!(check.retries, 2);
        let exec = json!({"Test": ["CMD", "true"]});
        assert_eq!(HealthCheck::from_config(Some(&exec)).unwrap().command, vec!["true"]);
        assert!(HealthCheck::from_config(Some(&json!({"Test": ["NONE"]}))).is_none());
        assert!(HealthCheck::from_config(None).is_none());
    }

    #[test]
    fn status_follows_streaks_and_start_period() {
        let probe = |code| Probe { exit_code: code, ..Default::default() };
        let mut health = Health { status: "starting".into(), ..Default::default() };
        health.record(probe(1), 2, false);
        assert_eq!((health.status.as_str(), health.failing_streak), ("starting", 0));
        health.record(probe(1), 2, true);
        assert_eq!(health.status, "starting");
        health.record(probe(1), 2, true);
        assert_eq!(health.status, "unhealthy");
        health.record(probe(0), 2, true);
        assert_eq!((health.status.as_str(), health.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            health.record(probe(0), 2, true);
        }
        assert_eq!(health.log.len(), MAX_LOG);
    }
}
