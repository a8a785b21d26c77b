//! `docker pull`: resolve the reference to one image manifest (through an index for the wanted
//! platform), fetch and verify the config, download the layers the tenant does not have yet
//! (several at once, each checked against its digest), then extract them into the layer store
//! and record the image, its tag and its registry digest, reporting progress as dockerd does.
//!
//! Nothing is recorded until every blob is verified and extracted: a failed pull leaves no
//! image, and the layers it added are removed again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::images::{digest_of, new_layer};
use super::progress::{Progress, ProgressSender, Throttle, short_digest};
use super::{Engine, Error, Result};
use crate::images::compressed_layers::{CompressedLayer, LayerSource};
use crate::images::config::ImageConfig;
use crate::images::layer_store::LayerStore;
use crate::images::reference::{Reference, is_valid_tag};
use crate::images::registry::client::transport;
use crate::images::registry::manifest::{
    DOCKER_CONFIG, Descriptor, ImageManifest, MAX_CONFIG_BYTES, Manifest, OCI_CONFIG, Platform, PlatformSpec,
    is_layer_media_type, parse_manifest, select_platform,
};
use crate::images::registry::{Credentials, Endpoint, RegistryClient, RegistryError};
use crate::store::images::NewLayer;

/// Layers downloaded at once (dockerd's default `max-concurrent-downloads`).
const MAX_CONCURRENT_DOWNLOADS: usize = 3;

/// What `docker pull` asked for.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `fromImage`: the repository, possibly with a tag or digest.
    pub image: String,
    /// `tag`: a tag or a digest; overrides one in `image`.
    pub tag: Option<String>,
    /// `platform`: `os/arch[/variant]`; the host's when absent.
    pub platform: Option<String>,
    /// The request's `X-Registry-Auth`.
    pub credentials: Option<Credentials>,
}

/// A reference resolved to one image.
struct ResolvedImage {
    /// The client the manifest came through (layers come through it too).
    client: RegistryClient,
    /// The digest `Digest:` prints and RepoDigests record: the index's when there is one.
    digest: String,
    /// The platform's image manifest.
    manifest: ImageManifest,
    /// The config blob, verified.
    config_bytes: Vec<u8>,
    /// The config, parsed.
    config: ImageConfig,
}

impl Engine {
    /// Pulls an image for `tenant`, sending progress as it goes; returns the image id. Errors
    /// before the first message (an unknown tag, refused credentials) are the caller's to
    /// report as an HTTP status; later ones end the stream.
    pub async fn pull_image(&self, tenant: &str, request: PullRequest, progress: &ProgressSender) -> Result<String> {
        let reference = pull_reference(&request.image, request.tag.as_deref())?;
        let platform = match request.platform.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(text) => Some(PlatformSpec::parse(text).map_err(Error::InvalidArgument)?),
            None => None,
        };
        self.check_storage_quota(tenant, 0).await?;
        let resolved = self
            .resolve_pull(&reference, platform.as_ref(), request.credentials)
            .await
            .map_err(|e| pull_error(&reference, e))?;
        let id = digest_of(&resolved.config_bytes);
        let have_image = self.store.image(tenant, &id).await?.is_some();
        if !have_image {
            // The compressed sizes: a floor of what the image will take once extracted.
            let incoming: u64 = resolved.manifest.layers.iter().map(|l| l.size).sum();
            self.check_storage_quota(tenant, i64::try_from(incoming).unwrap_or(i64::MAX)).await?;
        }
        let tag_or_digest = reference.digest().or(reference.tag()).unwrap_or("latest");
        progress.send(Progress::with_id(tag_or_digest, format!("Pulling from {}", reference.path())));

