//! Compiled filters, kept by (profile, capabilities): a profile is resolved and compiled once,
//! by the daemon, and every container with the same profile and capability set reuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::profile::{Profile, Target};
use super::{builtin, compile, program::SeccompProgram};

/// How many compiled filters are kept before the cache starts over.
const CAPACITY: usize = 256;

/// Where a container's profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    /// kapsel's built-in profile (Docker's default).
    Builtin,
    /// A Docker-format JSON profile (`--security-opt seccomp=<file>` sends the file's text).
    Json(String),
}

/// A filter's key: the profile's identity, the sorted bounding set, the kernel version.
type Key = (String, Vec<String>, (u32, u32));

/// The compiled filters.
#[derive(Debug, Default)]
pub struct Cache {
    programs: Mutex<HashMap<Key, Option<Arc<SeccompProgram>>>>,
}

impl Cache {
    /// The filter for a profile and a bounding set on a kernel of `kernel` = (major, minor);
    /// None when the profile asks for no filter (Docker reads `{}` so).
    pub fn program(
        &self,
        source: &ProfileSource,
        capabilities: &[String],
        kernel: (u32, u32),
    ) -> Result<Option<Arc<SeccompProgram>>, String> {
        let id = match source {
            ProfileSource::Builtin => "builtin".to_string(),
            ProfileSource::Json(text) => hex::encode(Sha256::digest(text.as_bytes())),
        };
        let mut caps = capabilities.to_vec();
        caps.sort_unstable();
        caps.dedup();
        let key = (id, caps, kernel);
        if let Some(found) = self.programs.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let profile = match source {
            ProfileSource::Builtin => builtin::profile(),
            ProfileSource::Json(text) => Profile::parse(text)?,
        };
        let program = if profile.is_unconfined() {
            None
        } else {
            let target = Target { arch: Target::native_arch(), capabilities: &key.1, kernel };
            Some(Arc::new(compile::compile(&profile.resolve(&target)?)?))
        };
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        if programs.len() >= CAPACITY {
            programs.clear();
        }
        programs.insert(key, program.clone());
        Ok(program)
    }
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_per_profile_and_capability_set() {
        let cache = Cache::default();
        let caps = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = cache.program(&ProfileSource::Builtin, &caps(&["CAP_KILL", "CAP_CHOWN"]), (6, 1)).unwrap().unwrap();
        let b = cache.program(&ProfileSource::Builtin, &caps(&["CAP_CHOWN", "CAP_KILL"]), (6, 1)).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same set in another order is the same filter");
        let admin = cache.program(&ProfileSource::Builtin, &caps(&["CAP_SYS_ADMIN"]), (6, 1)).unwrap().unwrap();
        assert_ne!(a, admin);
        assert!(cache.program(&ProfileSource::Json("{}".into()), &[], (6, 1)).unwrap().is_none());
        assert!(cache.program(&ProfileSource::Json("{".into()), &[], (6, 1)).is_err());
    }
}
