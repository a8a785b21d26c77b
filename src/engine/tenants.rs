//! Tenants: who may call, what they own, and how much of the machine they may use. A bearer
//! token names a tenant (tokens are stored only as SHA-256 hashes); the admin (the unix socket,
//! or an admin token) manages tenants and acts as the default tenant for the Docker API.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::containers::HostConfig;
use super::{Engine, Error, Result};
use crate::store::DEFAULT_TENANT;
use crate::store::tenants::{TenantRow, Usage};

/// The first host uid of the first tenant's user-namespace range.
pub const FIRST_UID_BASE: i64 = 100_000;
/// How many uids and gids each tenant's range holds.
pub const UID_RANGE: i64 = 65_536;
/// The file under the data root that holds the admin token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The daemon's operator: the unix socket, an admin token, or an open loopback listener.
    Admin,
    /// A tenant, by id and name.
    Tenant {
        /// The tenant's id.
        id: String,
        /// The tenant's name.
        name: String,
    },
}

impl Principal {
    /// The tenant whose objects the call sees.
    pub fn tenant_id(&self) -> &str {
        match self {
            Principal::Admin => DEFAULT_TENANT,
            Principal::Tenant { id, .. } => id,
        }
    }

    /// Whether the daemon's operator calls.
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin)
    }

    /// How the caller appears in the audit log.
    pub fn label(&self) -> &str {
        match self {
            Principal::Admin => "admin",
            Principal::Tenant { name, .. } => name,
        }
    }
}

/// A tenant's quotas; an absent field is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Containers it may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_containers: Option<i64>,
    /// Containers it may have running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running: Option<i64>,
    /// Sum of its containers' memory limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// Sum of its containers' CPU limits, in billionths of a CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// The largest pids limit of one container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_per_container: Option<i64>,
    /// Volumes it may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_volumes: Option<i64>,
    /// Bytes of images it may keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_bytes: Option<i64>,
    /// API requests per second (429 beyond).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
}

/// Limits applied to a tenant's container that names none, so no tenant container is
/// unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    /// Memory limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// CPU limit in billionths of a CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// pids limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
}

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TenantInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its quotas.
    pub quotas: Quotas,
    /// Its defaults.
    pub defaults: Defaults,
    /// The host uid its containers' root maps to.
    pub uid_base: Option<i64>,
    /// How many uids its range holds.
    pub uid_count: i64,
    /// RFC 3339.
    pub created_at: String,
}

/// A tenant's use of its quotas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct UsageInfo {
    /// Containers.
    pub containers: i64,
    /// Running containers.
    pub running: i64,
    /// Sum of memory limits.
    pub memory_bytes: i64,
    /// Sum of CPU limits.
    pub nano_cpus: i64,
    /// Volumes.
    pub volumes: i64,
    /// Bytes of images.
    pub storage_bytes: i64,
}

impl From<Usage> for UsageInfo {
    fn from(u: Usage) -> UsageInfo {
        UsageInfo {
            containers: u.containers,
            running: u.running,
            memory_bytes: u.memory_bytes,
            nano_cpus: u.nano_cpus,
            volumes: u.volumes,
            storage_bytes: u.image_bytes,
        }
    }
}

/// The SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    format!("kps_{}", hex::encode(rand::random::<[u8; 32]>()))
}

fn info(row: TenantRow) -> Result<TenantInfo> {
    Ok(TenantInfo {
        quotas: serde_json::from_str(&row.quotas).unwrap_or_default(),
        defaults: serde_json::from_str(&row.defaults).unwrap_or_default(),
        uid_count: if row.uid_base.is_some() { UID_RANGE } else { 0 },
        id: row.id,
        name: row.name,
        uid_base: row.uid_base,
        created_at: row.created_at,
    })
}

/// The lowest free uid base above the ones in use.
fn free_uid_base(used: &[i64]) -> i64 {
    let mut base = FIRST_UID_BASE;
    while used.contains(&base) {
        base += UID_RANGE;
    }
    base
}

