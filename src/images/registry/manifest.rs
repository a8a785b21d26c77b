//! Manifests and indexes of the distribution API (Docker schema 2 and OCI), their media types,
//! and picking one platform's manifest out of a multi-platform index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::RegistryError;

/// A Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// An OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// A gzip layer in a Docker manifest.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// An uncompressed OCI layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// A gzip OCI layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A zstd OCI layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Every manifest kind a pull accepts, for the `Accept` header.
pub const ACCEPTED_MANIFESTS: &[&str] = &[OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// dockerd's limit on the size of a manifest or index.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// A limit on the size of an image config.
pub const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;

/// A reference to content: its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is.
    #[serde(default)]
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Where else the content may be fetched (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The platform of an index entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`…
    #[serde(default)]
    pub architecture: String,
    /// `linux`…
    #[serde(default)]
    pub os: String,
    /// The OS version (Windows).
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest: one config and its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An index or manifest list: one manifest per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A single image.
    Image(Box<ImageManifest>),
    /// Several platforms' images.
    Index(ImageIndex),
}

/// Just enough of any manifest to tell its kind.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// Parses a manifest by its `Content-Type` (or, failing that, its `mediaType` field or shape).
pub fn parse_manifest(content_type: &str, body: &[u8]) -> Result<Manifest, RegistryError> {
    let invalid = |e: serde_json::Error| RegistryError::Protocol(format!("invalid manifest: {e}"));
    let probe: Probe = serde_json::from_slice(body).map_err(invalid)?;
    let content_type = content_type.split(';').next().unwrap_or_default().trim();
    if probe.schema_version == 1 || content_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(RegistryError::Unsupported(
            "Docker Image manifest version 2, schema 1 is not supported: the image must be rebuilt or pushed again \
             with a newer client"
                .into(),
        ));
    }
    let kind = [content_type, probe.media_type.as_deref().unwrap_or_default()]
        .into_iter()
        .find(|t| ACCEPTED_MANIFESTS.contains(t))
        .map(str::to_string)
        .unwrap_or_else(|| if probe.manifests.is_some() { OCI_INDEX } else { OCI_MANIFEST }.to_string());
    if kind == OCI_INDEX || kind == DOCKER_MANIFEST_LIST {
        Ok(Manifest::Index(serde_json::from_slice(body).map_err(invalid)?))
    } else if probe.config.is_some() {
        Ok(Manifest::Image(Box::new(serde_json::from_slice(body).map_err(invalid)?)))
    } else {
        Err(RegistryError::Unsupported(format!("unsupported manifest media type {kind:?}")))
    }
}

/// Whether a layer media type is one kapsel can unpack (plain, gzip or zstd tar).
pub fn is_layer_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        DOCKER_LAYER_GZIP
            | OCI_LAYER
            | OCI_LAYER_GZIP
            | OCI_LAYER_ZSTD
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    )
}

/// A platform to pull: `os/arch[/variant]`, normalized as containerd does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`…
    pub architecture: String,
    /// `v7`… (none for the architecture's default).
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// The host's platform.
    pub fn host() -> PlatformSpec {
        PlatformSpec::normalized("linux", crate::runtime::host::host_arch(), None)
    }

    /// Parses `os[/arch[/variant]]` (`linux/arm64`, `linux/arm/v7`); a missing arch is the host's.
    pub fn parse(text: &str) -> Result<PlatformSpec, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let invalid = || format!("invalid platform {text:?}: want os[/arch[/variant]]");
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid());
        }
        match parts.as_slice() {
            [os] => Ok(PlatformSpec::normalized(os, crate::runtime::host::host_arch(), None)),
            [os, arch] => Ok(PlatformSpec::normalized(os, arch, None)),
            [os, arch, variant] => Ok(PlatformSpec::normalized(os, arch, Some(variant))),
            _ => Err(invalid()),
        }
    }

    /// Lower-cases and maps aliases (`x86_64` → `amd64`, `aarch64` → `arm64`, `arm64/v8` → `arm64`,
    /// `arm` → `arm/v7`).
    pub fn normalized(os: &str, architecture: &str, variant: Option<&str>) -> PlatformSpec {
        let os = os.to_ascii_lowercase();
        let mut variant = variant.map(str::to_ascii_lowercase).filter(|v| !v.is_empty());
        let architecture = match architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" => "amd64".to_string(),
            "i386" | "i486" | "i586" | "i686" | "386" => "386".to_string(),
            "aarch64" | "arm64" => {
                if variant.as_deref().is_some_and(|v| v == "8" || v == "v8") {
                    variant = None;
                }
                "arm64".to_string()
            }
            "armhf" => {
                variant = Some("v7".into());
                "arm".to_string()
            }
            "armel" => {
                variant = Some("v6".into());
                "arm".to_string()
            }
            "arm" => {
                variant = Some(match variant.as_deref() {
                    None | Some("7") | Some("v7") => "v7".to_string(),
                    Some(v) if v.starts_with('v') => v.to_string(),
                    Some(v) => format!("v{v}"),
                });
                "arm".to_string()
            }
            other => other.to_string(),
        };
        PlatformSpec { os, architecture, variant }
    }

    /// Whether an index entry's platform is this one.
    pub fn matches(&self, platform: &Platform) -> bool {
        let other = PlatformSpec::normalized(&platform.os, &platform.architecture, platform.variant.as_deref());
        other.os == self.os
            && other.architecture == self.architecture
            && (self.variant.is_none() || other.variant == self.variant)
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The index entry for `platform`: the first whose platform matches, preferring an exact
/// variant match; entries that are not image manifests (attestations) never match.
pub fn select_platform<'a>(index: &'a ImageIndex, platform: &PlatformSpec) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.media_type.is_empty() || d.media_type == OCI_MANIFEST || d.media_type == DOCKER_MANIFEST)
        .filter(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
        .collect();
    let exact = candidates.iter().find(|d| {
        let p = d.platform.as_ref().expect("filtered on a platform");
        PlatformSpec::normalized(&p.os, &p.architecture, p.variant.as_deref()).variant == platform.variant
    });
    exact.or(candidates.first()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            size: 1,
            digest: digest.into(),
            urls: Vec::new(),
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                os_version: None,
                variant: variant.map(String::from),
            }),
            annotations: None,
        }
    }

    #[test]
    fn parses_each_manifest_kind() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:c"},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:l"}]}"#;
        let Manifest::Image(parsed) = parse_manifest(DOCKER_MANIFEST, image).unwrap() else { panic!() };
        assert_eq!(parsed.layers[0].digest, "sha256:l");
        // An OCI index without a Content-Type is told by its shape.
        let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "size":1,"digest":"sha256:a","platform":{"architecture":"arm64","os":"linux"}}]}"#;
        assert!(matches!(parse_manifest("application/octet-stream", index).unwrap(), Manifest::Index(_)));
        let schema1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let error = parse_manifest("application/vnd.docker.distribution.manifest.v1+prettyjws", schema1).unwrap_err();
        assert!(error.to_string().contains("schema 1"), "{error}");
        assert!(parse_manifest(OCI_MANIFEST, b"not json").is_err());
    }

    #[test]
    fn normalizes_platforms() {
        assert_eq!(PlatformSpec::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(PlatformSpec::parse("linux/aarch64/v8").unwrap().to_string(), "linux/arm64");
        assert_eq!(PlatformSpec::parse("linux/arm").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(PlatformSpec::parse("linux/armhf").unwrap().to_string(), "linux/arm/v7");
        assert!(PlatformSpec::parse("linux//v7").is_err());
        assert!(PlatformSpec::parse("a/b/c/d").is_err());
        assert_eq!(PlatformSpec::parse("linux").unwrap(), PlatformSpec::host());
    }

    #[test]
    fn selects_the_wanted_platform() {
        let mut attestation = entry("unknown", None, "sha256:att");
        attestation.platform.as_mut().unwrap().os = "unknown".into();
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                attestation,
                entry("amd64", None, "sha256:amd"),
                entry("arm", Some("v6"), "sha256:armv6"),
                entry("arm", Some("v7"), "sha256:armv7"),
                entry("arm64", Some("v8"), "sha256:arm64"),
            ],
        };
        let pick = |p: &str| select_platform(&index, &PlatformSpec::parse(p).unwrap()).map(|d| d.digest.as_str());
        assert_eq!(pick("linux/amd64"), Some("sha256:amd"));
        assert_eq!(pick("linux/arm64"), Some("sha256:arm64"));
        assert_eq!(pick("linux/arm"), Some("sha256:armv7"));
        assert_eq!(pick("linux/arm/v6"), Some("sha256:armv6"));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("windows/amd64"), None);
    }
}
