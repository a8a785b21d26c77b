//! Links of the host's network namespace over rtnetlink: bridges with their gateway address,
//! and veth pairs whose container end is created straight inside the container's network
//! namespace (one RTM_NEWLINK carrying IFLA_NET_NS_FD for the peer).

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth};

/// A netlink connection to the host's network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

/// rtnetlink's error as an io::Error, keeping the errno when the kernel sent one.
fn io_error(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(message) => message.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace and drives it on the
    /// current tokio runtime. The daemon calls it once, from the host namespace.
    pub fn connect() -> io::Result<Netlink> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The index of the link called `name`, if there is one.
    pub async fn link_index(&self, name: &str) -> io::Result<Option<u32>> {
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(Some(link.header.index)),
            Ok(None) => Ok(None),
            Err(e) => {
                let e = io_error(e);
                if errno(&e) == Some(libc::ENODEV) { Ok(None) } else { Err(e) }
            }
        }
    }

    /// Makes the bridge `name` (if missing) with `gateway` (the address and the network's
    /// prefix length) and brings it up. Idempotent.
    pub async fn ensure_bridge(&self, name: &str, gateway: Ipv4Net) -> io::Result<()> {
        if self.link_index(name).await?.is_none() {
            match self.handle.link().add(LinkBridge::new(name).build()).execute().await.map_err(io_error) {
                Err(e) if errno(&e) != Some(libc::EEXIST) => {
                    return Err(io::Error::new(e.kind(), format!("creating bridge {name}: {e}")));
                }
                _ => {}
            }
        }
        let index = self
            .link_index(name)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("bridge {name} vanished")))?;
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(gateway.addr()), gateway.prefix_len())
            .execute()
            .await
            .map_err(io_error)
        {
            Err(e) if errno(&e) != Some(libc::EEXIST) => {
                return Err(io::Error::new(e.kind(), format!("adding {gateway} to {name}: {e}")));
            }
            _ => {}
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| io::Error::other(format!("bringing {name} up: {}", io_error(e))))
    }

    /// Deletes the link called `name` (a bridge, or either end of a veth pair, which takes the
    /// other end with it). False when there was none.
    pub async fn delete_link(&self, name: &str) -> io::Result<bool> {
        let Some(index) = self.link_index(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(index).execute().await.map_err(io_error) {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(io::Error::new(e.kind(), format!("deleting {name}: {e}"))),
        }
    }

    /// Creates the veth pair `host_name` — `peer_name`: the host end joins `bridge` and comes
    /// up; the peer is created inside the network namespace `netns` (an open
    /// `/proc/<pid>/ns/net`) with the MAC address `mac`, and stays down until configured
    /// from inside.
    pub async fn create_veth(
        &self,
        host_name: &str,
        bridge: &str,
        netns: &std::fs::File,
        peer_name: &str,
        mac: [u8; 6],
    ) -> io::Result<()> {
        let bridge_index = self
            .link_index(bridge)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("bridge {bridge} does not exist")))?;
        let peer = LinkUnspec::new_with_name(peer_name).setns_by_fd(netns.as_raw_fd()).address(mac.to_vec()).build();
        let message = LinkVeth::new(host_name, peer_name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .controller(bridge_index)
            .up()
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| io::Error::other(format!("creating veth {host_name}: {}", io_error(e))))
    }
}

/// The gateway of a subnet as the bridge carries it: the address with the subnet's prefix.
pub fn gateway_net(gateway: Ipv4Addr, subnet: &Ipv4Net) -> Ipv4Net {
    Ipv4Net::new(gateway, subnet.prefix_len()).unwrap_or(*subnet)
}
