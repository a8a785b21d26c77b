//! Image archives for `docker load` and `docker save`.
//!
//! Reading accepts the docker-archive layouts of every docker age (the `manifest.json` written
//! before and after docker 25) and plain OCI image layouts. Writing produces the layout dockerd
//! 25+ writes, which is at once a docker-archive and an OCI image layout.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::images::compression::decompressed_reader;

/// OCI image index media type.
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker manifest list media type (the docker twin of an OCI index).
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest media type.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker image manifest media type (the docker twin of an OCI manifest).
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI image config media type.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer media type.
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Annotation holding an image's full name, as containerd and dockerd 25+ write it.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation holding an image's reference name (usually a bare tag).
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation marking buildkit attestation manifests inside an index.
const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// How deep nested indexes may go before the archive is called invalid.
const MAX_INDEX_DEPTH: usize = 8;

/// Why a load archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is malformed, unsafe or incomplete.
    #[error("invalid archive: {0}")]
    Invalid(String),
    /// Reading the stream or writing the working directory failed.
    #[error("error reading archive: {0}")]
    Io(#[from] io::Error),
}

/// Builds an [`ArchiveError::Invalid`] from a message.
fn invalid(message: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(message.into())
}

/// One image found in a load archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// The config JSON bytes exactly as in the archive; their sha256 is the image id.
    pub config: Vec<u8>,
    /// Layer files in order (absolute paths inside the workdir), possibly compressed.
    pub layers: Vec<PathBuf>,
    /// Names as written in the archive; empty when the image was saved by id.
    pub repo_tags: Vec<String>,
}

/// Unpacks a (possibly compressed) load archive into `workdir` and lists the images it holds.
pub fn read_archive<R: Read>(reader: R, workdir: &Path) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let reader = decompressed_reader(reader)?;
    unpack(reader, workdir)?;
    images_in(workdir)
}

/// Lists the images of an already unpacked archive, preferring `manifest.json` over `index.json`.
fn images_in(workdir: &Path) -> Result<Vec<ArchiveImage>, ArchiveError> {
    if workdir.join("manifest.json").is_file() {
        read_docker_archive(workdir)
    } else if workdir.join("index.json").is_file() {
        read_oci_layout(workdir)
    } else {
        Err(invalid("no manifest.json or index.json found"))
    }
}

// ---------------------------------------------------------------------------------------------
// Unpacking the outer tar
// ---------------------------------------------------------------------------------------------

/// A symlink or hardlink from the outer tar, resolved once every regular file is in place.
struct PendingLink {
    /// Where the link sits, relative to the workdir.
    path: PathBuf,
    /// What it points at, relative to the workdir, already normalized to stay inside it.
    target: PathBuf,
}

/// Turns an archive path into a relative path without `.`, `..` or root components.
///
/// Returns `None` for absolute paths and paths with `..`; an empty result means "the root".
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(clean)
}

/// Resolves `target` lexically against `base`, returning `None` if it would leave the root.
fn normalize_within(base: &Path, target: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in base.components().chain(target.components()) {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Unpacks the outer tar into `workdir`: regular files and directories only, links resolved
/// afterwards by hard-linking or copying their in-tree targets, every other entry ignored.
fn unpack(reader: impl Read, workdir: &Path) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    let mut links = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw_path = entry.path()?.into_owned();
        let Some(path) = safe_relative(&raw_path) else {
            return Err(invalid(format!("unsafe path {:?} in archive", raw_path.display().to_string())));
        };
        if path.as_os_str().is_empty() {
            continue;
        }
        let destination = workdir.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&destination)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = destination.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut file = File::create(&destination)?;
                io::copy(&mut entry, &mut file)?;
            }
            tar::EntryType::Symlink => {
                let Some(target) = entry.link_name()? else {
                    continue;
                };
                let base = path.parent().unwrap_or(Path::new(""));
                if let Some(target) = normalize_within(base, &target) {
                    links.push(PendingLink { path, target });
                }
            }
            tar::EntryType::Link => {
                let Some(target) = entry.link_name()? else {
                    continue;
                };
                if let Some(target) = normalize_within(Path::new(""), &target) {
                    links.push(PendingLink { path, target });
                }
            }
            _ => {}
        }
    }
    resolve_links(workdir, links)
}

/// Materializes links whose targets are regular files inside `workdir`; links to links are
/// followed by repeating until nothing changes, and anything else is dropped.
fn resolve_links(workdir: &Path, mut links: Vec<PendingLink>) -> Result<(), ArchiveError> {
    loop {
        let mut unresolved = Vec::new();
        let mut progressed = false;
        for link in links {
            let target = workdir.join(&link.target);
            let is_file = fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_file());
            if !is_file || link.target == link.path {
                unresolved.push(link);
                continue;
            }
            let destination = workdir.join(&link.path);
            if let Some(parent) = destination.parent() {
                fs::create_dir_all(parent)?;
            }
            if fs::symlink_metadata(&destination).is_ok_and(|meta| meta.is_file()) {
                fs::remove_file(&destination)?;
            }
            if fs::hard_link(&target, &destination).is_err() {
                fs::copy(&target, &destination)?;
            }
            progressed = true;
        }
        if unresolved.is_empty() || !progressed {
            return Ok(());
        }
        links = unresolved;
    }
}

