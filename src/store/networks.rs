//! Queries over networks, containers' attachments to them (with the live endpoint and its
//! address while the container runs) and the host ports running containers hold.

use sqlx::Row;

use super::{Store, UniqueError, unique_error};

/// A network as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkRow {
    /// Owner (predefined networks: the default tenant, listed for all).
    pub tenant_id: String,
    /// 64 hex.
    pub id: String,
    /// Unique per tenant.
    pub name: String,
    /// bridge, host or null.
    pub driver: String,
    /// The Linux bridge (bridge driver).
    pub bridge: String,
    /// CIDR (bridge driver).
    pub subnet: String,
    /// The bridge's address (bridge driver).
    pub gateway: String,
    /// No traffic in or out of the bridge.
    pub internal: bool,
    /// `--attachable` (accepted, as every local network is).
    pub attachable: bool,
    /// bridge, host, none: made by the daemon.
    pub predefined: bool,
    /// Labels as a JSON object.
    pub labels: String,
    /// Driver options as a JSON object.
    pub options: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The live side of an attachment, while the container runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    /// 64 hex.
    pub endpoint_id: String,
    /// The container's address.
    pub ip: String,
    /// Its MAC address.
    pub mac: String,
    /// The interface inside the container (eth0…).
    pub ifname: String,
    /// The host end of the veth pair.
    pub host_ifname: String,
}

/// A container's attachment to a network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttachmentRow {
    /// The network.
    pub network_id: String,
    /// The container.
    pub container_id: String,
    /// Order of attachment (the first carries the default route).
    pub position: i64,
    /// `--network-alias` values as a JSON array.
    pub aliases: String,
    /// `--ip`, or empty.
    pub requested_ip: String,
    /// Set while the container runs.
    pub endpoint: Option<Endpoint>,
}

/// A host port a running container holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedPort {
    /// The container.
    pub container_id: String,
    /// tcp or udp.
    pub proto: String,
    /// The container's port.
    pub container_port: u16,
    /// The host address (0.0.0.0: all).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
}

/// A static `SELECT` of every network column, with the given tail.
macro_rules! select_networks {
    ($tail:literal) => {
        concat!(
            "SELECT tenant_id, id, name, driver, bridge, subnet, gateway, internal, attachable, predefined, labels, ",
            "options, created_at FROM networks ",
            $tail
        )
    };
}

fn row_to_network(row: sqlx::sqlite::SqliteRow) -> NetworkRow {
    NetworkRow {
        tenant_id: row.get("tenant_id"),
        id: row.get("id"),
        name: row.get("name"),
        driver: row.get("driver"),
        bridge: row.get("bridge"),
        subnet: row.get("subnet"),
        gateway: row.get("gateway"),
        internal: row.get::<i64, _>("internal") != 0,
        attachable: row.get::<i64, _>("attachable") != 0,
        predefined: row.get::<i64, _>("predefined") != 0,
        labels: row.get("labels"),
        options: row.get("options"),
        created_at: row.get("created_at"),
    }
}

/// A static `SELECT` of every attachment column, with the given tail.
macro_rules! select_attachments {
    ($tail:literal) => {
        concat!(
            "SELECT network_id, container_id, position, aliases, requested_ip, endpoint_id, ip, mac, ifname, ",
            "host_ifname FROM network_attachments ",
            $tail
        )
    };
}

fn row_to_attachment(row: sqlx::sqlite::SqliteRow) -> AttachmentRow {
    let endpoint_id: Option<String> = row.get("endpoint_id");
    AttachmentRow {
        network_id: row.get("network_id"),
        container_id: row.get("container_id"),
        position: row.get("position"),
        aliases: row.get("aliases"),
        requested_ip: row.get("requested_ip"),
        endpoint: endpoint_id.map(|endpoint_id| Endpoint {
            endpoint_id,
            ip: row.get::<Option<String>, _>("ip").unwrap_or_default(),
            mac: row.get::<Option<String>, _>("mac").unwrap_or_default(),
            ifname: row.get::<Option<String>, _>("ifname").unwrap_or_default(),
            host_ifname: row.get::<Option<String>, _>("host_ifname").unwrap_or_default(),
        }),
    }
}

fn row_to_port(row: sqlx::sqlite::SqliteRow) -> PublishedPort {
    PublishedPort {
        container_id: row.get("container_id"),
        proto: row.get("proto"),
        container_port: row.get::<i64, _>("container_port") as u16,
        host_ip: row.get("host_ip"),
        host_port: row.get::<i64, _>("host_port") as u16,
    }
}