        let downloads =
            if have_image { HashMap::new() } else { self.download_layers(tenant, &resolved, progress).await? };
        let updated = {
            let _guard = self.image_lock.lock().await;
            if self.store.image(tenant, &id).await?.is_none() {
                self.commit_pull(tenant, &reference, &resolved, downloads, progress).await?;
            }
            self.name_pulled_image(tenant, &reference, &resolved.digest, &id).await?
        };
        progress.send(Progress::status(format!("Digest: {}", resolved.digest)));
        let familiar = reference.familiar();
        let outcome = if updated { "Downloaded newer image for" } else { "Image is up to date for" };
        progress.send(Progress::status(format!("Status: {outcome} {familiar}")));
        self.events.emit(tenant, "image", "pull", &familiar, &[("name", &familiar)]).await;
        Ok(id)
    }

    /// Finds the image manifest and config: through each Docker Hub mirror in turn (any failure
    /// falls through), then the registry itself.
    async fn resolve_pull(
        &self,
        reference: &Reference,
        platform: Option<&PlatformSpec>,
        credentials: Option<Credentials>,
    ) -> std::result::Result<ResolvedImage, RegistryError> {
        let (mirrors, direct): (Vec<Endpoint>, Vec<Endpoint>) =
            self.registry.endpoints(reference.domain(), true).into_iter().partition(|e| e.mirror);
        for mirror in mirrors {
            match resolve_at(std::slice::from_ref(&mirror), reference, platform, credentials.clone()).await {
                Ok(resolved) => return Ok(resolved),
                Err(e) => tracing::info!(mirror = %mirror.base, error = %e, "registry mirror failed; trying the next"),
            }
        }
        resolve_at(&direct, reference, platform, credentials).await
    }

    /// Announces every layer (`Already exists` for those the tenant has, `Pulling fs layer` for
    /// the others) and downloads the others, several at once; returns the verified downloads
    /// by digest.
    async fn download_layers(
        &self,
        tenant: &str,
        resolved: &ResolvedImage,
        progress: &ProgressSender,
    ) -> Result<HashMap<String, tempfile::TempPath>> {
        let mut wanted: Vec<&Descriptor> = Vec::new();
        let mut seen = HashSet::new();
        for (layer, diff_id) in resolved.manifest.layers.iter().zip(&resolved.config.rootfs.diff_ids) {
            let id = short_digest(&layer.digest);
            if self.store.tenant_layer(tenant, diff_id).await?.is_some() {
                progress.send(Progress::layer(id, "Already exists"));
            } else {
                progress.send(Progress::layer(id, "Pulling fs layer"));
                if seen.insert(layer.digest.as_str()) {
                    wanted.push(layer);
                }
            }
        }
        for layer in wanted.iter().skip(MAX_CONCURRENT_DOWNLOADS) {
            progress.send(Progress::layer(short_digest(&layer.digest), "Waiting"));
        }
        let staging = self.staging_dir();
        // Collected first: a lazy iterator of futures held across the await is not `Send`.
        let mut transfers = Vec::new();
        for layer in wanted {
            transfers.push(download_layer(&resolved.client, layer, &staging, progress));
        }
        futures::stream::iter(transfers)
            .buffer_unordered(MAX_CONCURRENT_DOWNLOADS)
            .try_collect()
            .await
            .map_err(stream_error)
    }

    /// Extracts the downloaded layers in order and records the image (the caller holds the
    /// image lock). On failure, the layers this pull added are removed again.
    async fn commit_pull(
        &self,
        tenant: &str,
        reference: &Reference,
        resolved: &ResolvedImage,
        mut downloads: HashMap<String, tempfile::TempPath>,
        progress: &ProgressSender,
    ) -> Result<()> {
        let mut added_now: Vec<String> = Vec::new();
        let result = async {
            let mut layers: Vec<NewLayer> = Vec::new();
            let mut done: HashMap<String, NewLayer> = HashMap::new();
            let source = LayerSource {
                tenant: tenant.to_string(),
                registry: reference.domain().to_string(),
                repository: reference.path().to_string(),
            };
            for (layer, diff_id) in resolved.manifest.layers.iter().zip(&resolved.config.rootfs.diff_ids) {
                if let Some(known) = done.get(diff_id) {
                    layers.push(known.clone());
                    continue;
                }
                let record = match downloads.remove(&layer.digest) {
                    Some(download) => {
                        let (record, fresh) =
                            self.extract_layer(layer, diff_id, download, source.clone(), progress).await?;
                        if fresh {
                            added_now.push(diff_id.clone());
                        }
                        record
                    }
                    None => match self.store.tenant_layer(tenant, diff_id).await? {
                        Some((size, tar_size)) if self.layers.has_layer(diff_id) => {
                            NewLayer { diff_id: diff_id.clone(), size: size as u64, tar_size: tar_size as u64 }
                        }
                        _ => {
                            return Err(Error::Internal(anyhow::anyhow!(
                                "layer {diff_id} was removed while the pull ran; pull again"
                            )));
                        }
                    },
                };
                done.insert(diff_id.clone(), record.clone());
                layers.push(record);
            }
            let id = digest_of(&resolved.config_bytes);
            self.store
                .insert_image(tenant, &id, &resolved.config_bytes, resolved.config.created.as_deref(), &layers)
                .await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            for diff_id in added_now {
                let layers = self.layers.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || layers.remove_layer(&diff_id)).await? {
                    tracing::warn!(error = %e, "could not remove a layer of a failed pull");
                }
            }
        }
        result
    }

    /// Extracts one downloaded layer, checks its diff-id against the config's, and keeps the
    /// compressed blob for later pushes; returns its record and whether the store is new to it.
    async fn extract_layer(
        &self,
        layer: &Descriptor,
        diff_id: &str,
        download: tempfile::TempPath,
        source: LayerSource,
        progress: &ProgressSender,
    ) -> Result<(NewLayer, bool)> {
        let id = short_digest(&layer.digest);
        let layers: Arc<LayerStore> = self.layers.clone();
        let (layer, diff_id, sender) = (layer.clone(), diff_id.to_string(), progress.clone());
        let (record, fresh) = tokio::task::spawn_blocking(move || -> Result<(NewLayer, bool)> {
            let file = File::open(&download)?;
            let reader = CountingReader {
                inner: file,
                count: 0,
                total: layer.size,
                id: id.clone(),
                progress: &sender,
                throttle: Throttle::new(),
            };
            let added = layers
                .add_layer(reader)
                .map_err(|e| Error::Internal(anyhow::anyhow!("failed to register layer: {e}")))?;
            if added.diff_id != diff_id {
                if !added.already_present {
                    let _ = layers.remove_layer(&added.diff_id);
                }
                return Err(Error::Internal(anyhow::anyhow!(
                    "failed to register layer: the layer {} unpacks to {}, but the image config says {diff_id}",
                    layer.digest,
                    added.diff_id
                )));
            }
            let compressed = CompressedLayer {
                digest: layer.digest.clone(),
                size: layer.size,
                media_type: layer.media_type.clone(),
                sources: Vec::new(),
            };
            if let Err(e) = layers.keep_compressed(&diff_id, &download, compressed, Some(source)) {
                tracing::warn!(error = %e, digest = %layer.digest, "could not keep the compressed layer");
            }
            sender.send(Progress::layer(id, "Pull complete"));
            Ok((new_layer(&added), !added.already_present))
        })
        .await??;
        Ok((record, fresh))
    }

    /// Points the pulled reference at the image: the tag (for a pull by tag) and the registry
    /// digest; returns whether a name is new (dockerd's "Downloaded newer image").
    async fn name_pulled_image(&self, tenant: &str, reference: &Reference, digest: &str, id: &str) -> Result<bool> {
        let repository = reference.repository();
        let digest_is_new = self.store.set_repo_digest(tenant, &repository, digest, id).await?;
        let Some(tag) = reference.tag().filter(|_| reference.digest().is_none()) else {
            return Ok(digest_is_new);
        };
        if self.store.tag_target(tenant, &repository, tag).await?.as_deref() == Some(id) {
            return Ok(false);
        }
        self.store.set_tag(tenant, &repository, tag, id).await?;
        Ok(true)
    }
}

