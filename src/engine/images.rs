//! Images: import, load, save, list, inspect, tag, remove, prune and history. Layers live in the
//! content-addressed layer store, definitions and tags in the store.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::error::no_such_image;
use super::filters::Filters;
use super::{Engine, Error, Result};
use crate::images::archive::{self, SaveImage};
use crate::images::changes::apply_changes;
use crate::images::config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::images::layer_store::{AddedLayer, LayerStore};
use crate::images::reference::Reference;
use crate::runtime::host::host_arch;
use crate::store::images::{ImageRow, NewLayer};

/// An image with its parsed config, as the API shapes it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// The stored row (id, size, layers, tags).
    pub row: ImageRow,
    /// The parsed config.
    pub config: ImageConfig,
}

impl ImageRecord {
    /// The image's tags in familiar form (`busybox:latest`).
    pub fn repo_tags(&self) -> Vec<String> {
        self.row.tags.iter().map(|(repo, tag)| familiar_tag(repo, tag)).collect()
    }
}

/// What `docker import` asked for besides the tarball.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `repo` (may hold the tag).
    pub repo: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// The commit message.
    pub message: Option<String>,
    /// Dockerfile instructions to apply to the config.
    pub changes: Vec<String>,
    /// `os/arch[/variant]`.
    pub platform: Option<String>,
    /// Where the tar came from, for the history comment ("-" for the request body).
    pub source: String,
}

/// One line of `docker rmi`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A tag was removed (familiar form).
    Untagged(String),
    /// An image was deleted (its id).
    Deleted(String),
}

/// The images and layers a `docker save` will write, resolved before the stream starts so that
/// an unknown name is a 404 and not a broken tarball.
pub struct SavePlan {
    images: Vec<SaveImage>,
}

impl SavePlan {
    /// Writes the archive (blocking: call from a blocking thread).
    pub fn write_to<W: Write>(self, out: W) -> std::io::Result<()> {
        archive::write_archive(out, &self.images)
    }
}

impl Engine {
    /// Finds an image by reference (`busybox`, `busybox:1`), full id, or unique id prefix, the
    /// way dockerd's image lookup does.
    pub async fn resolve_image(&self, tenant: &str, name: &str) -> Result<ImageRow> {
        if let Some(id) = self.find_image_id(tenant, name).await?
            && let Some(row) = self.store.image(tenant, &id).await?
        {
            return Ok(row);
        }
        Err(no_such_image(name))
    }

    async fn find_image_id(&self, tenant: &str, name: &str) -> Result<Option<String>> {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let looks_like_id = !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if looks_like_id && hex.len() == 64 {
            return Ok(Some(format!("sha256:{}", hex.to_ascii_lowercase())));
        }
        if let Some(id) = self.image_by_repo_digest(tenant, name).await? {
            return Ok(Some(id));
        }
        if let Ok(reference) = Reference::parse_normalized_with_default_tag(name)
            && let Some(tag) = reference.tag()
            && let Some(id) = self.store.tag_target(tenant, &reference.repository(), tag).await?
        {
            return Ok(Some(id));
        }
        if looks_like_id && (name.starts_with("sha256:") || hex.len() >= 4) {
            let ids = self.store.image_ids_with_prefix(tenant, &format!("sha256:{}", hex.to_ascii_lowercase())).await?;
            return match ids.len() {
                0 => Ok(None),
                1 => Ok(ids.into_iter().next()),
                _ => Err(Error::InvalidArgument(format!("multiple IDs found with provided prefix: {hex}"))),
            };
        }
        Ok(None)
    }

    /// One image with its parsed config.
    pub async fn inspect_image(&self, tenant: &str, name: &str) -> Result<ImageRecord> {
        record(self.resolve_image(tenant, name).await?)
    }