// ---------------------------------------------------------------------------------------------
// docker-archive (manifest.json)
// ---------------------------------------------------------------------------------------------

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Deserialize, Serialize)]
struct DockerManifestEntry {
    /// Path of the config JSON inside the archive.
    #[serde(rename = "Config")]
    config: String,
    /// Names of the image; `null` or absent when saved by id.
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    /// Paths of the layer files inside the archive, base layer first.
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

/// Resolves a path read from an archive's JSON under `workdir`, requiring a regular file.
fn archive_file(workdir: &Path, path: &str, what: &str) -> Result<PathBuf, ArchiveError> {
    let relative = safe_relative(Path::new(path))
        .filter(|relative| !relative.as_os_str().is_empty())
        .ok_or_else(|| invalid(format!("unsafe {what} path {path:?}")))?;
    let full = workdir.join(relative);
    if !fs::symlink_metadata(&full).is_ok_and(|meta| meta.is_file()) {
        return Err(invalid(format!("{what} {path} not found")));
    }
    Ok(full)
}

/// Reads the images listed in a docker-archive `manifest.json`.
fn read_docker_archive(workdir: &Path) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let manifest = fs::read(workdir.join("manifest.json"))?;
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&manifest).map_err(|err| invalid(format!("manifest.json: {err}")))?;
    if entries.is_empty() {
        return Err(invalid("manifest.json lists no images"));
    }
    let mut images = Vec::new();
    for entry in entries {
        let config_path = archive_file(workdir, &entry.config, "config")?;
        let config = fs::read(config_path)?;
        let mut layers = Vec::new();
        for layer in entry.layers.unwrap_or_default() {
            layers.push(archive_file(workdir, &layer, "layer")?);
        }
        images.push(ArchiveImage { config, layers, repo_tags: entry.repo_tags.unwrap_or_default() });
    }
    Ok(images)
}

// ---------------------------------------------------------------------------------------------
// OCI image layout (index.json)
// ---------------------------------------------------------------------------------------------

/// An OCI content descriptor, as found in indexes and manifests.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Descriptor {
    /// What the blob is.
    #[serde(rename = "mediaType", default)]
    media_type: String,
    /// The blob's digest, `sha256:<hex>`.
    digest: String,
    /// The blob's size in bytes.
    #[serde(default)]
    size: Option<u64>,
    /// Free-form annotations such as the image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    /// The platform of a manifest inside an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
}

impl Descriptor {
    /// Returns the annotation `key`, if present.
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The platform an index entry is built for.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Platform {
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    os: String,
    /// CPU architecture in Go's naming, e.g. `amd64`.
    #[serde(default)]
    architecture: String,
}

/// An OCI index or manifest, with every field optional so one type can tell them apart.
#[derive(Debug, Deserialize)]
struct OciDocument {
    /// The document's own media type, when it states one.
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    /// Entries of an index.
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    /// Config of a manifest.
    #[serde(default)]
    config: Option<Descriptor>,
    /// Layers of a manifest.
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// What an OCI document turned out to be.
enum DocumentKind {
    /// An image index or manifest list.
    Index,
    /// An image manifest.
    Manifest,
    /// Something else (an artifact, a signature…), skipped.
    Other,
}

/// Classifies a document by its descriptor's media type, else its own, else its shape.
fn document_kind(descriptor: &Descriptor, document: &OciDocument) -> DocumentKind {
    let media_type = if descriptor.media_type.is_empty() {
        document.media_type.clone().unwrap_or_default()
    } else {
        descriptor.media_type.clone()
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => DocumentKind::Index,
        OCI_MANIFEST | DOCKER_MANIFEST => DocumentKind::Manifest,
        "" if document.manifests.is_some() => DocumentKind::Index,
        "" if document.config.is_some() => DocumentKind::Manifest,
        _ => DocumentKind::Other,
    }
}

/// The Go (OCI) name of the architecture this daemon runs on.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Reads blobs of an unpacked OCI layout, checking each against its descriptor once.
struct BlobStore<'a> {
    /// The unpacked archive.
    workdir: &'a Path,
    /// Digests already verified, so shared layers are hashed once.
    verified: HashSet<String>,
}

impl BlobStore<'_> {
    /// The path of a descriptor's blob, or an error if its digest is malformed.
    fn path_of(&self, descriptor: &Descriptor) -> Result<PathBuf, ArchiveError> {
        let hex = digest_hex(&descriptor.digest)
            .ok_or_else(|| invalid(format!("unsupported or malformed digest {:?}", descriptor.digest)))?;
        Ok(self.workdir.join("blobs").join("sha256").join(hex))
    }

