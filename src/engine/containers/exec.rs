//! `docker exec`: processes started inside a running container. Each gets its own shim (in
//! `<bundle>/execs/<id>`) running `kapsel exec`, which joins the container's namespaces and
//! cgroup and takes its capabilities, user and no_new_privs. Exec records live in memory, as
//! dockerd's do, until their container is removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Container;
use crate::engine::{Engine, Error, Result};
use crate::runtime::shim::client as shim;
use crate::runtime::shim::protocol::{Reply, Request, ShimOptions};
use crate::runtime::spec::{ContainerSpec, EXEC_SPEC_FILE, ExecSpec, SPEC_FILE};

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    /// Forward the client's stdin.
    pub attach_stdin: bool,
    /// Send stdout.
    pub attach_stdout: bool,
    /// Send stderr.
    pub attach_stderr: bool,
    /// Client-side detach keys.
    pub detach_keys: String,
    /// A pseudo-terminal.
    pub tty: bool,
    /// Initial terminal size [rows, cols].
    pub console_size: Option<Vec<u16>>,
    /// Extra `KEY=value` entries.
    pub env: Option<Vec<String>>,
    /// The command.
    pub cmd: Option<Vec<String>>,
    /// Every capability the host allows.
    pub privileged: bool,
    /// uid[:gid] or a name; default the container's user.
    pub user: String,
    /// Working directory; default the container's.
    pub working_dir: String,
}

/// One exec as `/exec/{id}/json` shows it.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    /// The exec's id.
    pub id: String,
    /// Owner.
    pub tenant: String,
    /// The container it runs in.
    pub container_id: String,
    /// What was asked.
    pub config: ExecConfig,
    /// Started and not yet exited.
    pub running: bool,
    /// Started at some point.
    pub started: bool,
    /// The exit code once it exited.
    pub exit_code: Option<i64>,
    /// Host pid while running.
    pub pid: i64,
}

/// The execs the daemon knows, by id.
#[derive(Default)]
pub(crate) struct ExecTable {
    records: Mutex<HashMap<String, ExecRecord>>,
}

impl ExecTable {
    fn update(&self, id: &str, change: impl FnOnce(&mut ExecRecord)) {
        if let Some(record) = self.records.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
            change(record);
        }
    }

    /// Forgets the execs of a removed container.
    pub fn forget_container(&self, container_id: &str) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, r| r.container_id != container_id);
    }
}

/// A started exec: its output stream (unless detached) and the future that records its exit.
pub struct ExecStarted {
    /// The exec's shim connection, for attached starts.
    pub stream: Option<tokio::net::UnixStream>,
    /// Resolves once the exit code is recorded; await it before closing the client's stream.
    pub finished: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Engine {
    /// `POST /containers/{id}/exec`: records an exec; 409 unless the container runs.
    pub async fn create_exec(&self, tenant: &str, container: &str, config: ExecConfig) -> Result<String> {
        let c = self.resolve_container(tenant, container).await?;
        check_execable(&c)?;
        if config.cmd.as_ref().is_none_or(|cmd| cmd.is_empty()) {
            return Err(Error::InvalidArgument("No exec command specified".into()));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        let record = ExecRecord {
            id: id.clone(),
            tenant: tenant.to_string(),
            container_id: c.row.id.clone(),
            config,
            running: false,
            started: false,
            exit_code: None,
            pid: 0,
        };
        self.execs.records.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), record);
        let command = format!("exec_create: {}", self.exec_command(&id).join(" "));
        self.emit_container(&c, &command, &[("execID", &id)]).await;
        Ok(id)
    }

    fn exec_command(&self, id: &str) -> Vec<String> {
        self.execs
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .and_then(|r| r.config.cmd.clone())
            .unwrap_or_default()
    }

