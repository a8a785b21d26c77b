//! The image config JSON (the blob whose sha256 is the image ID), in the OCI/Docker layout, with
//! unknown fields kept so configs written by other tools survive a read-modify-write.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The image config blob: platform, run defaults, layer diff IDs and build history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture the image runs on, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system the image runs on, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// Architecture variant, e.g. `v8` for arm64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Creation time as an RFC 3339 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made the image (`docker commit --author`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free-text message (`docker commit --message`, `docker import --message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Defaults for containers run from the image.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    /// The uncompressed layer digests, bottom layer first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rootfs: RootFs,
    /// One entry per build step, including steps that made no layer.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this type does not model (`container_config`, `docker_version`, …), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The run defaults inside an image config, with Docker's capitalized JSON names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// User (name or uid[:gid]) the process runs as.
    #[serde(rename = "User", default, deserialize_with = "null_as_default", skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Ports the image documents as listening, keyed `80/tcp`.
    #[serde(
        rename = "ExposedPorts",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    /// Environment as `KEY=value` strings.
    #[serde(rename = "Env", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Entrypoint; `None` means unset, which differs from an empty list.
    #[serde(
        rename = "Entrypoint",
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// Default command; `None` means unset, which differs from an empty list.
    #[serde(rename = "Cmd", default, deserialize_with = "string_or_list", skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Paths that get an anonymous volume when a container is created.
    #[serde(
        rename = "Volumes",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, EmptyObject>,
    /// Working directory of the process.
    #[serde(
        rename = "WorkingDir",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// Image labels.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Signal that stops a container, e.g. `SIGTERM`.
    #[serde(
        rename = "StopSignal",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Dockerfile instructions to run when the image is used as a build base.
    #[serde(rename = "OnBuild", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub on_build: Vec<String>,
    /// Health check settings, passed through as Docker wrote them.
    #[serde(rename = "Healthcheck", default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    /// Shell used for shell-form CMD and ENTRYPOINT.
    #[serde(rename = "Shell", default, deserialize_with = "string_or_list", skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields this type does not model (`Hostname`, `ArgsEscaped`, …), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `{}` value Docker uses in set-like maps such as `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// The layer list of an image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers` for images kapsel understands.
    #[serde(rename = "type", default = "layers_type")]
    pub r#type: String,
    /// Uncompressed layer digests (`sha256:…`), bottom layer first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs { r#type: layers_type(), diff_ids: Vec::new() }
    }
}

/// One build step recorded in an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, as an RFC 3339 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction that made the step, as shown by `docker history`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free-text note for the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step changed only metadata and added no layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_layer: bool,
}

/// The default `rootfs.type`.
fn layers_type() -> String {
    "layers".to_string()
}

/// Lets `skip_serializing_if` omit `empty_layer: false`.
fn is_false(value: &bool) -> bool {
    !*value
}

