//! `docker push`: send a local image's layers (compressed once and kept, so every push sends the
//! same bytes), its config and a manifest to a registry, skipping blobs the repository has and
//! mounting blobs that another repository of the registry has, with dockerd's progress.

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;

use super::progress::{Progress, ProgressSender, Throttle, short_digest};
use super::pull::stream_error;
use super::{Engine, Error, Result};
use crate::images::compressed_layers::CompressedLayer;
use crate::images::reference::{Reference, is_valid_tag};
use crate::images::registry::client::MountOutcome;
use crate::images::registry::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP,
    OCI_MANIFEST,
};
use crate::images::registry::{Credentials, RegistryClient};
use crate::store::images::ImageRow;

/// Layers uploaded at once (dockerd's default `max-concurrent-uploads`).
const MAX_CONCURRENT_UPLOADS: usize = 5;

/// What `docker push` asked for.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// The repository, possibly with a tag.
    pub name: String,
    /// `tag`; every tag of the repository when neither it nor `name` has one.
    pub tag: Option<String>,
    /// The request's `X-Registry-Auth`.
    pub credentials: Option<Credentials>,
}

impl Engine {
    /// Pushes a tenant's image(s), sending progress as it goes. An image that does not exist is
    /// an error before the first message; registry failures end the stream.
    pub async fn push_image(&self, tenant: &str, request: PushRequest, progress: &ProgressSender) -> Result<()> {
        let reference = Reference::parse(request.name.trim()).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if reference.digest().is_some() {
            return Err(Error::InvalidArgument("cannot push a digest reference".into()));
        }
        let repository = reference.repository();
        let tags: Vec<String> = match request.tag.as_deref().filter(|t| !t.is_empty()).or(reference.tag()) {
            Some(tag) if !is_valid_tag(tag) => {
                return Err(Error::InvalidArgument(format!("invalid tag format: {tag}")));
            }
            Some(tag) => vec![tag.to_string()],
            None => self.store.repository_tags(tenant, &repository).await?.into_iter().map(|(tag, _)| tag).collect(),
        };
        let missing = || {
            Error::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_repository()
            ))
        };
        let mut targets: Vec<(String, ImageRow)> = Vec::new();
        for tag in tags {
            let id = self.store.tag_target(tenant, &repository, &tag).await?.ok_or_else(missing)?;
            let row = self.store.image(tenant, &id).await?.ok_or_else(missing)?;
            targets.push((tag, row));
        }
        if targets.is_empty() {
            return Err(missing());
        }
        progress.send(Progress::status(format!("The push refers to repository [{repository}]")));

        // Repositories of this registry the tenant pulled these layers from: mount candidates.
        let mut sources: Vec<String> = Vec::new();
        for (_, row) in &targets {
            for layer in &row.layers {
                if let Ok(Some(compressed)) = self.layers.compressed_layer(&layer.diff_id) {
                    for source in compressed.sources {
                        if source.tenant == tenant
                            && source.registry == reference.domain()
                            && source.repository != reference.path()
                            && !sources.contains(&source.repository)
                        {
                            sources.push(source.repository);
                        }
                    }
                }
            }
        }
        let endpoints = self.registry.endpoints(reference.domain(), false);
        let client = RegistryClient::connect(&endpoints, reference.path(), request.credentials, true, &sources)
            .await
            .map_err(stream_error)?;
        for (tag, row) in targets {
            self.push_tag(tenant, &reference, &client, &tag, &row, progress).await?;
        }
        Ok(())
    }

    /// Pushes one tag: its layers, its config, then the manifest.
    async fn push_tag(
        &self,
        tenant: &str,
        reference: &Reference,
        client: &RegistryClient,
        tag: &str,
        row: &ImageRow,
        progress: &ProgressSender,
    ) -> Result<()> {
        for layer in row.layers.iter().rev() {
            progress.send(Progress::layer(short_digest(&layer.diff_id), "Preparing"));
        }
        // Collected first: a lazy iterator of futures held across the await is not `Send`.
        let mut transfers = Vec::new();
        for (i, layer) in row.layers.iter().enumerate().rev() {
            transfers.push(async move {
                let pushed = self.push_layer(tenant, reference, client, &layer.diff_id, progress).await?;
                Ok::<_, Error>((i, pushed))
            });
        }
        let mut pushed: Vec<(usize, CompressedLayer)> =
            futures::stream::iter(transfers).buffer_unordered(MAX_CONCURRENT_UPLOADS).try_collect().await?;
        pushed.sort_by_key(|(i, _)| *i);
        let layers: Vec<CompressedLayer> = pushed.into_iter().map(|(_, layer)| layer).collect();

        if !client.blob_exists(&row.id).await.map_err(stream_error)? {
            client.upload_bytes(&row.id, row.config.clone()).await.map_err(stream_error)?;
        }
        let (media_type, manifest) = build_manifest(&row.id, row.config.len() as u64, &layers);
        let size = manifest.len();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
        client.put_manifest(tag, media_type, manifest).await.map_err(stream_error)?;
        progress.send(Progress::status(format!("{tag}: digest: {digest} size: {size}")));
        progress.send(Progress::aux(serde_json::json!({ "Tag": tag, "Digest": digest, "Size": size })));
        self.store.set_repo_digest(tenant, &reference.repository(), &digest, &row.id).await?;
        let name = reference.with_tag(tag).familiar();
        self.events.emit(tenant, "image", "push", &name, &[("name", &name)]).await;
        Ok(())
    }

    /// Pushes one layer unless the repository has it (`Layer already exists`) or can mount it
    /// from a repository the tenant pulled it from (`Mounted from …`).
    async fn push_layer(
        &self,
        tenant: &str,
        reference: &Reference,
        client: &RegistryClient,
        diff_id: &str,
        progress: &ProgressSender,
    ) -> Result<CompressedLayer> {
        let id = short_digest(diff_id);
        let layers = self.layers.clone();
        let owned = diff_id.to_string();
        let compressed = tokio::task::spawn_blocking(move || layers.compress_layer(&owned)).await??;
        if client.blob_exists(&compressed.digest).await.map_err(stream_error)? {
            progress.send(Progress::layer(id, "Layer already exists"));
            return Ok(compressed);
        }
        let mut location = None;
        let candidates = compressed
            .sources
            .iter()
            .filter(|s| s.tenant == tenant && s.registry == reference.domain() && s.repository != reference.path());
        for source in candidates {
            match client.mount_blob(&compressed.digest, &source.repository).await {
                Ok(MountOutcome::Mounted) => {
                    progress.send(Progress::layer(id, format!("Mounted from {}", source.repository)));
                    return Ok(compressed);
                }
                Ok(MountOutcome::Upload(session)) => {
                    location = Some(session);
                    break;
                }
                Err(e) => tracing::debug!(error = %e, from = %source.repository, "cross-repository mount failed"),
            }
        }
        let location = match location {
            Some(location) => location,
            None => client.start_upload().await.map_err(stream_error)?,
        };
        let file = tokio::fs::File::open(self.layers.compressed_blob(&compressed.digest)?).await?;
        let total = compressed.size;
        let (sender, bar_id) = (progress.clone(), id.clone());
        let mut sent = 0u64;
        let mut throttle = Throttle::new();
        let body = ReaderStream::with_capacity(file, 128 * 1024).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                sent += bytes.len() as u64;
                if throttle.ready(sent >= total) {
                    sender.send(Progress::bytes(bar_id.clone(), "Pushing", sent, total));
                }
            }
            chunk
        });
        client
            .finish_upload(&location, &compressed.digest, total, reqwest::Body::wrap_stream(body))
            .await
            .map_err(stream_error)?;
        progress.send(Progress::layer(id, "Pushed"));
        Ok(compressed)
    }
}