    /// Whether a descriptor's blob is present in the layout.
    fn has(&self, descriptor: &Descriptor) -> bool {
        self.path_of(descriptor).is_ok_and(|path| fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file()))
    }

    /// Returns the verified path of a descriptor's blob; `what` names it in errors.
    fn blob(&mut self, descriptor: &Descriptor, what: &str) -> Result<PathBuf, ArchiveError> {
        let path = self.path_of(descriptor)?;
        let name = format!("blobs/sha256/{}", &descriptor.digest["sha256:".len()..]);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return Err(invalid(format!("{what} {name} not found")));
        };
        if !meta.is_file() {
            return Err(invalid(format!("{what} {name} not found")));
        }
        if self.verified.contains(&descriptor.digest) {
            return Ok(path);
        }
        if let Some(size) = descriptor.size
            && size != meta.len()
        {
            return Err(invalid(format!("{what} {name} has {} bytes but its descriptor says {size}", meta.len())));
        }
        let mut hasher = Sha256::new();
        io::copy(&mut File::open(&path)?, &mut hasher)?;
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != descriptor.digest {
            return Err(invalid(format!("{what} {name} does not match its digest (content is {actual})")));
        }
        self.verified.insert(descriptor.digest.clone());
        Ok(path)
    }

    /// Reads and parses a JSON blob (an index or manifest).
    fn document(&mut self, descriptor: &Descriptor) -> Result<OciDocument, ArchiveError> {
        let path = self.blob(descriptor, "manifest")?;
        let bytes = fs::read(path)?;
        serde_json::from_slice(&bytes)
            .map_err(|err| invalid(format!("manifest {} is not valid JSON: {err}", descriptor.digest)))
    }
}

/// Returns the hex part of a `sha256:<64 lowercase hex>` digest.
fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    let well_formed = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then_some(hex)
}

/// The name an index entry gives its image, if it gives a usable one.
fn descriptor_name(descriptor: &Descriptor) -> Option<String> {
    if let Some(name) = descriptor.annotation(ANNOTATION_IMAGE_NAME)
        && !name.is_empty()
    {
        return Some(name.to_string());
    }
    let reference = descriptor.annotation(ANNOTATION_REF_NAME)?;
    (reference.contains(':') || reference.contains('/')).then(|| reference.to_string())
}

/// Reads the images of a plain OCI image layout, merging entries that name the same manifest.
fn read_oci_layout(workdir: &Path) -> Result<Vec<ArchiveImage>, ArchiveError> {
    let index_bytes = fs::read(workdir.join("index.json"))?;
    let index: OciDocument =
        serde_json::from_slice(&index_bytes).map_err(|err| invalid(format!("index.json: {err}")))?;
    let mut store = BlobStore { workdir, verified: HashSet::new() };
    let mut found: Vec<(String, ArchiveImage)> = Vec::new();
    for descriptor in index.manifests.unwrap_or_default() {
        let Some(manifest) = pick_manifest(&mut store, &descriptor, 0)? else {
            continue;
        };
        let name = descriptor_name(&descriptor);
        if let Some((_, image)) = found.iter_mut().find(|(digest, _)| *digest == manifest.digest) {
            if let Some(name) = name
                && !image.repo_tags.contains(&name)
            {
                image.repo_tags.push(name);
            }
            continue;
        }
        let mut image = image_from_manifest(&mut store, &manifest)?;
        image.repo_tags.extend(name);
        found.push((manifest.digest.clone(), image));
    }
    if found.is_empty() {
        return Err(invalid("index.json lists no images"));
    }
    Ok(found.into_iter().map(|(_, image)| image).collect())
}

/// Follows `descriptor` down through nested indexes to the image manifest for this host.
///
/// Returns `None` when the descriptor is neither an index nor an image manifest.
fn pick_manifest(
    store: &mut BlobStore,
    descriptor: &Descriptor,
    depth: usize,
) -> Result<Option<Descriptor>, ArchiveError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(invalid("indexes nested too deeply"));
    }
    let document = store.document(descriptor)?;
    match document_kind(descriptor, &document) {
        DocumentKind::Manifest => Ok(Some(descriptor.clone())),
        DocumentKind::Other => Ok(None),
        DocumentKind::Index => {
            let entries = document.manifests.unwrap_or_default();
            let Some(entry) = pick_platform(store, &entries) else {
                return Ok(None);
            };
            pick_manifest(store, &entry, depth + 1)
        }
    }
}

/// Chooses an index entry: linux on the host architecture if present, else the first present
/// one, else (so the error names a blob) the first candidate; attestations are never chosen.
fn pick_platform(store: &BlobStore, entries: &[Descriptor]) -> Option<Descriptor> {
    let candidates: Vec<&Descriptor> = entries
        .iter()
        .filter(|entry| entry.annotation(ANNOTATION_REFERENCE_TYPE) != Some("attestation-manifest"))
        .collect();
    let present: Vec<&Descriptor> = candidates.iter().copied().filter(|entry| store.has(entry)).collect();
    let chosen = present
        .iter()
        .find(|entry| matches_host(entry))
        .or_else(|| present.first())
        .or_else(|| candidates.iter().find(|entry| matches_host(entry)))
        .or_else(|| candidates.first())?;
    Some((*chosen).clone())
}

