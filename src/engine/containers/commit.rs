//! `docker commit`: a new image made of the container's image layers plus one layer holding
//! what the container changed (its `docker diff`, as a layer tarball with whiteouts), with the
//! container's config (and the requested `--change`s) as the run defaults.
//!
//! A running container is paused while its writable layer is read, as dockerd does (unless
//! `pause=0`); a stopped one is held under its operation lock so that it does not start
//! meanwhile.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use serde_json::{Map, json};

use super::Container;
use super::config::Config;
use crate::engine::images::{add_layer_file, digest_of, familiar_tag, new_layer};
use crate::engine::{Engine, Error, Result};
use crate::images::changes::apply_changes;
use crate::images::config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::images::reference::Reference;
use crate::runtime::container_fs::changes::{upper_changes, write_layer};
use crate::store::images::NewLayer;

/// What `docker commit` asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// The container (id, name or id prefix).
    pub container: String,
    /// Repository to tag the image with (may hold the tag).
    pub repo: Option<String>,
    /// Tag, with `repo`.
    pub tag: Option<String>,
    /// `--message`: recorded in the image's history.
    pub comment: String,
    /// `--author`.
    pub author: String,
    /// `--change`: Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// Pause a running container while its files are read (the default).
    pub pause: bool,
    /// A config to start from instead of the container's (the request body).
    pub config: Option<Config>,
}

impl Engine {
    /// Commits a container; returns the new image's id.
    pub async fn commit_container(self: &Arc<Self>, tenant: &str, request: CommitRequest) -> Result<String> {
        let c = self.resolve_container(tenant, &request.container).await?;
        let reference = match request.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(repo) => Some(
                Reference::repo_tag(repo, request.tag.as_deref()).map_err(|e| Error::InvalidArgument(e.to_string()))?,
            ),
            None => None,
        };
        let config = commit_config(request.config.as_ref().unwrap_or(&c.config), &c.config, &request.changes)?;
        let parent = self.inspect_image(tenant, &c.row.image_id).await?;
        let tarball = self.snapshot_changes(tenant, &c, request.pause).await?;

        let created = crate::store::now_rfc3339();
        let mut layers: Vec<NewLayer> = Vec::new();
        for layer in &parent.row.layers {
            let tar_size = self.layers.layer_tar(&layer.diff_id).and_then(std::fs::metadata).map(|m| m.len());
            layers.push(NewLayer {
                diff_id: layer.diff_id.clone(),
                size: layer.size as u64,
                tar_size: tar_size.unwrap_or(0),
            });
        }
        let _guard = self.image_lock.lock().await;
        let added = match &tarball {
            Some(path) => Some(add_layer_file(self.layers.clone(), path.to_path_buf()).await?),
            None => None,
        };
        drop(tarball);
        let mut diff_ids = parent.config.rootfs.diff_ids.clone();
        if let Some(layer) = &added {
            diff_ids.push(layer.diff_id.clone());
            layers.push(new_layer(layer));
        }
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let mut history = parent.config.history.clone();
        history.push(History {
            created: Some(created.clone()),
            created_by: non_empty(&c.config.cmd.clone().unwrap_or_default().join(" ")),
            author: non_empty(&request.author),
            comment: non_empty(&request.comment),
            empty_layer: added.is_none(),
        });
        let mut extra = Map::new();
        for key in ["os.version", "os.features"] {
            if let Some(value) = parent.config.extra.get(key) {
                extra.insert(key.to_string(), value.clone());
            }
        }
        extra.insert("container".into(), json!(c.row.id));
        let image = ImageConfig {
            architecture: parent.config.architecture.clone(),
            os: if parent.config.os.is_empty() { "linux".into() } else { parent.config.os.clone() },
            variant: parent.config.variant.clone(),
            created: Some(created.clone()),
            author: non_empty(&request.author),
            comment: None,
            config,
            rootfs: RootFs { r#type: "layers".into(), diff_ids },
            history,
            extra,
        };
        let bytes = serde_json::to_vec(&image).map_err(anyhow::Error::from)?;
        let id = digest_of(&bytes);
        self.store.insert_image(tenant, &id, &bytes, Some(&created), &layers).await?;
        drop(_guard);
        let mut image_ref = String::new();
        if let Some(reference) = &reference {
            self.set_tag(tenant, reference, &id).await?;
            image_ref = familiar_tag(&reference.repository(), reference.tag().unwrap_or("latest"));
        }
        let attributes =
            [("comment", request.comment.as_str()), ("imageID", id.as_str()), ("imageRef", image_ref.as_str())];
        self.emit_container(&c, "commit", &attributes).await;
        Ok(id)
    }