impl Engine {
    /// Makes sure an admin token exists; a new one is written to `<data-root>/admin-token`
    /// (0600), the only place it is ever shown.
    pub(super) async fn ensure_admin_token(&self) -> Result<()> {
        let file = self.data_root.join(ADMIN_TOKEN_FILE);
        if self.store.has_admin_token().await? && file.exists() {
            return Ok(());
        }
        let token = new_token();
        self.store
            .insert_token(&hex::encode(rand::random::<[u8; 8]>()), DEFAULT_TENANT, true, &token_hash(&token))
            .await?;
        crate::runtime::host::write_private_file(&file, &format!("{token}\n"))?;
        tracing::info!(path = %file.display(), "wrote a new admin token");
        Ok(())
    }

    /// Who a bearer token stands for; `Unauthorized` when it is unknown or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let Some(row) = self.store.token_by_hash(&token_hash(token)).await? else {
            return Err(Error::Unauthorized("invalid or revoked token".into()));
        };
        if row.admin {
            return Ok(Principal::Admin);
        }
        let tenant = self
            .store
            .tenant(&row.tenant_id)
            .await?
            .ok_or_else(|| Error::Unauthorized("the token's tenant is gone".into()))?;
        Ok(Principal::Tenant { id: tenant.id, name: tenant.name })
    }

    /// Creates a tenant with its own uid range.
    pub async fn create_tenant(&self, name: &str, quotas: Quotas, defaults: Defaults) -> Result<TenantInfo> {
        super::containers::validate_object_name(name).map_err(Error::InvalidArgument)?;
        let row = TenantRow {
            id: hex::encode(rand::random::<[u8; 16]>()),
            name: name.to_string(),
            quotas: serde_json::to_string(&quotas).map_err(anyhow::Error::from)?,
            defaults: serde_json::to_string(&defaults).map_err(anyhow::Error::from)?,
            uid_base: Some(free_uid_base(&self.store.uid_bases().await?)),
            created_at: crate::store::now_rfc3339(),
        };
        if !self.store.insert_tenant(&row).await? {
            return Err(Error::Conflict(format!("tenant {name} already exists")));
        }
        info(row)
    }

    /// Every tenant.
    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>> {
        self.store.tenants().await?.into_iter().map(info).collect()
    }

    /// One tenant by name.
    pub async fn tenant_by_name(&self, name: &str) -> Result<TenantInfo> {
        info(self.store.tenant_by_name(name).await?.ok_or_else(|| Error::NotFound(format!("No such tenant: {name}")))?)
    }

    /// One tenant by id (the default tenant included).
    pub async fn tenant(&self, id: &str) -> Result<TenantInfo> {
        info(self.store.tenant(id).await?.ok_or_else(|| Error::NotFound(format!("No such tenant: {id}")))?)
    }

    /// Replaces a tenant's quotas and defaults (absent: kept).
    pub async fn update_tenant(
        &self,
        name: &str,
        quotas: Option<Quotas>,
        defaults: Option<Defaults>,
    ) -> Result<TenantInfo> {
        let current = self.tenant_by_name(name).await?;
        let quotas = quotas.unwrap_or(current.quotas);
        let defaults = defaults.unwrap_or(current.defaults);
        self.store
            .update_tenant(
                &current.id,
                &serde_json::to_string(&quotas).map_err(anyhow::Error::from)?,
                &serde_json::to_string(&defaults).map_err(anyhow::Error::from)?,
            )
            .await?;
        self.tenant_by_name(name).await
    }

    /// Deletes a tenant that owns nothing any more (409 otherwise), with its tokens.
    pub async fn delete_tenant(&self, name: &str) -> Result<()> {
        let tenant = self.tenant_by_name(name).await?;
        if tenant.id == DEFAULT_TENANT {
            return Err(Error::Forbidden("the default tenant cannot be deleted".into()));
        }
        let objects = self.store.tenant_object_count(&tenant.id).await?;
        if objects > 0 {
            return Err(Error::Conflict(format!(
                "tenant {name} still owns {objects} objects (containers, images, volumes, networks); remove them first"
            )));
        }
        self.store.delete_tenant(&tenant.id).await?;
        // Its range may go to a new tenant: nothing of it stays behind.
        if let Some(base) = tenant.uid_base.and_then(|b| u32::try_from(b).ok()) {
            self.remove_shifted_range(base).await?;
        }
        Ok(())
    }

    /// Issues a token for a tenant; the token is returned once and only its hash is kept.
    pub async fn issue_token(&self, tenant_name: &str) -> Result<(String, String)> {
        let tenant = self.tenant_by_name(tenant_name).await?;
        let (id, token) = (hex::encode(rand::random::<[u8; 8]>()), new_token());
        self.store.insert_token(&id, &tenant.id, false, &token_hash(&token)).await?;
        Ok((id, token))
    }

    /// Revokes a token by id.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        if self.store.revoke_token(id).await? { Ok(()) } else { Err(Error::NotFound(format!("No such token: {id}"))) }
    }

    /// A tenant's usage.
    pub async fn tenant_usage(&self, tenant: &str) -> Result<UsageInfo> {
        Ok(self.store.tenant_usage(tenant).await?.into())
    }

    /// Admits a container create: the tenant's confinement and defaults, then its quotas.
    pub async fn admit_container(&self, principal: &Principal, hc: &mut HostConfig) -> Result<()> {
        self.confine_for_tenant(principal, hc).await?;
        self.check_create_quotas(principal, hc).await
    }

    /// What a tenant may not do that the admin may (privileged, extra capabilities, host
    /// namespaces, devices, host bind mounts); and its defaults filled in where the request
    /// names no limit.
    async fn confine_for_tenant(&self, principal: &Principal, hc: &mut HostConfig) -> Result<()> {
        let Principal::Tenant { id, .. } = principal else {
            return Ok(());
        };
        let refuse = |what: &str| Err(Error::Forbidden(format!("{what} is not allowed for tenants")));
        if hc.privileged {
            return refuse("--privileged");
        }
        let defaults: Vec<String> = crate::runtime::spec::DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        for cap in hc.cap_add.iter().flatten() {
            let upper = cap.trim().to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
            if !defaults.contains(&full) {
                return refuse(&format!("--cap-add {cap}"));
            }
        }
        if hc.network_mode == "host" {
            return refuse("--network host");
        }
        for (mode, flag) in
            [(&hc.pid_mode, "--pid"), (&hc.ipc_mode, "--ipc"), (&hc.uts_mode, "--uts"), (&hc.userns_mode, "--userns")]
        {
            if mode == "host" {
                return refuse(&format!("{flag} host"));
            }
        }
        if hc.cgroupns_mode == "host" {
            return refuse("--cgroupns host");
        }
        if hc.devices.as_ref().is_some_and(|d| d.as_array().is_some_and(|a| !a.is_empty())) {
            return refuse("--device");
        }
        let host_bind = |b: &String| !super::volumes::mounts::is_volume_bind(b);
        if hc.binds.iter().flatten().any(host_bind) || hc.mounts.iter().flatten().any(|m| m.r#type == "bind") {
            return refuse("a bind mount of a host path (use a volume)");
        }
        let security = super::containers::security::parse(hc.security_opt.as_deref().unwrap_or_default())?;
        if let Some(what) = super::containers::security::tenant_refusal(&security) {
            return refuse(what);
        }
        let tenant = self.tenant(id).await?;
        if hc.memory == 0
            && let Some(memory) = tenant.defaults.memory_bytes
        {
            hc.memory = memory;
            if hc.memory_swap == 0 {
                hc.memory_swap = 2 * memory;
            }
        }
        if hc.nano_cpus == 0 && hc.cpu_quota == 0 {
            hc.nano_cpus = tenant.defaults.nano_cpus.unwrap_or(0);
        }
        if hc.pids_limit.is_none_or(|p| p <= 0) {
            hc.pids_limit = tenant.defaults.pids_limit.or(hc.pids_limit);
        }
        Ok(())
    }

    /// Refuses a container create that would exceed the tenant's quotas.
    async fn check_create_quotas(&self, principal: &Principal, hc: &HostConfig) -> Result<()> {
        let Principal::Tenant { id, .. } = principal else {
            return Ok(());
        };
        let quotas = self.tenant(id).await?.quotas;
        let usage = self.store.tenant_usage(id).await?;
        exceeds("max_containers", quotas.max_containers, usage.containers, 1, "containers")?;
        if quotas.memory_bytes.is_some() && hc.memory == 0 {
            return Err(Error::Forbidden("quota memory_bytes: a container must name a memory limit (-m)".into()));
        }
        exceeds("memory_bytes", quotas.memory_bytes, usage.memory_bytes, hc.memory, "bytes of memory")?;
        if quotas.nano_cpus.is_some() && hc.nano_cpus == 0 {
            return Err(Error::Forbidden("quota nano_cpus: a container must name a CPU limit (--cpus)".into()));
        }
        exceeds("nano_cpus", quotas.nano_cpus, usage.nano_cpus, hc.nano_cpus, "nano CPUs")?;
        if let Some(max) = quotas.pids_per_container {
            let asked = hc.pids_limit.unwrap_or(0);
            if asked <= 0 || asked > max {
                return Err(Error::Forbidden(format!(
                    "quota pids_per_container exceeded: the container asks for {} pids, the limit is {max}",
                    if asked <= 0 { "unlimited".to_string() } else { asked.to_string() }
                )));
            }
        }
        Ok(())
    }

    /// Refuses a start that would exceed the tenant's running containers.
    pub(crate) async fn check_start_quota(&self, tenant: &str) -> Result<()> {
        if tenant == DEFAULT_TENANT {
            return Ok(());
        }
        let quotas = self.tenant(tenant).await?.quotas;
        let usage = self.store.tenant_usage(tenant).await?;
        exceeds("max_running", quotas.max_running, usage.running, 1, "running containers")
    }

    /// Refuses a new volume beyond the tenant's quota.
    pub(crate) async fn check_volume_quota(&self, tenant: &str) -> Result<()> {
        if tenant == DEFAULT_TENANT {
            return Ok(());
        }
        let quotas = self.tenant(tenant).await?.quotas;
        let usage = self.store.tenant_usage(tenant).await?;
        exceeds("max_volumes", quotas.max_volumes, usage.volumes, 1, "volumes")
    }

    /// Refuses new image content beyond the tenant's storage quota.
    pub(crate) async fn check_storage_quota(&self, tenant: &str, adding: i64) -> Result<()> {
        if tenant == DEFAULT_TENANT {
            return Ok(());
        }
        let quotas = self.tenant(tenant).await?.quotas;
        let usage = self.store.tenant_usage(tenant).await?;
        exceeds("storage_bytes", quotas.storage_bytes, usage.image_bytes, adding, "bytes of images")
    }
}