/// The reference a pull names: `fromImage` with `tag` applied (a `tag` that is a digest makes a
/// pull by digest), `:latest` when neither names a version.
pub fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference> {
    let invalid = |e: crate::images::reference::ReferenceError| Error::InvalidArgument(e.to_string());
    let reference = Reference::parse(image.trim()).map_err(invalid)?;
    let base = reference.repository();
    let text = match tag.map(str::trim).filter(|t| !t.is_empty()) {
        Some(digest) if digest.contains(':') => format!("{base}@{digest}"),
        Some(tag) if !is_valid_tag(tag) => return Err(Error::InvalidArgument(format!("invalid tag format: {tag}"))),
        Some(tag) => format!("{base}:{tag}"),
        None => match (reference.digest(), reference.tag()) {
            (Some(digest), _) => format!("{base}@{digest}"),
            (None, Some(tag)) => format!("{base}:{tag}"),
            (None, None) => format!("{base}:latest"),
        },
    };
    Reference::parse(&text).map_err(invalid)
}

/// Resolves a reference at one registry (the first of `endpoints` that answers).
async fn resolve_at(
    endpoints: &[Endpoint],
    reference: &Reference,
    platform: Option<&PlatformSpec>,
    credentials: Option<Credentials>,
) -> std::result::Result<ResolvedImage, RegistryError> {
    let client = RegistryClient::connect(endpoints, reference.path(), credentials, false, &[]).await?;
    let version = reference.digest().or(reference.tag()).unwrap_or("latest");
    let fetched = client.get_manifest(version).await?;
    let digest = sha256_digest(&fetched.bytes);
    if let Some(wanted) = reference.digest() {
        check_digest(wanted, &digest, "manifest")?;
    }
    let manifest = match parse_manifest(&fetched.content_type, &fetched.bytes)? {
        Manifest::Image(manifest) => *manifest,
        Manifest::Index(index) => {
            let wanted = platform.cloned().unwrap_or_else(PlatformSpec::host);
            let entry = select_platform(&index, &wanted).ok_or_else(|| {
                RegistryError::NoMatchingPlatform(format!(
                    "no matching manifest for {wanted} in the manifest list entries"
                ))
            })?;
            check_digest_form(&entry.digest)?;
            let inner = client.get_manifest(&entry.digest).await?;
            check_digest(&entry.digest, &sha256_digest(&inner.bytes), "manifest")?;
            match parse_manifest(&inner.content_type, &inner.bytes)? {
                Manifest::Image(manifest) => *manifest,
                Manifest::Index(_) => {
                    return Err(RegistryError::Unsupported("an index entry is another index".into()));
                }
            }
        }
    };
    if !matches!(manifest.config.media_type.as_str(), DOCKER_CONFIG | OCI_CONFIG | "") {
        return Err(RegistryError::Unsupported(format!(
            "{} is not a container image: its config is {}",
            reference.familiar(),
            manifest.config.media_type
        )));
    }
    for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
        check_digest_form(&descriptor.digest)?;
    }
    if let Some(layer) = manifest.layers.iter().find(|l| !is_layer_media_type(&l.media_type)) {
        return Err(RegistryError::Unsupported(format!("unsupported layer media type {}", layer.media_type)));
    }
    let config_bytes = client.get_small_blob(&manifest.config.digest, MAX_CONFIG_BYTES).await?;
    check_digest(&manifest.config.digest, &sha256_digest(&config_bytes), "image config")?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| RegistryError::Protocol(format!("invalid image config {}: {e}", manifest.config.digest)))?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Protocol(format!(
            "the manifest lists {} layers but the image config {}",
            manifest.layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    if let Some(wanted) = platform {
        let actual = Platform {
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            os_version: None,
            variant: config.variant.clone(),
        };
        if !wanted.matches(&actual) {
            let actual = PlatformSpec::normalized(&config.os, &config.architecture, config.variant.as_deref());
            return Err(RegistryError::NoMatchingPlatform(format!(
                "image with reference {} was found but does not match the specified platform: wanted {wanted}, actual: {actual}",
                reference.familiar()
            )));
        }
    }
    Ok(ResolvedImage { client, digest, manifest, config_bytes, config })
}

/// Downloads one layer blob to a staging file, hashing as it goes; fails on any mismatch with
/// the descriptor's digest or size.
async fn download_layer(
    client: &RegistryClient,
    layer: &Descriptor,
    staging: &Path,
    progress: &ProgressSender,
) -> std::result::Result<(String, tempfile::TempPath), RegistryError> {
    let id = short_digest(&layer.digest);
    if !layer.digest.starts_with("sha256:") {
        return Err(RegistryError::Unsupported(format!("unsupported digest algorithm in {}", layer.digest)));
    }
    let mut reply = client.get_blob(&layer.digest).await?;
    let url = reply.url().to_string();
    let staged = tempfile::Builder::new().prefix("pull-").tempfile_in(staging)?.into_temp_path();
    let mut file = tokio::fs::File::create(&staged).await?;
    let mut hasher = Sha256::new();
    let mut current = 0u64;
    let mut throttle = Throttle::new();
    let mismatch = || RegistryError::DigestMismatch { what: "filesystem layer", digest: layer.digest.clone() };
    while let Some(chunk) = reply.chunk().await.map_err(|e| transport("Get", &url, &e))? {
        if progress.is_closed() {
            return Err(RegistryError::Canceled);
        }
        current += chunk.len() as u64;
        if current > layer.size {
            return Err(mismatch());
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
        if throttle.ready(current == layer.size) {
            progress.send(Progress::bytes(id.clone(), "Downloading", current, layer.size));
        }
    }
    file.sync_all().await?;
    drop(file);
    progress.send(Progress::layer(id.clone(), "Verifying Checksum"));
    if current != layer.size || format!("sha256:{}", hex::encode(hasher.finalize())) != layer.digest {
        return Err(mismatch());
    }
    progress.send(Progress::layer(id, "Download complete"));
    Ok((layer.digest.clone(), staged))
}

/// A reader that reports `Extracting` progress over the compressed bytes read.
struct CountingReader<'a> {
    inner: File,
    count: u64,
    total: u64,
    id: String,
    progress: &'a ProgressSender,
    throttle: Throttle,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if n > 0 && self.throttle.ready(self.count >= self.total) {
            self.progress.send(Progress::bytes(self.id.clone(), "Extracting", self.count, self.total));
        }
        Ok(n)
    }
}