    /// An exec of the tenant, by id.
    pub fn inspect_exec(&self, tenant: &str, id: &str) -> Result<ExecRecord> {
        self.execs
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .filter(|r| r.tenant == tenant)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))
    }

    /// `POST /exec/{id}/start`: starts the process, attached (a stream) or detached.
    pub async fn start_exec(self: &Arc<Self>, tenant: &str, id: &str, detach: bool) -> Result<ExecStarted> {
        let record = self.inspect_exec(tenant, id)?;
        if record.started {
            return Err(Error::Conflict(format!("Error: Exec command {id} has already run")));
        }
        let c = self.resolve_container(tenant, &record.container_id).await?;
        check_execable(&c)?;
        self.execs.update(id, |r| r.started = true);
        let bundle = self.bundle_dir(&c.row.id);
        let dir = bundle.join("execs").join(id);
        let (spec, options) = self.exec_files(&c, &record, &dir).await?;
        let write = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join(EXEC_SPEC_FILE), serde_json::to_vec(&spec).map_err(std::io::Error::other)?)?;
                std::fs::write(
                    dir.join(crate::runtime::shim::protocol::OPTIONS_FILE),
                    serde_json::to_vec(&options).map_err(std::io::Error::other)?,
                )
            })
        };
        write.await??;
        let failed = |engine: &Arc<Self>, message: String| {
            let code = if message.contains("executable file not found") || message.contains("no such file or directory")
            {
                127
            } else {
                126
            };
            engine.execs.update(id, |r| r.exit_code = Some(code));
            let _ = std::fs::remove_dir_all(&dir);
            Error::InvalidArgument(message)
        };
        let pid = match shim::launch(&self.kapsel_exe, &dir).await {
            Ok(pid) => pid,
            Err(message) => return Err(failed(self, message)),
        };
        let cfg = &record.config;
        let stream = if detach {
            None
        } else {
            shim::attach(&dir, cfg.attach_stdin, cfg.attach_stdout, cfg.attach_stderr).await.ok()
        };
        match shim::call(&dir, &Request::Start).await {
            Ok(Reply::Ok) => {}
            Ok(Reply::Error { message }) => {
                let _ = shim::wait(&dir).await;
                return Err(failed(self, message));
            }
            other => return Err(failed(self, format!("unexpected answer from the shim: {other:?}"))),
        }
        self.execs.update(id, |r| {
            r.running = true;
            r.pid = pid as i64;
        });
        let command = format!("exec_start: {}", record.config.cmd.clone().unwrap_or_default().join(" "));
        self.emit_container(&c, &command, &[("execID", id)]).await;
        let engine = self.clone();
        let (id, container) = (id.to_string(), c.clone());
        let finished = Box::pin(async move {
            let code = shim::wait(&dir).await.map(|r| r.exit_code as i64).unwrap_or(126);
            engine.execs.update(&id, |r| {
                r.running = false;
                r.exit_code = Some(code);
                r.pid = 0;
            });
            let code_text = code.to_string();
            engine.emit_container(&container, "exec_die", &[("execID", &id), ("exitCode", &code_text)]).await;
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await;
        });
        if detach {
            tokio::spawn(finished);
            return Ok(ExecStarted { stream: None, finished: Box::pin(async {}) });
        }
        Ok(ExecStarted { stream, finished })
    }

    /// The exec's spec and shim options, from the container's own spec.
    async fn exec_files(
        &self,
        c: &Container,
        record: &ExecRecord,
        dir: &std::path::Path,
    ) -> Result<(ExecSpec, ShimOptions)> {
        let spec_path = self.bundle_dir(&c.row.id).join(SPEC_FILE);
        let text = tokio::fs::read(&spec_path)
            .await
            .map_err(|e| Error::Conflict(format!("container {} is not running: {e}", c.row.id)))?;
        let container: ContainerSpec = serde_json::from_slice(&text).map_err(anyhow::Error::from)?;
        let cfg = &record.config;
        let mut process = container.process.clone();
        process.args = cfg.cmd.clone().unwrap_or_default();
        for entry in cfg.env.iter().flatten() {
            let key = entry.split('=').next().unwrap_or(entry);
            process.env.retain(|e| e.split('=').next() != Some(key));
            if entry.contains('=') {
                process.env.push(entry.clone());
            }
        }
        if !cfg.user.is_empty() {
            process.user = cfg.user.clone();
        }
        if !cfg.working_dir.is_empty() {
            process.cwd = cfg.working_dir.clone();
        }
        process.tty = cfg.tty;
        process.init = false;
        if cfg.privileged {
            process.capabilities = self.host_capabilities.clone();
            // As with dockerd, the container's seccomp filter and AppArmor profile stay: they
            // belong to the container, and --privileged at exec time only adds capabilities.
        }
        let cgroup_dirs = match self.cgroups.clone() {
            Some(layout) => crate::runtime::cgroups::Cgroup::open(
                &layout,
                &crate::runtime::cgroups::container_cgroup_path(&c.row.id),
            )
            .procs_dirs(),
            None => Vec::new(),
        };
        let console_size = match cfg.console_size.as_deref() {
            Some([rows, cols]) if *rows > 0 && *cols > 0 => Some((*rows, *cols)),
            _ => None,
        };
        let options = ShimOptions {
            init_args: vec!["exec".into(), dir.display().to_string()],
            cgroup_dirs,
            log: false,
            open_stdin: cfg.attach_stdin,
            stdin_once: true,
            tty: cfg.tty,
            console_size,
            log_max_size: 0,
            log_max_files: 1,
            oom_file: None,
            // An exec joins the container's user namespace (whose maps exist) rather than
            // making one.
            user_namespace: None,
        };
        Ok((ExecSpec { container_pid: c.row.state.pid as i32, process }, options))
    }

    /// Kills an exec's process (a health probe past its timeout).
    pub(super) async fn kill_exec(&self, container_id: &str, id: &str) {
        let dir = self.bundle_dir(container_id).join("execs").join(id);
        let _ = shim::call(&dir, &Request::Kill { signal: libc::SIGKILL }).await;
    }

    /// Drops an exec's record (health probes are not kept).
    pub(super) fn forget_exec(&self, id: &str) {
        self.execs.records.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// `POST /exec/{id}/resize`.
    pub async fn resize_exec(&self, tenant: &str, id: &str, height: u16, width: u16) -> Result<()> {
        let record = self.inspect_exec(tenant, id)?;
        let dir = self.bundle_dir(&record.container_id).join("execs").join(id);
        let _ = shim::call(&dir, &Request::Resize { height, width }).await;
        Ok(())
    }
}

/// Docker's refusals at exec create and start.
fn check_execable(c: &Container) -> Result<()> {
    match c.row.state.status.as_str() {
        "running" => Ok(()),
        "paused" => {
            Err(Error::Conflict(format!("Container {} is paused, unpause the container before exec", c.row.id)))
        }
        "restarting" => {
            Err(Error::Conflict(format!("Container {} is restarting, wait until the container is running", c.row.id)))
        }
        _ => Err(Error::Conflict(format!("container {} is not running", c.row.id))),
    }
}