/// A 403 naming the quota and the figures when `used + adding > limit`.
fn exceeds(quota: &str, limit: Option<i64>, used: i64, adding: i64, unit: &str) -> Result<()> {
    match limit {
        Some(limit) if used + adding > limit => Err(Error::Forbidden(format!(
            "quota {quota} exceeded: {used} {unit} in use, {adding} more asked, the limit is {limit}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_ranges_never_overlap() {
        assert_eq!(free_uid_base(&[]), FIRST_UID_BASE);
        assert_eq!(free_uid_base(&[FIRST_UID_BASE]), FIRST_UID_BASE + UID_RANGE);
        assert_eq!(free_uid_base(&[FIRST_UID_BASE + UID_RANGE]), FIRST_UID_BASE);
    }

    #[test]
    fn quota_messages_name_the_quota_and_figures() {
        assert!(exceeds("max_containers", None, 100, 1, "containers").is_ok());
        assert!(exceeds("max_containers", Some(2), 1, 1, "containers").is_ok());
        let err = exceeds("memory_bytes", Some(100), 64, 64, "bytes of memory").unwrap_err().to_string();
        assert_eq!(err, "quota memory_bytes exceeded: 64 bytes of memory in use, 64 more asked, the limit is 100");
    }

    #[test]
    fn tokens_hash_and_quotas_refuse_unknown_fields() {
        assert_eq!(token_hash("x").len(), 64);
        assert!(new_token().starts_with("kps_"));
        assert!(serde_json::from_str::<Quotas>(r#"{"max_containers": 2, "bogus": 1}"#).is_err());
        let q: Quotas = serde_json::from_str(r#"{"memory_bytes": 1048576}"#).unwrap();
        assert_eq!(q.memory_bytes, Some(1048576));
    }
}
