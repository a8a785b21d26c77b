//! RegistryDigests: the `repository@sha256:…` names images got from pulls and pushes, as
//! `docker images --digests` and `docker image inspect` show them.

use std::collections::HashMap;

use super::{Engine, Result};
use crate::images::reference::Reference;

impl Engine {
    /// A tenant's registry digests by image id, in familiar form (`busybox@sha256:…`).
    pub async fn repo_digests_by_image(&self, tenant: &str) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for (image_id, repository, digest) in self.store.repo_digests(tenant).await? {
            out.entry(image_id).or_default().push(familiar_digest(&repository, &digest));
        }
        Ok(out)
    }

    /// One image's registry digests, in familiar form.
    pub async fn image_repo_digests(&self, tenant: &str, id: &str) -> Result<Vec<String>> {
        Ok(self.repo_digests_by_image(tenant).await?.remove(id).unwrap_or_default())
    }

    /// The image `name@sha256:…` names, when the reference has a digest the tenant recorded.
    pub(crate) async fn image_by_repo_digest(&self, tenant: &str, name: &str) -> Result<Option<String>> {
        let Ok(reference) = Reference::parse(name) else {
            return Ok(None);
        };
        let Some(digest) = reference.digest() else {
            return Ok(None);
        };
        Ok(self.store.repo_digest_target(tenant, &reference.repository(), digest).await?)
    }
}

/// `busybox@sha256:…` from (`docker.io/library/busybox`, `sha256:…`).
fn familiar_digest(repository: &str, digest: &str) -> String {
    match Reference::parse(&format!("{repository}@{digest}")) {
        Ok(reference) => reference.familiar(),
        Err(_) => format!("{repository}@{digest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_shown_familiar() {
        let digest = format!("sha256:{}", "b".repeat(64));
        assert_eq!(familiar_digest("docker.io/library/busybox", &digest), format!("busybox@{digest}"));
        assert_eq!(familiar_digest("127.0.0.1:5000/bb", &digest), format!("127.0.0.1:5000/bb@{digest}"));
    }
}