    /// A tenant's images that pass `filters` (dangling, reference, label, before, since).
    pub async fn list_images(&self, tenant: &str, filters: &Filters) -> Result<Vec<ImageRecord>> {
        filters
            .validate(&["dangling", "reference", "label", "before", "since", "until"])
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let dangling = filters.bool_value("dangling").map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut before = None;
        for name in filters.values("before") {
            before = Some(self.resolve_image(tenant, name).await?.added_at);
        }
        let mut since = None;
        for name in filters.values("since") {
            since = Some(self.resolve_image(tenant, name).await?.added_at);
        }
        let mut out = Vec::new();
        for row in self.store.images(tenant).await? {
            if dangling.is_some_and(|d| d != row.tags.is_empty()) {
                continue;
            }
            if before.as_ref().is_some_and(|b| row.added_at >= *b) || since.as_ref().is_some_and(|s| row.added_at <= *s)
            {
                continue;
            }
            let patterns = filters.values("reference");
            if !patterns.is_empty()
                && !row.tags.iter().any(|(repo, tag)| patterns.iter().any(|p| reference_matches(p, repo, tag)))
            {
                continue;
            }
            let image = record(row)?;
            let labels = image.config.config.labels.clone().into_iter().collect::<HashMap<_, _>>();
            if !filters.match_labels(&labels) {
                continue;
            }
            out.push(image);
        }
        Ok(out)
    }

    /// Imports a rootfs tarball (plain or compressed, already spooled to `source`) as a
    /// single-layer image, tagged when a repository is given; returns the image id.
    pub async fn import_image(&self, tenant: &str, source: &Path, request: ImportRequest) -> Result<String> {
        let mut container_config = ContainerConfig::default();
        apply_changes(&mut container_config, &request.changes).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let reference = match &request.repo {
            Some(repo) if !repo.is_empty() => Some(
                Reference::repo_tag(repo, request.tag.as_deref()).map_err(|e| Error::InvalidArgument(e.to_string()))?,
            ),
            _ => None,
        };
        let (os, architecture, variant) = parse_platform(request.platform.as_deref())?;
        self.check_storage_quota(tenant, 0).await?;

        let _guard = self.image_lock.lock().await;
        let layer = add_layer_file(self.layers.clone(), source.to_path_buf()).await?;
        let created = crate::store::now_rfc3339();
        let comment = request
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("Imported from {}", request.source));
        let config = ImageConfig {
            architecture,
            os,
            variant,
            created: Some(created.clone()),
            comment: Some(comment.clone()),
            config: container_config,
            rootfs: RootFs { r#type: "layers".into(), diff_ids: vec![layer.diff_id.clone()] },
            history: vec![History { created: Some(created.clone()), comment: Some(comment), ..Default::default() }],
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&config).map_err(anyhow::Error::from)?;
        let id = digest_of(&bytes);
        self.store.insert_image(tenant, &id, &bytes, Some(&created), &[new_layer(&layer)]).await?;
        if let Some(reference) = &reference {
            self.set_tag(tenant, reference, &id).await?;
        }
        self.events.emit(tenant, "image", "import", &id, &[]).await;
        Ok(id)
    }