/// Reads JSON `null` as the type's default, since Docker writes `null` for empty lists and maps.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads a command that Docker may have stored as a list, a single string, or `null`.
fn string_or_list<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrList {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<StringOrList>::deserialize(deserializer)? {
        None => None,
        Some(StringOrList::One(s)) => Some(vec![s]),
        Some(StringOrList::Many(list)) => Some(list),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A busybox config as Docker Hub serves it, plus some fields this module does not model.
    const BUSYBOX: &str = r#"{
        "architecture": "amd64",
        "config": {
            "Hostname": "",
            "Domainname": "",
            "User": "",
            "AttachStdin": false,
            "Tty": false,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "Image": "sha256:2c4a1e6e4f0e5f8b2b0a1f2e3d4c5b6a7980f1e2d3c4b5a6978877665544332",
            "Volumes": null,
            "WorkingDir": "",
            "Entrypoint": null,
            "OnBuild": null,
            "Labels": null,
            "ArgsEscaped": true
        },
        "container": "0a1b2c3d4e5f",
        "created": "2024-09-26T21:31:42Z",
        "docker_version": "23.0.11",
        "history": [
            {
                "created": "2024-09-26T21:31:42Z",
                "created_by": "BusyBox 1.37.0 (glibc), Debian 12"
            },
            {
                "created": "2024-09-26T21:31:42Z",
                "created_by": "CMD [\"sh\"]",
                "empty_layer": true
            }
        ],
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:e14542cc062958c3bfada9c260a6ae47bb2906fd8b514999774760710dbce3cb"]
        },
        "os.version": "x"
    }"#;

    #[test]
    fn busybox_round_trip_keeps_unknown_fields() {
        let config: ImageConfig = serde_json::from_str(BUSYBOX).unwrap();
        assert_eq!(config.architecture, "amd64");
        assert_eq!(config.os, "linux");
        assert_eq!(config.created.as_deref(), Some("2024-09-26T21:31:42Z"));
        assert_eq!(config.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(config.config.entrypoint, None);
        assert!(config.config.labels.is_empty());
        assert!(config.config.on_build.is_empty());
        assert_eq!(config.config.extra["ArgsEscaped"], json!(true));
        assert_eq!(config.extra["docker_version"], json!("23.0.11"));
        assert_eq!(config.extra["os.version"], json!("x"));
        assert_eq!(config.rootfs.r#type, "layers");
        assert_eq!(config.rootfs.diff_ids.len(), 1);
        assert_eq!(config.history.len(), 2);
        assert!(!config.history[0].empty_layer);
        assert!(config.history[1].empty_layer);

        let written = serde_json::to_value(&config).unwrap();
        let expected = json!({
            "architecture": "amd64",
            "config": {
                "Hostname": "",
                "Domainname": "",
                "AttachStdin": false,
                "Tty": false,
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
                "Image": "sha256:2c4a1e6e4f0e5f8b2b0a1f2e3d4c5b6a7980f1e2d3c4b5a6978877665544332",
                "ArgsEscaped": true
            },
            "container": "0a1b2c3d4e5f",
            "created": "2024-09-26T21:31:42Z",
            "docker_version": "23.0.11",
            "history": [
                {
                    "created": "2024-09-26T21:31:42Z",
                    "created_by": "BusyBox 1.37.0 (glibc), Debian 12"
                },
                {
                    "created": "2024-09-26T21:31:42Z",
                    "created_by": "CMD [\"sh\"]",
                    "empty_layer": true
                }
            ],
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:e14542cc062958c3bfada9c260a6ae47bb2906fd8b514999774760710dbce3cb"]
            },
            "os.version": "x"
        });
        assert_eq!(written, expected);

        let again: ImageConfig = serde_json::from_value(written).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn full_container_config_round_trip() {
        let raw = json!({
            "User": "1000:1000",
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
            "Env": ["A=1"],
            "Entrypoint": ["/entry"],
            "Cmd": [],
            "Volumes": {"/data": {}},
            "WorkingDir": "/app",
            "Labels": {"a": "b"},
            "StopSignal": "SIGINT",
            "OnBuild": ["RUN true"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "Shell": ["/bin/bash", "-c"],
            "Unknown": {"nested": [1, 2]}
        });
        let config: ContainerConfig = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(config.user, "1000:1000");
        assert!(config.exposed_ports.contains_key("53/udp"));
        assert_eq!(config.cmd, Some(Vec::new()));
        assert!(config.volumes.contains_key("/data"));
        assert_eq!(config.labels["a"], "b");
        assert_eq!(config.extra["Unknown"], json!({"nested": [1, 2]}));
        assert_eq!(serde_json::to_value(&config).unwrap(), raw);
    }

    #[test]
    fn empty_fields_are_omitted() {
        let config =
            ImageConfig { architecture: "arm64".to_string(), os: "linux".to_string(), ..ImageConfig::default() };
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            json!({
                "architecture": "arm64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []}
            })
        );
    }

    #[test]
    fn string_commands_and_nulls_are_accepted() {
        let config: ImageConfig = serde_json::from_value(json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": "/bin/sh", "Env": null, "ExposedPorts": null},
            "rootfs": {"type": "layers", "diff_ids": null},
            "history": null
        }))
        .unwrap();
        assert_eq!(config.config.cmd, Some(vec!["/bin/sh".to_string()]));
        assert!(config.config.env.is_empty());
        assert!(config.rootfs.diff_ids.is_empty());
        assert!(config.history.is_empty());

        let minimal: ImageConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(minimal.rootfs, RootFs::default());
        assert_eq!(minimal.config, ContainerConfig::default());
    }
}
