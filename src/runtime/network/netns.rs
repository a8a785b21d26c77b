//! Work inside a container's network namespace: addresses, links and routes of the container's
//! side of a veth pair. `setns` changes the namespace of the calling thread only, so this runs
//! on a short-lived thread of its own that enters the namespace, opens a netlink socket there
//! (a netlink socket stays bound to the namespace it was created in), drives it on a
//! current-thread runtime, and exits. No tokio worker or blocking-pool thread ever moves.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use nix::sched::CloneFlags;
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

/// How one interface inside the container is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsideInterface {
    /// `eth0`, `eth1`…
    pub name: String,
    /// The container's address with the network's prefix length.
    pub address: Ipv4Net,
    /// The default route's gateway, for the network that carries it.
    pub default_gateway: Option<Ipv4Addr>,
}

/// Configures `interface` inside the network namespace of process `pid`: `lo` and the
/// interface up, the address, and the default route.
pub async fn configure(pid: i32, interface: InsideInterface) -> io::Result<()> {
    let netns = File::open(format!("/proc/{pid}/ns/net"))?;
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("kapsel-netns".into()).spawn(move || {
        let _ = done.send(configure_here(&netns, &interface));
    })?;
    result.await.unwrap_or_else(|_| Err(io::Error::other("the network namespace thread ended without an answer")))
}

/// Runs on the dedicated thread: enters the namespace, then talks netlink there.
fn configure_here(netns: &File, interface: &InsideInterface) -> io::Result<()> {
    nix::sched::setns(netns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| io::Error::other(format!("entering the container's network namespace: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        let netlink_error = |what: String| move |e: rtnetlink::Error| io::Error::other(format!("{what}: {e}"));
        let index_of = |name: String| {
            let handle = handle.clone();
            async move {
                handle
                    .link()
                    .get()
                    .match_name(name.clone())
                    .execute()
                    .try_next()
                    .await
                    .map_err(netlink_error(format!("finding {name} in the container")))?
                    .map(|link| link.header.index)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no {name} in the container")))
            }
        };
        let lo = index_of("lo".into()).await?;
        handle
            .link()
            .set(LinkUnspec::new_with_index(lo).up().build())
            .execute()
            .await
            .map_err(netlink_error("bringing lo up".into()))?;
        let index = index_of(interface.name.clone()).await?;
        handle
            .address()
            .add(index, IpAddr::V4(interface.address.addr()), interface.address.prefix_len())
            .execute()
            .await
            .map_err(netlink_error(format!("adding {} to {}", interface.address, interface.name)))?;
        handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(netlink_error(format!("bringing {} up", interface.name)))?;
        if let Some(gateway) = interface.default_gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway).output_interface(index).build();
            handle
                .route()
                .add(route)
                .execute()
                .await
                .map_err(netlink_error(format!("adding the default route via {gateway}")))?;
        }
        Ok(())
    })
}