impl Store {
    /// Records a network; `Taken` when the tenant has the name.
    pub async fn insert_network(&self, n: &NetworkRow) -> Result<(), UniqueError> {
        sqlx::query(
            "INSERT INTO networks (tenant_id, id, name, driver, bridge, subnet, gateway, internal, attachable,
             predefined, labels, options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&n.tenant_id)
        .bind(&n.id)
        .bind(&n.name)
        .bind(&n.driver)
        .bind(&n.bridge)
        .bind(&n.subnet)
        .bind(&n.gateway)
        .bind(n.internal as i64)
        .bind(n.attachable as i64)
        .bind(n.predefined as i64)
        .bind(&n.labels)
        .bind(&n.options)
        .bind(&n.created_at)
        .execute(self.pool())
        .await
        .map_err(unique_error)?;
        Ok(())
    }

    /// The networks a tenant sees: its own and the predefined ones, oldest first.
    pub async fn networks(&self, tenant: &str) -> sqlx::Result<Vec<NetworkRow>> {
        Ok(sqlx::query(select_networks!("WHERE tenant_id = ? OR predefined = 1 ORDER BY created_at, rowid"))
            .bind(tenant)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_network)
            .collect())
    }

    /// Every network of every tenant (the daemon's own bookkeeping).
    pub async fn all_networks(&self) -> sqlx::Result<Vec<NetworkRow>> {
        Ok(sqlx::query(select_networks!("ORDER BY created_at, rowid"))
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_network)
            .collect())
    }

    /// A network by id.
    pub async fn network(&self, id: &str) -> sqlx::Result<Option<NetworkRow>> {
        Ok(sqlx::query(select_networks!("WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(row_to_network))
    }

    /// A predefined network (bridge, host, none) by name.
    pub async fn predefined_network(&self, name: &str) -> sqlx::Result<Option<NetworkRow>> {
        Ok(sqlx::query(select_networks!("WHERE predefined = 1 AND name = ?"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .map(row_to_network))
    }

    /// Changes a network's subnet and gateway (the default bridge, when its flag changed).
    pub async fn set_network_subnet(&self, id: &str, subnet: &str, gateway: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE networks SET subnet = ?, gateway = ? WHERE id = ?")
            .bind(subnet)
            .bind(gateway)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Changes a network's bridge name (the default bridge, when its flag changed).
    pub async fn set_network_bridge(&self, id: &str, bridge: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE networks SET bridge = ? WHERE id = ?").bind(bridge).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Deletes a network and the attachments to it.
    pub async fn delete_network(&self, id: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM networks WHERE id = ?").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Attaches a container to a network after its other attachments; `Taken` when it is
    /// attached already.
    pub async fn add_attachment(
        &self,
        network_id: &str,
        container_id: &str,
        aliases: &str,
        requested_ip: &str,
    ) -> Result<(), UniqueError> {
        sqlx::query(
            "INSERT INTO network_attachments (network_id, container_id, position, aliases, requested_ip)
             VALUES (?, ?, (SELECT COALESCE(MAX(position), -1) + 1 FROM network_attachments WHERE container_id = ?), ?, ?)",
        )
        .bind(network_id)
        .bind(container_id)
        .bind(container_id)
        .bind(aliases)
        .bind(requested_ip)
        .execute(self.pool())
        .await
        .map_err(unique_error)?;
        Ok(())
    }

    /// Detaches a container from a network; false when it was not attached.
    pub async fn remove_attachment(&self, network_id: &str, container_id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM network_attachments WHERE network_id = ? AND container_id = ?")
            .bind(network_id)
            .bind(container_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A container's attachments in attachment order.
    pub async fn container_attachments(&self, container_id: &str) -> sqlx::Result<Vec<AttachmentRow>> {
        Ok(sqlx::query(select_attachments!("WHERE container_id = ? ORDER BY position"))
            .bind(container_id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_attachment)
            .collect())
    }

    /// A network's attachments.
    pub async fn network_attachments(&self, network_id: &str) -> sqlx::Result<Vec<AttachmentRow>> {
        Ok(sqlx::query(select_attachments!("WHERE network_id = ? ORDER BY container_id"))
            .bind(network_id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_attachment)
            .collect())
    }

    /// Every attachment with a live endpoint.
    pub async fn live_attachments(&self) -> sqlx::Result<Vec<AttachmentRow>> {
        Ok(sqlx::query(select_attachments!("WHERE endpoint_id IS NOT NULL ORDER BY position"))
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_attachment)
            .collect())
    }

    /// The addresses a network's live endpoints hold.
    pub async fn used_addresses(&self, network_id: &str) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT ip FROM network_attachments WHERE network_id = ? AND ip IS NOT NULL")
            .bind(network_id)
            .fetch_all(self.pool())
            .await
    }

    /// Records an attachment's live endpoint; `Taken` when another endpoint holds the address.
    pub async fn set_endpoint(&self, network_id: &str, container_id: &str, e: &Endpoint) -> Result<(), UniqueError> {
        sqlx::query(
            "UPDATE network_attachments SET endpoint_id = ?, ip = ?, mac = ?, ifname = ?, host_ifname = ?
             WHERE network_id = ? AND container_id = ?",
        )
        .bind(&e.endpoint_id)
        .bind(&e.ip)
        .bind(&e.mac)
        .bind(&e.ifname)
        .bind(&e.host_ifname)
        .bind(network_id)
        .bind(container_id)
        .execute(self.pool())
        .await
        .map_err(unique_error)?;
        Ok(())
    }

    /// Clears an attachment's endpoint, releasing its address.
    pub async fn clear_endpoint(&self, network_id: &str, container_id: &str) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE network_attachments SET endpoint_id = NULL, ip = NULL, mac = NULL, ifname = NULL, host_ifname = NULL
             WHERE network_id = ? AND container_id = ?",
        )
        .bind(network_id)
        .bind(container_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the host ports a container holds (replacing what was recorded).
    pub async fn set_published_ports(&self, container_id: &str, ports: &[PublishedPort]) -> sqlx::Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM published_ports WHERE container_id = ?").bind(container_id).execute(&mut *tx).await?;
        for p in ports {
            sqlx::query(
                "INSERT OR IGNORE INTO published_ports (container_id, proto, container_port, host_ip, host_port)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(container_id)
            .bind(&p.proto)
            .bind(p.container_port as i64)
            .bind(&p.host_ip)
            .bind(p.host_port as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The host ports a container holds.
    pub async fn published_ports(&self, container_id: &str) -> sqlx::Result<Vec<PublishedPort>> {
        Ok(sqlx::query(
            "SELECT container_id, proto, container_port, host_ip, host_port FROM published_ports
             WHERE container_id = ? ORDER BY container_port, proto, host_ip",
        )
        .bind(container_id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(row_to_port)
        .collect())
    }

    /// Every held host port.
    pub async fn all_published_ports(&self) -> sqlx::Result<Vec<PublishedPort>> {
        Ok(sqlx::query("SELECT container_id, proto, container_port, host_ip, host_port FROM published_ports")
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(row_to_port)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::containers::{ContainerRow, ContainerState};
    use crate::store::{DEFAULT_TENANT as T, test_store};

    fn network(id: &str, name: &str) -> NetworkRow {
        NetworkRow {
            tenant_id: T.into(),
            id: id.into(),
            name: name.into(),
            driver: "bridge".into(),
            subnet: "10.9.0.0/24".into(),
            gateway: "10.9.0.1".into(),
            labels: "{}".into(),
            options: "{}".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn addresses_are_unique_per_network_and_go_with_the_container() {
        let (store, _dir) = test_store().await;
        store.insert_image(T, "sha256:aa", b"{}", None, &[]).await.unwrap();
        for id in ["c1", "c2"] {
            let row = ContainerRow {
                tenant_id: T.into(),
                id: id.into(),
                name: id.into(),
                image_id: "sha256:aa".into(),
                image_ref: "busybox".into(),
                config: "{}".into(),
                host_config: "{}".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                state: ContainerState { status: "created".into(), ..Default::default() },
                health: None,
            };
            store.insert_container(&row).await.unwrap();
        }
        store.insert_network(&network("n1", "appnet")).await.unwrap();
        assert!(matches!(store.insert_network(&network("n2", "appnet")).await, Err(UniqueError::Taken)));
        store.add_attachment("n1", "c1", "[\"web\"]", "").await.unwrap();
        store.add_attachment("n1", "c2", "[]", "").await.unwrap();
        assert!(matches!(store.add_attachment("n1", "c1", "[]", "").await, Err(UniqueError::Taken)));
        let endpoint = Endpoint { endpoint_id: "e1".into(), ip: "10.9.0.2".into(), ..Default::default() };
        store.set_endpoint("n1", "c1", &endpoint).await.unwrap();
        let twin = Endpoint { endpoint_id: "e2".into(), ..endpoint.clone() };
        assert!(matches!(store.set_endpoint("n1", "c2", &twin).await, Err(UniqueError::Taken)));
        assert_eq!(store.used_addresses("n1").await.unwrap(), vec!["10.9.0.2"]);
        assert_eq!(store.live_attachments().await.unwrap().len(), 1);
        store.clear_endpoint("n1", "c1").await.unwrap();
        assert!(store.used_addresses("n1").await.unwrap().is_empty());
        let port = PublishedPort {
            container_id: "c1".into(),
            proto: "tcp".into(),
            container_port: 80,
            host_ip: "0.0.0.0".into(),
            host_port: 8080,
        };
        store.set_published_ports("c1", std::slice::from_ref(&port)).await.unwrap();
        assert_eq!(store.published_ports("c1").await.unwrap(), vec![port]);
        store.delete_container("c1").await.unwrap();
        assert!(store.container_attachments("c1").await.unwrap().is_empty());
        assert!(store.all_published_ports().await.unwrap().is_empty());
        store.delete_network("n1").await.unwrap();
        assert!(store.container_attachments("c2").await.unwrap().is_empty());
    }
}
