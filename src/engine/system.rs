//! System facts for `/info` and `/version`.

use std::path::Path;

use super::{Engine, Result};
use crate::runtime::host::HostInfo;

/// Counts of a tenant's objects, for `/info`.
#[derive(Debug, Default, Clone)]
pub struct ObjectCounts {
    /// All containers.
    pub containers: i64,
    /// Running ones.
    pub running: i64,
    /// Paused ones.
    pub paused: i64,
    /// Neither running nor paused.
    pub stopped: i64,
    /// Images.
    pub images: i64,
}

impl Engine {
    /// What the host is.
    pub fn host(&self) -> &HostInfo {
        &self.host
    }

    /// `/info`'s SecurityOptions: the confinement in force (seccomp, AppArmor, SELinux), then
    /// the other isolation features.
    pub fn security_options(&self) -> Vec<String> {
        let mut options = self.confinement.info_options();
        options.push("name=cgroupns".into());
        options
    }

    /// The data root, as `/info` reports it.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// Writes an audit record.
    pub async fn record_audit(&self, row: &crate::store::tenants::AuditRow) -> Result<()> {
        Ok(self.store.insert_audit(row).await?)
    }

    /// The newest audit records (of one tenant, by name, when given).
    pub async fn audit(&self, tenant: Option<&str>, limit: i64) -> Result<Vec<crate::store::tenants::AuditRow>> {
        let tenant_id = match tenant {
            Some(name) => Some(self.tenant_by_name(name).await?.id),
            None => None,
        };
        Ok(self.store.audit(tenant_id.as_deref(), limit).await?)
    }

    /// Which limits the host's cgroups enforce.
    pub fn cgroup_features(&self) -> crate::runtime::cgroups::Features {
        self.cgroups.as_ref().map(crate::runtime::cgroups::features).unwrap_or_default()
    }

    /// The daemon's identity, kept in the database.
    pub fn daemon_id(&self) -> &str {
        &self.daemon_id
    }

    /// A tenant's events (recorded since `since`, then live until `until`), filtered.
    pub async fn events(
        &self,
        tenant: &str,
        since: Option<i64>,
        until: Option<i64>,
        filters: super::filters::Filters,
    ) -> Result<tokio::sync::mpsc::Receiver<super::events::Event>> {
        self.events.stream(tenant, since, until, filters).await
    }

    /// Counts a tenant's containers and images.
    pub async fn object_counts(&self, tenant: &str) -> Result<ObjectCounts> {
        let mut counts = ObjectCounts { images: self.store.count_images(tenant).await?, ..Default::default() };
        for (status, n) in self.store.count_containers_by_status(tenant).await? {
            counts.containers += n;
            match status.as_str() {
                "running" | "restarting" => counts.running += n,
                "paused" => counts.paused += n,
                _ => counts.stopped += n,
            }
        }
        Ok(counts)
    }
}