/// Whether an index entry is built for linux on the host architecture.
fn matches_host(entry: &Descriptor) -> bool {
    entry
        .platform
        .as_ref()
        .is_some_and(|platform| platform.os == "linux" && platform.architecture == host_architecture())
}

/// Reads the config and verified layer paths an image manifest points at.
fn image_from_manifest(store: &mut BlobStore, descriptor: &Descriptor) -> Result<ArchiveImage, ArchiveError> {
    let manifest = store.document(descriptor)?;
    let config_descriptor =
        manifest.config.ok_or_else(|| invalid(format!("manifest {} has no config", descriptor.digest)))?;
    let config = fs::read(store.blob(&config_descriptor, "config")?)?;
    let mut layers = Vec::new();
    for layer in manifest.layers.unwrap_or_default() {
        layers.push(store.blob(&layer, "layer")?);
    }
    Ok(ArchiveImage { config, layers, repo_tags: Vec::new() })
}

// ---------------------------------------------------------------------------------------------
// Writing (docker save)
// ---------------------------------------------------------------------------------------------

/// One image to put in a save archive.
#[derive(Debug, Clone)]
pub struct SaveImage {
    /// Config JSON bytes; their sha256 is the image id.
    pub config: Vec<u8>,
    /// `("sha256:<hex>" diff-id, path of the uncompressed layer tar)`, base layer first.
    pub layers: Vec<(String, PathBuf)>,
    /// `(familiar "busybox:latest", full "docker.io/library/busybox:latest")`; empty if saved by id.
    pub names: Vec<(String, String)>,
}

/// An OCI image manifest as written by save, fields in a fixed order for reproducible output.
#[derive(Serialize)]
struct SavedManifest<'a> {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    /// Always the OCI manifest media type.
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    /// The config blob.
    config: Descriptor,
    /// The uncompressed layer blobs.
    layers: Vec<Descriptor>,
}

/// An OCI image index as written by save.
#[derive(Serialize)]
struct SavedIndex<'a> {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    /// Always the OCI index media type.
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    /// One manifest descriptor per name (or one per unnamed image).
    manifests: Vec<Descriptor>,
}

/// Writes `images` as one tar in dockerd 25+'s combined docker-archive / OCI layout.
pub fn write_archive<W: Write>(out: W, images: &[SaveImage]) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    append_dir(&mut builder, "blobs/")?;
    append_dir(&mut builder, "blobs/sha256/")?;

    let mut written: HashSet<String> = HashSet::new();
    let mut index_entries = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();

    for image in images {
        let mut layer_descriptors = Vec::new();
        for (diff_id, path) in &image.layers {
            let hex = digest_hex(diff_id).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("malformed layer diff-id {diff_id:?}"))
            })?;
            let file = File::open(path)?;
            let size = file.metadata()?.len();
            if written.insert(hex.to_string()) {
                let reader = ExactReader { file, remaining: size };
                append_file(&mut builder, &format!("blobs/sha256/{hex}"), size, reader)?;
            }
            layer_descriptors.push(Descriptor {
                media_type: OCI_LAYER_TAR.to_string(),
                digest: diff_id.clone(),
                size: Some(size),
                annotations: None,
                platform: None,
            });
        }

        let config_hex = sha256_hex(&image.config);
        append_blob(&mut builder, &mut written, &config_hex, &image.config)?;

        let manifest = SavedManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            config: Descriptor {
                media_type: OCI_CONFIG.to_string(),
                digest: format!("sha256:{config_hex}"),
                size: Some(image.config.len() as u64),
                annotations: None,
                platform: None,
            },
            layers: layer_descriptors,
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let manifest_hex = sha256_hex(&manifest_bytes);
        append_blob(&mut builder, &mut written, &manifest_hex, &manifest_bytes)?;

        let manifest_descriptor = |annotations| Descriptor {
            media_type: OCI_MANIFEST.to_string(),
            digest: format!("sha256:{manifest_hex}"),
            size: Some(manifest_bytes.len() as u64),
            annotations,
            platform: None,
        };
        if image.names.is_empty() {
            index_entries.push(manifest_descriptor(None));
        }
        for (_, full) in &image.names {
            let mut annotations = BTreeMap::new();
            annotations.insert(ANNOTATION_IMAGE_NAME.to_string(), full.clone());
            if let Some((_, tag)) = split_tag(full) {
                annotations.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
            }
            index_entries.push(manifest_descriptor(Some(annotations)));
        }

        let last_layer = image.layers.last().and_then(|(diff_id, _)| digest_hex(diff_id));
        for (familiar, _) in &image.names {
            if let (Some((repo, tag)), Some(layer)) = (split_tag(familiar), last_layer) {
                repositories.entry(repo.to_string()).or_default().insert(tag.to_string(), layer.to_string());
            }
        }

        docker_manifest.push(DockerManifestEntry {
            config: format!("blobs/sha256/{config_hex}"),
            repo_tags: Some(image.names.iter().map(|(familiar, _)| familiar.clone()).collect()),
            layers: Some(
                image
                    .layers
                    .iter()
                    .map(|(diff_id, _)| format!("blobs/sha256/{}", &diff_id["sha256:".len()..]))
                    .collect(),
            ),
        });
    }

    let index = SavedIndex { schema_version: 2, media_type: OCI_INDEX, manifests: index_entries };
    let index_bytes = serde_json::to_vec(&index).map_err(io::Error::other)?;
    append_file(&mut builder, "index.json", index_bytes.len() as u64, &index_bytes[..])?;

    let manifest_bytes = serde_json::to_vec(&docker_manifest).map_err(io::Error::other)?;
    append_file(&mut builder, "manifest.json", manifest_bytes.len() as u64, &manifest_bytes[..])?;

    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append_file(&mut builder, "oci-layout", layout.len() as u64, &layout[..])?;

    if !repositories.is_empty() {
        let repositories_bytes = serde_json::to_vec(&repositories).map_err(io::Error::other)?;
        append_file(&mut builder, "repositories", repositories_bytes.len() as u64, &repositories_bytes[..])?;
    }

    builder.into_inner()?.flush()
}