    /// Loads every image of a docker-archive or OCI layout (spooled to `source`); returns the
    /// lines `docker load` prints.
    pub async fn load_images(&self, tenant: &str, source: &Path) -> Result<Vec<String>> {
        self.check_storage_quota(tenant, 0).await?;
        let workdir = tempfile::tempdir_in(self.staging_dir())?;
        let _guard = self.image_lock.lock().await;
        let (found, workdir) = {
            let source = source.to_path_buf();
            let layers = self.layers.clone();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let images = archive::read_archive(File::open(&source)?, workdir.path())
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                let mut found = Vec::new();
                for image in images {
                    let config: ImageConfig = serde_json::from_slice(&image.config)
                        .map_err(|e| Error::InvalidArgument(format!("invalid image config: {e}")))?;
                    let mut added = Vec::new();
                    for path in &image.layers {
                        added.push(
                            layers.add_layer(File::open(path)?).map_err(|e| Error::InvalidArgument(e.to_string()))?,
                        );
                    }
                    let diff_ids: Vec<&String> = added.iter().map(|l| &l.diff_id).collect();
                    if diff_ids != config.rootfs.diff_ids.iter().collect::<Vec<_>>() {
                        return Err(Error::InvalidArgument(
                            "invalid archive: the layers do not match the image config's diff_ids".into(),
                        ));
                    }
                    found.push((image, config, added));
                }
                Ok((found, workdir))
            })
            .await??
        };
        drop(workdir);
        let mut lines = Vec::new();
        for (image, config, added) in found {
            let id = digest_of(&image.config);
            let layers: Vec<NewLayer> = added.iter().map(new_layer).collect();
            self.store.insert_image(tenant, &id, &image.config, config.created.as_deref(), &layers).await?;
            let mut named = false;
            for name in &image.repo_tags {
                let Ok(reference) = Reference::parse_normalized_with_default_tag(name) else {
                    continue;
                };
                if reference.tag().is_none() {
                    continue;
                }
                if let Some(previous) = self.set_tag(tenant, &reference, &id).await? {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {previous} to empty string",
                        reference.familiar()
                    ));
                }
                lines.push(format!("Loaded image: {}", reference.familiar()));
                named = true;
            }
            if !named {
                lines.push(format!("Loaded image ID: {id}"));
            }
            self.events.emit(tenant, "image", "load", &id, &[]).await;
        }
        Ok(lines)
    }

    /// Resolves the images `docker save` names; the plan then writes the archive.
    pub async fn plan_save(&self, tenant: &str, names: &[String]) -> Result<SavePlan> {
        let mut images: Vec<SaveImage> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for name in names {
            let row = self.resolve_image(tenant, name).await?;
            // A name given as a tag saves that tag; an id saves the image with all its tags.
            let reference = Reference::parse_normalized_with_default_tag(name).ok().filter(|r| {
                r.tag().is_some_and(|t| row.tags.iter().any(|(repo, tag)| *repo == r.repository() && tag == t))
            });
            let names: Vec<(String, String)> = match reference {
                Some(r) => vec![(r.familiar(), r.to_string())],
                None => row.tags.iter().map(|(repo, tag)| (familiar_tag(repo, tag), format!("{repo}:{tag}"))).collect(),
            };
            match index.get(&row.id) {
                Some(&i) => {
                    for n in names {
                        if !images[i].names.contains(&n) {
                            images[i].names.push(n);
                        }
                    }
                }
                None => {
                    index.insert(row.id.clone(), images.len());
                    let layers = row
                        .layers
                        .iter()
                        .map(|l| Ok((l.diff_id.clone(), self.layers.layer_tar(&l.diff_id)?)))
                        .collect::<std::io::Result<_>>()?;
                    images.push(SaveImage { config: row.config.clone(), layers, names });
                }
            }
            self.events.emit(tenant, "image", "save", &row.id, &[]).await;
        }
        Ok(SavePlan { images })
    }

    /// Points `repo[:tag]` at the image `source` names.
    pub async fn tag_image(&self, tenant: &str, source: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let image = self.resolve_image(tenant, source).await?;
        let reference = Reference::repo_tag(repo, tag).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.set_tag(tenant, &reference, &image.id).await?;
        Ok(())
    }

    /// Points `reference` at the image `id` (emitting `tag`); returns the image it named before.
    pub(crate) async fn set_tag(&self, tenant: &str, reference: &Reference, id: &str) -> Result<Option<String>> {
        let tag = reference.tag().unwrap_or("latest");
        let previous = self.store.set_tag(tenant, &reference.repository(), tag, id).await?;
        self.events.emit(tenant, "image", "tag", id, &[("name", &reference.familiar())]).await;
        Ok(previous)
    }

    /// `docker rmi`: untags when the name is one of several tags, else deletes the image (and
    /// the layers no other image uses); refuses while a container uses it, as dockerd does.
    pub async fn remove_image(&self, tenant: &str, name: &str, force: bool) -> Result<Vec<DeleteItem>> {
        let _guard = self.image_lock.lock().await;
        let image = self.resolve_image(tenant, name).await?;
        let by_tag = Reference::parse_normalized_with_default_tag(name).ok().filter(|r| {
            r.tag().is_some_and(|t| image.tags.iter().any(|(repo, tag)| *repo == r.repository() && tag == t))
        });
        let short = short_id(&image.id);
        let containers = self.store.containers_using_image(tenant, &image.id).await?;
        let running =
            containers.iter().find(|(_, status)| status == "running" || status == "paused" || status == "restarting");
        let mut items = Vec::new();
        if let Some(reference) = by_tag {
            if image.tags.len() > 1 || (force && running.is_none() && !containers.is_empty()) {
                self.untag(tenant, &reference.repository(), reference.tag().unwrap_or("latest"), &image.id, &mut items)
                    .await?;
                return Ok(items);
            }
            if let Some((cid, _)) = containers.first() {
                return Err(Error::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {short}",
                    short_id(cid)
                )));
            }
        } else {
            if image.tags.len() > 1 && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            if let Some((cid, _)) = running {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}",
                    short_id(cid)
                )));
            }
            if let Some((cid, _)) = containers.first() {
                if !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}",
                        short_id(cid)
                    )));
                }
                for (repo, tag) in &image.tags {
                    self.untag(tenant, repo, tag, &image.id, &mut items).await?;
                }
                return Ok(items);
            }
        }
        for (repo, tag) in &image.tags {
            self.untag(tenant, repo, tag, &image.id, &mut items).await?;
        }
        self.delete_image_row(tenant, &image.id).await?;
        items.push(DeleteItem::Deleted(image.id));
        Ok(items)
    }

    async fn untag(&self, tenant: &str, repo: &str, tag: &str, id: &str, items: &mut Vec<DeleteItem>) -> Result<()> {
        if self.store.remove_tag(tenant, repo, tag).await? {
            let name = familiar_tag(repo, tag);
            self.events.emit(tenant, "image", "untag", id, &[("name", &name)]).await;
            items.push(DeleteItem::Untagged(name));
        }
        Ok(())
    }

    /// Deletes an image's row and the layers nobody uses any more; returns the bytes freed.
    async fn delete_image_row(&self, tenant: &str, id: &str) -> Result<u64> {
        let orphaned = self.store.delete_image(tenant, id).await?;
        let mut freed = 0;
        for layer in orphaned {
            freed += layer.size as u64;
            let layers = self.layers.clone();
            tokio::task::spawn_blocking(move || layers.remove_layer(&layer.diff_id)).await??;
        }
        // [userns] A tenant's copies of layers none of its images uses any more.
        self.prune_shifted_layers(tenant).await?;
        self.events.emit(tenant, "image", "delete", id, &[]).await;
        Ok(freed)
    }

    /// `docker image prune`: deletes dangling images (all unused ones with `dangling=false`)
    /// that no container uses; returns what was deleted and the bytes freed.
    pub async fn prune_images(&self, tenant: &str, filters: &Filters) -> Result<(Vec<DeleteItem>, u64)> {
        filters.validate(&["dangling", "label", "until"]).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let dangling_only =
            filters.bool_value("dangling").map_err(|e| Error::InvalidArgument(e.to_string()))?.unwrap_or(true);
        let until = match filters.values("until").first() {
            Some(until) => Some(parse_until(until)?),
            None => None,
        };
        let _guard = self.image_lock.lock().await;
        let mut items = Vec::new();
        let mut freed = 0;
        for row in self.store.images(tenant).await? {
            if dangling_only && !row.tags.is_empty() {
                continue;
            }
            if !self.store.containers_using_image(tenant, &row.id).await?.is_empty() {
                continue;
            }
            let image = record(row)?;
            let labels = image.config.config.labels.clone().into_iter().collect::<HashMap<_, _>>();
            if !filters.match_labels(&labels) {
                continue;
            }
            if let (Some(until), Some(created)) = (until, image.config.created.as_deref())
                && parse_rfc3339(created).is_some_and(|c| c >= until)
            {
                continue;
            }
            for (repo, tag) in &image.row.tags {
                self.untag(tenant, repo, tag, &image.row.id, &mut items).await?;
            }
            freed += self.delete_image_row(tenant, &image.row.id).await?;
            items.push(DeleteItem::Deleted(image.row.id));
        }
        Ok((items, freed))
    }

    /// Where a layer is extracted, for the overlay's lower dirs.
    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.layers.layer_dir(diff_id)?)
    }

    /// Removes layer directories the database does not know (left by a crash mid-import).
    pub(super) async fn remove_unknown_layers(&self) -> Result<()> {
        let known: HashSet<String> = self.store.layer_ids().await?.into_iter().collect();
        let layers = self.layers.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for diff_id in layers.layer_ids()? {
                if !known.contains(&diff_id) {
                    tracing::info!(%diff_id, "removing a layer no image records");
                    layers.remove_layer(&diff_id)?;
                }
            }
            Ok(())
        })
        .await??;
        Ok(())
    }
}