    /// Reads the container's changes into a layer tarball in the staging area (None when
    /// nothing changed), with the container paused or held stopped meanwhile.
    async fn snapshot_changes(
        self: &Arc<Self>,
        tenant: &str,
        c: &Container,
        pause: bool,
    ) -> Result<Option<tempfile::TempPath>> {
        let (upper, lower) = self.layer_dirs(c).await?;
        // A tenant's writable layer may hold host ids of its range: the image records its own.
        let owners = self.tenant_id_mapping(&c.row.tenant_id).await?;
        let staging = self.staging_dir();
        let work = move || -> Result<Option<tempfile::TempPath>> {
            let changes = upper_changes(&upper, &lower)?;
            if changes.is_empty() {
                return Ok(None);
            }
            let file = tempfile::Builder::new().prefix("commit-").suffix(".tar").tempfile_in(&staging)?;
            let (file, path) = file.into_parts();
            let mut out = write_layer(&upper, &changes, BufWriter::with_capacity(128 * 1024, file), owners)?;
            out.flush()?;
            Ok(Some(path))
        };
        if !c.is_running() {
            let live = self.live.get(&c.row.id);
            let _op = live.op.lock().await;
            return tokio::task::spawn_blocking(work).await?;
        }
        let paused = pause && c.row.state.status == "running" && {
            match self.pause_container(tenant, &c.row.id).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(container = %c.row.id, error = %e, "committing without pausing");
                    false
                }
            }
        };
        let result = tokio::task::spawn_blocking(work).await;
        if paused && let Err(e) = self.unpause_container(tenant, &c.row.id).await {
            tracing::warn!(container = %c.row.id, error = %e, "could not unpause after commit");
        }
        result?
    }
}

/// The new image's run defaults: `base` (the request's config, or the container's) with the
/// changes applied, then completed from the container's config as dockerd's `merge` does.
fn commit_config(base: &Config, container: &Config, changes: &[String]) -> Result<ContainerConfig> {
    let mut config = image_config_of(base)?;
    apply_changes(&mut config, changes).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    merge(&mut config, &image_config_of(container)?);
    Ok(config)
}

/// A container's Config in the image config's form (the JSON names are the same); fields the
/// image form does not model are kept, nulls dropped.
fn image_config_of(config: &Config) -> Result<ContainerConfig> {
    let value = serde_json::to_value(config).map_err(anyhow::Error::from)?;
    let mut image: ContainerConfig = serde_json::from_value(value).map_err(anyhow::Error::from)?;
    image.extra.retain(|_, v| !v.is_null());
    Ok(image)
}

/// dockerd's `merge`: fills what `user` leaves unset from `image`.
fn merge(user: &mut ContainerConfig, image: &ContainerConfig) {
    if user.user.is_empty() {
        user.user = image.user.clone();
    }
    for (port, value) in &image.exposed_ports {
        user.exposed_ports.entry(port.clone()).or_insert(*value);
    }
    if user.env.is_empty() {
        user.env = image.env.clone();
    } else {
        for entry in &image.env {
            let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            if !user.env.iter().any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
                user.env.push(entry.clone());
            }
        }
    }
    for (key, value) in &image.labels {
        user.labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = image.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = image.healthcheck.clone();
    }
    if user.working_dir.is_empty() {
        user.working_dir = image.working_dir.clone();
    }
    for (volume, value) in &image.volumes {
        user.volumes.entry(volume.clone()).or_insert(*value);
    }
    if user.stop_signal.is_empty() {
        user.stop_signal = image.stop_signal.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn container_config() -> Config {
        serde_json::from_value(json!({
            "Hostname": "abc", "User": "1000", "Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Image": "busybox",
            "Labels": {"l": "v"}, "WorkingDir": "/w", "ExposedPorts": {"80/tcp": {}}, "StopSignal": null
        }))
        .unwrap()
    }

    #[test]
    fn changes_apply_over_the_containers_config() {
        let c = container_config();
        let config = commit_config(&c, &c, &[r#"CMD ["cat","/f"]"#.to_string(), "ENV B=2".to_string()]).unwrap();
        assert_eq!(config.cmd, Some(vec!["cat".to_string(), "/f".to_string()]));
        assert_eq!(config.env, ["PATH=/bin", "A=1", "B=2"]);
        assert_eq!((config.user.as_str(), config.working_dir.as_str()), ("1000", "/w"));
        assert!(config.exposed_ports.contains_key("80/tcp"));
        assert_eq!(config.extra.get("Image"), Some(&json!("busybox")));
        assert!(!config.extra.contains_key("StopSignal"));
        assert!(!config.extra.values().any(Value::is_null));
    }

    #[test]
    fn a_request_config_is_completed_from_the_container() {
        let c = container_config();
        let request: Config = serde_json::from_value(json!({"Env": ["A=9"], "Labels": {"x": "y"}})).unwrap();
        let config = commit_config(&request, &c, &[]).unwrap();
        assert_eq!(config.env, ["A=9", "PATH=/bin"]);
        assert_eq!(config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(config.labels.get("l").map(String::as_str), Some("v"));
        assert_eq!(config.labels.get("x").map(String::as_str), Some("y"));
    }

    #[test]
    fn bad_changes_are_400() {
        let c = container_config();
        assert!(matches!(commit_config(&c, &c, &["RUN rm -rf /".to_string()]), Err(Error::InvalidArgument(_))));
    }
}