/// Splits `repo:tag` at the tag's colon (ignoring a registry port and any `@digest`).
fn split_tag(name: &str) -> Option<(&str, &str)> {
    let name = name.split('@').next().unwrap_or(name);
    let slash = name.rfind('/').map_or(0, |index| index + 1);
    let colon = slash + name[slash..].rfind(':')?;
    let (repo, tag) = (&name[..colon], &name[colon + 1..]);
    (!repo.is_empty() && !tag.is_empty()).then_some((repo, tag))
}

/// Hex sha256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Appends an in-memory blob under `blobs/sha256/` unless one with that digest was written.
fn append_blob<W: Write>(
    builder: &mut tar::Builder<W>,
    written: &mut HashSet<String>,
    hex: &str,
    bytes: &[u8],
) -> io::Result<()> {
    if !written.insert(hex.to_string()) {
        return Ok(());
    }
    append_file(builder, &format!("blobs/sha256/{hex}"), bytes.len() as u64, bytes)
}

/// Appends a regular file with reproducible metadata (mtime 0, root owner, mode 0644).
fn append_file<W: Write>(builder: &mut tar::Builder<W>, path: &str, size: u64, data: impl Read) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    builder.append_data(&mut header, path, data)
}

/// Appends a directory with reproducible metadata; the name is written as given, trailing
/// slash included, as Go's archive/tar does.
fn append_dir<W: Write>(builder: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(0);
    let name = &mut header.as_old_mut().name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_cksum();
    builder.append(&header, io::empty())
}