fn record(row: ImageRow) -> Result<ImageRecord> {
    let config = serde_json::from_slice(&row.config)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored config of {} is invalid: {e}", row.id)))?;
    Ok(ImageRecord { row, config })
}

/// Adds the layer tarball at `path` to the layer store (on a blocking thread).
pub(crate) async fn add_layer_file(layers: Arc<LayerStore>, path: PathBuf) -> Result<AddedLayer> {
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path)?;
        layers.add_layer(file).map_err(|e| Error::InvalidArgument(e.to_string()))
    })
    .await?
}

/// The store row of an added layer.
pub(crate) fn new_layer(layer: &AddedLayer) -> NewLayer {
    NewLayer { diff_id: layer.diff_id.clone(), size: layer.size, tar_size: layer.tar_size }
}

/// `sha256:<hex>` of some bytes: how image ids are made from configs.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The 12-hex short form of an id, as the CLI prints it.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// `busybox:latest` from (`docker.io/library/busybox`, `latest`).
pub fn familiar_tag(repository: &str, tag: &str) -> String {
    match Reference::parse(&format!("{repository}:{tag}")) {
        Ok(r) => r.familiar(),
        Err(_) => format!("{repository}:{tag}"),
    }
}

/// Docker's `reference` filter: the pattern is a glob over the familiar name, with or without
/// its tag (`busy*`, `busybox:1.*`).
fn reference_matches(pattern: &str, repository: &str, tag: &str) -> bool {
    let full = familiar_tag(repository, tag);
    let name = full.rsplit_once(':').map(|(n, _)| n).unwrap_or(&full).to_string();
    glob_match(pattern, &full) || glob_match(pattern, &name)
}