/// `sha256:<hex>` of some bytes.
fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Refuses a digest that is not `sha256:<64 lowercase hex>` before it goes into a URL or a path.
fn check_digest_form(digest: &str) -> std::result::Result<(), RegistryError> {
    crate::images::layer_store::digest_hex(digest)
        .map(drop)
        .map_err(|_| RegistryError::Unsupported(format!("unsupported or invalid digest {digest:?}")))
}

/// Compares a computed digest with the expected one (only sha256 is computed).
fn check_digest(expected: &str, actual: &str, what: &'static str) -> std::result::Result<(), RegistryError> {
    if !expected.starts_with("sha256:") {
        return Err(RegistryError::Unsupported(format!("unsupported digest algorithm in {expected}")));
    }
    if expected != actual {
        return Err(RegistryError::DigestMismatch { what, digest: expected.to_string() });
    }
    Ok(())
}

/// A registry error before the stream starts, with dockerd's status and wording: the tag or
/// repository is unknown (404), or anything else (500).
fn pull_error(reference: &Reference, error: RegistryError) -> Error {
    match error.code() {
        Some("NAME_UNKNOWN" | "DENIED") => Error::NotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {error}",
            reference.familiar_repository()
        )),
        _ if error.is_not_found() => {
            Error::NotFound(format!("manifest for {} not found: {error}", reference.familiar()))
        }
        _ if matches!(error, RegistryError::NoMatchingPlatform(_)) => Error::NotFound(error.to_string()),
        _ => stream_error(error),
    }
}