/// Reads exactly `remaining` bytes of a layer file, failing if the file turns out shorter,
/// so the tar entry always matches the size in its header.
struct ExactReader {
    /// The layer file.
    file: File,
    /// Bytes still to deliver.
    remaining: u64,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.file.read(&mut buf[..wanted])?;
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "layer file shrank while it was being saved"));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds a tar of regular files in memory.
    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// Appends an entry whose name is written raw, bypassing the tar crate's path checks.
    fn append_raw(builder: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    /// A config JSON whose rootfs lists `diff_ids`.
    fn config_for(arch: &str, diff_ids: &[String]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    /// Hex sha256 of a file's contents.
    fn file_sha256(path: &Path) -> String {
        sha256_hex(&fs::read(path).unwrap())
    }

    /// Gzips bytes.
    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Two images sharing a base layer, written as layer files in `dir`.
    fn save_fixture(dir: &Path) -> Vec<SaveImage> {
        let base = tar_of(&[("etc/hostname", b"base\n")]);
        let top = tar_of(&[("bin/hello", b"#!/bin/sh\necho hi\n")]);
        let base_id = format!("sha256:{}", sha256_hex(&base));
        let top_id = format!("sha256:{}", sha256_hex(&top));
        fs::write(dir.join("base.tar"), &base).unwrap();
        fs::write(dir.join("top.tar"), &top).unwrap();
        vec![
            SaveImage {
                config: config_for("amd64", &[base_id.clone(), top_id.clone()]),
                layers: vec![(base_id.clone(), dir.join("base.tar")), (top_id, dir.join("top.tar"))],
                names: vec![
                    ("hello:latest".into(), "docker.io/library/hello:latest".into()),
                    ("localhost:5000/team/hello:v1".into(), "localhost:5000/team/hello:v1".into()),
                ],
            },
            SaveImage {
                config: config_for("amd64", std::slice::from_ref(&base_id)),
                layers: vec![(base_id, dir.join("base.tar"))],
                names: vec![],
            },
        ]
    }

    #[test]
    fn save_then_load_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let images = save_fixture(tmp.path());
        let mut archive = Vec::new();
        write_archive(&mut archive, &images).unwrap();

        let work = tmp.path().join("work");
        fs::create_dir(&work).unwrap();
        let loaded = read_archive(&archive[..], &work).unwrap();
        assert_eq!(loaded.len(), 2);
        for (saved, loaded) in images.iter().zip(&loaded) {
            assert_eq!(loaded.config, saved.config);
            let hashes: Vec<String> = loaded.layers.iter().map(|p| format!("sha256:{}", file_sha256(p))).collect();
            let diff_ids: Vec<String> = saved.layers.iter().map(|(id, _)| id.clone()).collect();
            assert_eq!(hashes, diff_ids);
            let familiar: Vec<String> = saved.names.iter().map(|(f, _)| f.clone()).collect();
            assert_eq!(loaded.repo_tags, familiar);
        }

        // The shared base layer is stored once.
        let mut entries = tar::Archive::new(&archive[..]);
        let paths: Vec<String> = entries
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 0);
                assert_eq!(e.header().uid().unwrap(), 0);
                e.path().unwrap().display().to_string()
            })
            .collect();
        let base_blob = format!("blobs/sha256/{}", &images[0].layers[0].0[7..]);
        assert_eq!(paths.iter().filter(|p| **p == base_blob).count(), 1);
        assert!(paths.contains(&"oci-layout".to_string()));
        assert!(paths.contains(&"repositories".to_string()));

        let repositories: serde_json::Value =
            serde_json::from_slice(&fs::read(work.join("repositories")).unwrap()).unwrap();
        let top_hex = &images[0].layers[1].0[7..];
        assert_eq!(repositories["hello"]["latest"], top_hex);
        assert_eq!(repositories["localhost:5000/team/hello"]["v1"], top_hex);

        // The same archive read as a plain OCI layout gives the full names.
        fs::remove_file(work.join("manifest.json")).unwrap();
        let oci = images_in(&work).unwrap();
        assert_eq!(oci.len(), 2);
        assert_eq!(oci[0].config, images[0].config);
        assert_eq!(
            oci[0].repo_tags,
            vec!["docker.io/library/hello:latest".to_string(), "localhost:5000/team/hello:v1".to_string()]
        );
        assert_eq!(oci[1].config, images[1].config);
        assert!(oci[1].repo_tags.is_empty());
        let index: serde_json::Value = serde_json::from_slice(&fs::read(work.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["annotations"][ANNOTATION_REF_NAME], "latest");
        assert_eq!(index["manifests"][1]["annotations"][ANNOTATION_REF_NAME], "v1");
    }

    #[test]
    fn save_is_reproducible() {
        let tmp = tempfile::tempdir().unwrap();
        let images = save_fixture(tmp.path());
        let mut first = Vec::new();
        write_archive(&mut first, &images).unwrap();
        let mut second = Vec::new();
        write_archive(&mut second, &images).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn gzipped_archive_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let images = save_fixture(tmp.path());
        let mut archive = Vec::new();
        write_archive(&mut archive, &images).unwrap();
        let work = tmp.path().join("work");
        fs::create_dir(&work).unwrap();
        let loaded = read_archive(&gzip(&archive)[..], &work).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].config, images[0].config);
    }

    #[test]
    fn reads_old_style_docker_archive_with_symlinked_duplicate_layer() {
        let layer_a = tar_of(&[("a", b"a")]);
        let layer_b = tar_of(&[("b", b"b")]);
        let id_a = format!("sha256:{}", sha256_hex(&layer_a));
        let id_b = format!("sha256:{}", sha256_hex(&layer_b));
        // Layers a, b, a: the third is stored as a symlink to the first.
        let config = config_for("amd64", &[id_a.clone(), id_b.clone(), id_a.clone()]);
        let config_hex = sha256_hex(&config);
        let (v1, v2, v3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        let manifest = serde_json::to_vec(&json!([{
            "Config": format!("{config_hex}.json"),
            "RepoTags": ["busybox:latest"],
            "Layers": [format!("{v1}/layer.tar"), format!("{v2}/layer.tar"), format!("{v3}/layer.tar")],
        }]))
        .unwrap();
        let repositories = format!(r#"{{"busybox":{{"latest":"{v3}"}}}}"#);

        let mut builder = tar::Builder::new(Vec::new());
        for (v1id, layer) in [(&v1, Some(&layer_a)), (&v2, Some(&layer_b)), (&v3, None)] {
            append_raw(&mut builder, &format!("{v1id}/"), tar::EntryType::Directory, "", b"");
            append_raw(&mut builder, &format!("{v1id}/VERSION"), tar::EntryType::Regular, "", b"1.0");
            append_raw(&mut builder, &format!("{v1id}/json"), tar::EntryType::Regular, "", b"{}");
            match layer {
                Some(layer) => {
                    append_raw(&mut builder, &format!("{v1id}/layer.tar"), tar::EntryType::Regular, "", layer)
                }
                None => append_raw(
                    &mut builder,
                    &format!("{v1id}/layer.tar"),
                    tar::EntryType::Symlink,
                    &format!("../{v1}/layer.tar"),
                    b"",
                ),
            }
        }
        append_raw(&mut builder, &format!("{config_hex}.json"), tar::EntryType::Regular, "", &config);
        append_raw(&mut builder, "manifest.json", tar::EntryType::Regular, "", &manifest);
        append_raw(&mut builder, "repositories", tar::EntryType::Regular, "", repositories.as_bytes());
        let archive = builder.into_inner().unwrap();

        let work = tempfile::tempdir().unwrap();
        let loaded = read_archive(&archive[..], work.path()).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].config, config);
        assert_eq!(loaded[0].repo_tags, vec!["busybox:latest".to_string()]);
        let hashes: Vec<String> = loaded[0].layers.iter().map(|p| format!("sha256:{}", file_sha256(p))).collect();
        assert_eq!(hashes, vec![id_a.clone(), id_b, id_a]);
        assert!(loaded[0].layers.iter().all(|p| p.starts_with(work.path())));
    }

    #[test]
    fn symlink_leaving_workdir_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("secret");
        fs::write(&secret, b"secret").unwrap();
        let work = tmp.path().join("work");
        fs::create_dir(&work).unwrap();
        let manifest = br#"[{"Config":"c.json","RepoTags":null,"Layers":["x/layer.tar"]}]"#;
        let mut builder = tar::Builder::new(Vec::new());
        append_raw(&mut builder, "c.json", tar::EntryType::Regular, "", b"{}");
        append_raw(&mut builder, "x/layer.tar", tar::EntryType::Symlink, "../../secret", b"");
        append_raw(&mut builder, "y/layer.tar", tar::EntryType::Symlink, &secret.display().to_string(), b"");
        append_raw(&mut builder, "manifest.json", tar::EntryType::Regular, "", manifest);
        let archive = builder.into_inner().unwrap();
        let err = read_archive(&archive[..], &work).unwrap_err().to_string();
        assert_eq!(err, "invalid archive: layer x/layer.tar not found");
        assert!(!work.join("y/layer.tar").exists());
    }

    /// Writes an OCI blob into a file list and returns its descriptor.
    fn add_blob(files: &mut Vec<(String, Vec<u8>)>, media_type: &str, data: Vec<u8>) -> serde_json::Value {
        let hex = sha256_hex(&data);
        let descriptor = json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": data.len()});
        files.push((format!("blobs/sha256/{hex}"), data));
        descriptor
    }

    /// Builds an OCI image (gzip layers) into `files` and returns its manifest descriptor.
    fn add_oci_image(
        files: &mut Vec<(String, Vec<u8>)>,
        arch: &str,
        content: &[u8],
    ) -> (serde_json::Value, Vec<u8>, String) {
        let layer = tar_of(&[("file", content)]);
        let diff_id = format!("sha256:{}", sha256_hex(&layer));
        let gz = gzip(&layer);
        let gz_hex = sha256_hex(&gz);
        let layer_desc = add_blob(files, "application/vnd.oci.image.layer.v1.tar+gzip", gz);
        let config = config_for(arch, std::slice::from_ref(&diff_id));
        let config_desc = add_blob(files, OCI_CONFIG, config.clone());
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc,
            "layers": [layer_desc],
        }))
        .unwrap();
        (add_blob(files, OCI_MANIFEST, manifest), config, gz_hex)
    }

    /// Packs a file list plus `oci-layout` and `index.json` into a tar.
    fn oci_tar(files: &[(String, Vec<u8>)], index: serde_json::Value) -> Vec<u8> {
        let index = serde_json::to_vec(&index).unwrap();
        let mut all: Vec<(&str, &[u8])> =
            vec![("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#), ("index.json", &index)];
        all.extend(files.iter().map(|(p, d)| (p.as_str(), d.as_slice())));
        tar_of(&all)
    }

    #[test]
    fn reads_oci_layout_with_gzip_layers_and_names() {
        let mut files = Vec::new();
        let (mut named, config, gz_hex) = add_oci_image(&mut files, "amd64", b"one");
        let (mut tagged, other_config, _) = add_oci_image(&mut files, "amd64", b"two");
        named["annotations"] =
            json!({ANNOTATION_IMAGE_NAME: "docker.io/library/alpine:3.20", ANNOTATION_REF_NAME: "3.20"});
        tagged["annotations"] = json!({ANNOTATION_REF_NAME: "latest"});
        let archive = oci_tar(&files, json!({"schemaVersion": 2, "manifests": [named, tagged]}));
        let work = tempfile::tempdir().unwrap();
        let loaded = read_archive(&archive[..], work.path()).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].config, config);
        assert_eq!(loaded[0].repo_tags, vec!["docker.io/library/alpine:3.20".to_string()]);
        assert_eq!(loaded[0].layers.len(), 1);
        assert_eq!(file_sha256(&loaded[0].layers[0]), gz_hex);
        assert_eq!(loaded[1].config, other_config);
        assert!(loaded[1].repo_tags.is_empty(), "a bare tag is not a name");
    }

    #[test]
    fn nested_index_picks_host_platform() {
        let host = host_architecture();
        let other = if host == "amd64" { "arm64" } else { "amd64" };
        let mut files = Vec::new();
        let (mut other_desc, _, _) = add_oci_image(&mut files, other, b"other");
        let (mut host_desc, host_config, _) = add_oci_image(&mut files, host, b"host");
        other_desc["platform"] = json!({"os": "linux", "architecture": other});
        host_desc["platform"] = json!({"os": "linux", "architecture": host});
        let nested = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [other_desc, host_desc],
        }))
        .unwrap();
        let mut index_desc = add_blob(&mut files, OCI_INDEX, nested);
        index_desc["annotations"] = json!({ANNOTATION_REF_NAME: "example.com/multi:1"});
        let archive = oci_tar(&files, json!({"schemaVersion": 2, "manifests": [index_desc]}));
        let work = tempfile::tempdir().unwrap();
        let loaded = read_archive(&archive[..], work.path()).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].config, host_config);
        assert_eq!(loaded[0].repo_tags, vec!["example.com/multi:1".to_string()]);
    }

    #[test]
    fn oci_blob_with_wrong_digest_is_rejected() {
        let mut files = Vec::new();
        let (desc, _, gz_hex) = add_oci_image(&mut files, "amd64", b"data");
        let layer = files.iter_mut().find(|(p, _)| p.ends_with(&gz_hex)).unwrap();
        let last = layer.1.len() - 1;
        layer.1[last] ^= 0xff; // same size, different content
        let archive = oci_tar(&files, json!({"schemaVersion": 2, "manifests": [desc]}));
        let work = tempfile::tempdir().unwrap();
        let err = read_archive(&archive[..], work.path()).unwrap_err().to_string();
        assert!(err.starts_with("invalid archive: layer blobs/sha256/"), "{err}");
        assert!(err.contains(&gz_hex), "{err}");
        assert!(err.contains("does not match its digest"), "{err}");
    }

    #[test]
    fn hostile_entry_paths_are_refused() {
        for name in ["../evil", "a/../../evil"] {
            let tmp = tempfile::tempdir().unwrap();
            let work = tmp.path().join("work");
            fs::create_dir(&work).unwrap();
            let mut builder = tar::Builder::new(Vec::new());
            append_raw(&mut builder, name, tar::EntryType::Regular, "", b"pwned");
            let archive = builder.into_inner().unwrap();
            let err = read_archive(&archive[..], &work).unwrap_err();
            assert!(matches!(err, ArchiveError::Invalid(_)), "{err}");
            assert!(!tmp.path().join("evil").exists());
        }

        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        fs::create_dir(&work).unwrap();
        let absolute = tmp.path().join("abs");
        let mut builder = tar::Builder::new(Vec::new());
        append_raw(&mut builder, &absolute.display().to_string(), tar::EntryType::Regular, "", b"pwned");
        let archive = builder.into_inner().unwrap();
        let err = read_archive(&archive[..], &work).unwrap_err().to_string();
        assert!(err.starts_with("invalid archive: unsafe path"), "{err}");
        assert!(!absolute.exists());
    }

    #[test]
    fn manifest_paths_leaving_workdir_are_refused() {
        let manifest = br#"[{"Config":"../../etc/passwd","RepoTags":[],"Layers":[]}]"#;
        let archive = tar_of(&[("manifest.json", manifest)]);
        let work = tempfile::tempdir().unwrap();
        let err = read_archive(&archive[..], work.path()).unwrap_err().to_string();
        assert_eq!(err, r#"invalid archive: unsafe config path "../../etc/passwd""#);

        let manifest = br#"[{"Config":"c.json","RepoTags":[],"Layers":["/etc/passwd"]}]"#;
        let archive = tar_of(&[("manifest.json", manifest), ("c.json", b"{}")]);
        let work = tempfile::tempdir().unwrap();
        let err = read_archive(&archive[..], work.path()).unwrap_err().to_string();
        assert_eq!(err, r#"invalid archive: unsafe layer path "/etc/passwd""#);
    }

    #[test]
    fn missing_pieces_are_clear_errors() {
        let work = tempfile::tempdir().unwrap();
        let err = read_archive(&tar_of(&[("hello.txt", b"hi")])[..], work.path()).unwrap_err().to_string();
        assert_eq!(err, "invalid archive: no manifest.json or index.json found");

        let manifest = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["blobs/sha256/abc"]}]"#;
        let work = tempfile::tempdir().unwrap();
        let archive = tar_of(&[("manifest.json", manifest), ("c.json", b"{}")]);
        let err = read_archive(&archive[..], work.path()).unwrap_err().to_string();
        assert_eq!(err, "invalid archive: layer blobs/sha256/abc not found");
    }

    #[test]
    fn split_tag_handles_ports_and_digests() {
        assert_eq!(split_tag("busybox:latest"), Some(("busybox", "latest")));
        assert_eq!(split_tag("localhost:5000/a/b:v1"), Some(("localhost:5000/a/b", "v1")));
        assert_eq!(split_tag("localhost:5000/a/b"), None);
        assert_eq!(split_tag("busybox@sha256:abcd"), None);
    }
}