/// The manifest for a config and its compressed layers: Docker schema 2 when every layer is
/// gzip (as dockerd pushes), OCI otherwise (zstd or uncompressed layers pulled as such).
fn build_manifest(config_digest: &str, config_size: u64, layers: &[CompressedLayer]) -> (&'static str, Vec<u8>) {
    let gzip = |t: &str| t == DOCKER_LAYER_GZIP || t == OCI_LAYER_GZIP;
    let docker = layers.iter().all(|l| gzip(&l.media_type));
    let descriptor = |media_type: &str, digest: &str, size: u64| Descriptor {
        media_type: media_type.to_string(),
        size,
        digest: digest.to_string(),
        urls: Vec::new(),
        platform: None,
        annotations: None,
    };
    let (media_type, config_type) = if docker { (DOCKER_MANIFEST, DOCKER_CONFIG) } else { (OCI_MANIFEST, OCI_CONFIG) };
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type.to_string()),
        config: descriptor(config_type, config_digest, config_size),
        layers: layers
            .iter()
            .map(|l| {
                let layer_type = match (docker, l.media_type.as_str()) {
                    (true, _) => DOCKER_LAYER_GZIP,
                    (false, DOCKER_LAYER_GZIP) => OCI_LAYER_GZIP,
                    (false, other) => other,
                };
                descriptor(layer_type, &l.digest, l.size)
            })
            .collect(),
    };
    (media_type, serde_json::to_vec_pretty(&manifest).expect("a manifest always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::registry::manifest::{Manifest, OCI_LAYER_ZSTD, parse_manifest};

    fn layer(media_type: &str, n: u8) -> CompressedLayer {
        CompressedLayer {
            digest: format!("sha256:{}", hex::encode([n; 32])),
            size: u64::from(n) * 100,
            media_type: media_type.into(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn gzip_layers_make_a_docker_manifest() {
        let (media_type, bytes) =
            build_manifest("sha256:cfg", 321, &[layer(DOCKER_LAYER_GZIP, 1), layer(OCI_LAYER_GZIP, 2)]);
        assert_eq!(media_type, DOCKER_MANIFEST);
        let Manifest::Image(manifest) = parse_manifest(media_type, &bytes).unwrap() else { panic!() };
        assert_eq!(manifest.config.media_type, DOCKER_CONFIG);
        assert_eq!((manifest.config.size, manifest.config.digest.as_str()), (321, "sha256:cfg"));
        assert!(manifest.layers.iter().all(|l| l.media_type == DOCKER_LAYER_GZIP));
        assert_eq!(manifest.layers[1].size, 200);
        // The same input gives the same bytes: repeated pushes keep their digest.
        assert_eq!(
            build_manifest("sha256:cfg", 321, &[layer(DOCKER_LAYER_GZIP, 1), layer(OCI_LAYER_GZIP, 2)]).1,
            bytes
        );
    }

    #[test]
    fn zstd_layers_make_an_oci_manifest() {
        let (media_type, bytes) =
            build_manifest("sha256:cfg", 1, &[layer(DOCKER_LAYER_GZIP, 1), layer(OCI_LAYER_ZSTD, 2)]);
        assert_eq!(media_type, OCI_MANIFEST);
        let Manifest::Image(manifest) = parse_manifest(media_type, &bytes).unwrap() else { panic!() };
        assert_eq!(manifest.config.media_type, OCI_CONFIG);
        assert_eq!(manifest.layers[0].media_type, OCI_LAYER_GZIP);
        assert_eq!(manifest.layers[1].media_type, OCI_LAYER_ZSTD);
    }
}