/// A registry error once the stream has started: its message is all the client sees.
pub(crate) fn stream_error(error: RegistryError) -> Error {
    Error::Internal(anyhow::anyhow!("{error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references_apply_the_tag_parameter() {
        let r = |image: &str, tag: Option<&str>| pull_reference(image, tag).unwrap().to_string();
        assert_eq!(r("busybox", None), "docker.io/library/busybox:latest");
        assert_eq!(r("busybox", Some("1.36")), "docker.io/library/busybox:1.36");
        assert_eq!(r("127.0.0.1:5000/busybox", Some("latest")), "127.0.0.1:5000/busybox:latest");
        assert_eq!(r("busybox:old", Some("new")), "docker.io/library/busybox:new");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(r("127.0.0.1:5000/bb", Some(&digest)), format!("127.0.0.1:5000/bb@{digest}"));
        assert_eq!(r(&format!("bb@{digest}"), None), format!("docker.io/library/bb@{digest}"));
        assert!(pull_reference("busybox", Some("bad tag")).is_err());
        assert!(pull_reference("BusyBox", None).is_err());
    }

    #[test]
    fn errors_before_the_stream_read_like_dockerd() {
        let reference = pull_reference("127.0.0.1:5000/busybox", Some("nope")).unwrap();
        let unknown =
            RegistryError::from_reply(404, br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#);
        let error = pull_error(&reference, unknown);
        assert!(matches!(error, Error::NotFound(_)));
        assert_eq!(
            error.to_string(),
            "manifest for 127.0.0.1:5000/busybox:nope not found: manifest unknown: manifest unknown"
        );
        let denied = RegistryError::from_reply(
            401,
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        );
        assert_eq!(
            pull_error(&reference, denied).to_string(),
            "pull access denied for 127.0.0.1:5000/busybox, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
        let missing = RegistryError::NoBasicCredentials { method: "Get".into(), url: "http://x/v2/".into() };
        assert!(matches!(pull_error(&reference, missing), Error::Internal(_)));
    }

    #[test]
    fn digests_are_checked() {
        let digest = sha256_digest(b"x");
        assert!(check_digest(&digest, &digest, "manifest").is_ok());
        let error = check_digest(&digest, &sha256_digest(b"y"), "manifest").unwrap_err();
        assert_eq!(error.to_string(), format!("manifest verification failed for digest {digest}"));
        assert!(check_digest(&format!("sha512:{}", "a".repeat(128)), &digest, "manifest").is_err());
        assert!(check_digest_form(&digest).is_ok());
        for bad in ["sha256:../../etc", "sha256:ABC", "md5:abc"] {
            assert!(check_digest_form(bad).is_err(), "{bad}");
        }
    }
}