/// A glob in Go's `path.Match` style: `*` and `?` never match `/`.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).take_while(|&i| i == 0 || t[i - 1] != '/').any(|i| go(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|&c| c != '/') && go(&p[1..], &t[1..]),
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

/// `os/arch[/variant]`, defaulting to the host's.
fn parse_platform(platform: Option<&str>) -> Result<(String, String, Option<String>)> {
    let Some(platform) = platform.filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), host_arch().into(), None));
    };
    let parts: Vec<&str> = platform.split('/').collect();
    match parts.as_slice() {
        [os] => Ok((os.to_string(), host_arch().into(), None)),
        [os, arch] => Ok((os.to_string(), arch.to_string(), None)),
        [os, arch, variant] => Ok((os.to_string(), arch.to_string(), Some(variant.to_string()))),
        _ => Err(Error::InvalidArgument(format!("invalid platform {platform:?}: want os/arch[/variant]"))),
    }
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// The `until` filter: a unix time, an RFC 3339 time, or a duration before now (`24h`, `30m`).
fn parse_until(value: &str) -> Result<i64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Ok(secs) = value.split('.').next().unwrap_or(value).parse::<i64>() {
        return Ok(secs);
    }
    if let Some(t) = parse_rfc3339(value) {
        return Ok(t);
    }
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let n: i64 = number.parse().map_err(|_| Error::InvalidArgument(format!("invalid filter 'until={value}'")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(Error::InvalidArgument(format!("invalid filter 'until={value}'")));
        }
    };
    Ok(now - secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "myrepo/bb"));
        assert!(glob_match("*/*", "myrepo/bb"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(!glob_match("busy", "busybox"));
    }

    #[test]
    fn reference_filter_matches_name_with_and_without_tag() {
        assert!(reference_matches("busybox", "docker.io/library/busybox", "latest"));
        assert!(reference_matches("busybox:latest", "docker.io/library/busybox", "latest"));
        assert!(!reference_matches("busybox:1", "docker.io/library/busybox", "latest"));
        assert!(reference_matches("myrepo/*", "docker.io/myrepo/bb", "v1"));
    }

    #[test]
    fn platforms_parse() {
        assert_eq!(parse_platform(Some("linux/arm64/v8")).unwrap().2.as_deref(), Some("v8"));
        assert_eq!(parse_platform(None).unwrap().0, "linux");
        assert!(parse_platform(Some("a/b/c/d")).is_err());
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
