//! The `local` driver's options (`docker volume create -o`, `--mount volume-opt=`): `type`,
//! `device` and `o` ask for a file system mounted on the volume's directory while a container
//! uses it, as Docker's local driver does: `type=tmpfs,device=tmpfs,o=size=100m` is a tmpfs,
//! `type=none,o=bind,device=/host/path` a bind of a host directory.

use std::collections::BTreeMap;

use crate::runtime::volumes::DeviceMount;

/// The only volume driver kapsel has.
pub const LOCAL_DRIVER: &str = "local";

/// Options the local driver knows.
const VALID_OPTIONS: &[&str] = &["type", "device", "o", "size"];
/// For each option, the options it needs besides.
const MANDATORY_OPTIONS: &[(&str, &[&str])] =
    &[("device", &["type"]), ("type", &["device"]), ("o", &["device", "type"])];

/// Validates driver options with dockerd's messages; the file system to mount, if any.
pub fn device_mount(options: &BTreeMap<String, String>) -> Result<Option<DeviceMount>, String> {
    if options.is_empty() {
        return Ok(None);
    }
    if let Some(key) = options.keys().find(|k| !VALID_OPTIONS.contains(&k.as_str())) {
        return Err(format!("invalid option: {key:?}"));
    }
    if options.contains_key("size") {
        return Err("quota size requested but no quota support".into());
    }
    for (option, needs) in MANDATORY_OPTIONS {
        if options.contains_key(*option)
            && let Some(missing) = needs.iter().find(|n| !options.contains_key(**n))
        {
            return Err(format!("missing required option: {missing:?}"));
        }
    }
    let get = |key: &str| options.get(key).cloned().unwrap_or_default();
    let device = DeviceMount { fs_type: get("type"), device: get("device"), options: get("o") };
    let bind = device.options.split(',').any(|o| o == "bind" || o == "rbind");
    if bind && !device.device.starts_with('/') {
        return Err(format!("invalid bind device {:?}: it must be an absolute host path", device.device));
    }
    Ok(Some(device))
}

/// Checks that a driver name is the local driver (empty means local).
pub fn check_driver(driver: &str) -> Result<(), String> {
    if driver.is_empty() || driver == LOCAL_DRIVER {
        Ok(())
    } else {
        Err(format!("error looking up volume plugin {driver}: plugin {driver:?} not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn local_driver_options() {
        assert_eq!(device_mount(&opts(&[])).unwrap(), None);
        let tmpfs =
            device_mount(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=100m")])).unwrap().unwrap();
        assert_eq!(
            (tmpfs.fs_type.as_str(), tmpfs.device.as_str(), tmpfs.options.as_str()),
            ("tmpfs", "tmpfs", "size=100m")
        );
        let bind = device_mount(&opts(&[("type", "none"), ("o", "bind"), ("device", "/srv")])).unwrap().unwrap();
        assert_eq!(bind.device, "/srv");
        assert_eq!(device_mount(&opts(&[("foo", "1")])).unwrap_err(), "invalid option: \"foo\"");
        assert_eq!(device_mount(&opts(&[("type", "tmpfs")])).unwrap_err(), "missing required option: \"device\"");
        assert_eq!(device_mount(&opts(&[("o", "size=1m")])).unwrap_err(), "missing required option: \"device\"");
        assert!(device_mount(&opts(&[("size", "1g")])).is_err());
        assert!(device_mount(&opts(&[("type", "none"), ("o", "bind"), ("device", "rel")])).is_err());
        assert!(check_driver("").is_ok() && check_driver("local").is_ok());
        assert_eq!(check_driver("nfs").unwrap_err(), "error looking up volume plugin nfs: plugin \"nfs\" not found");
    }
}
