//! The userland proxy: a published port's listener on the host, relaying TCP connections and
//! UDP datagrams to the container. It is what answers on loopback (DNAT does not see
//! 127.0.0.1 without `route_localnet`), and holding the listening socket is what reserves the
//! host port, so a taken port fails the container's start with Docker's message.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use super::Proto;

/// How long a UDP flow with no traffic is kept (docker-proxy's 90 s).
const UDP_IDLE: Duration = Duration::from_secs(90);

/// A running proxy; dropping it closes the listener and every relayed connection.
#[derive(Debug)]
pub struct PortProxy {
    /// The address it listens on (with the real port when an ephemeral one was asked for).
    pub host: SocketAddrV4,
    /// tcp or udp.
    pub proto: Proto,
    task: tokio::task::AbortHandle,
}

impl Drop for PortProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PortProxy {
    /// Binds `host_ip:host_port` (port 0: an ephemeral one) and relays to `target`.
    pub async fn bind(host_ip: Ipv4Addr, host_port: u16, proto: Proto, target: SocketAddrV4) -> io::Result<PortProxy> {
        match proto {
            Proto::Tcp => {
                let listener = TcpListener::bind((host_ip, host_port)).await?;
                let host = v4(listener.local_addr()?);
                let task = tokio::spawn(relay_tcp(listener, target)).abort_handle();
                Ok(PortProxy { host, proto, task })
            }
            Proto::Udp => {
                let socket = UdpSocket::bind((host_ip, host_port)).await?;
                let host = v4(socket.local_addr()?);
                let task = tokio::spawn(relay_udp(Arc::new(socket), target)).abort_handle();
                Ok(PortProxy { host, proto, task })
            }
        }
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => SocketAddrV4::new(a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED), a.port()),
    }
}

async fn relay_tcp(listener: TcpListener, target: SocketAddrV4) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                connections.spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = upstream.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay_udp(socket: Arc<UdpSocket>, target: SocketAddrV4) {
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut readers: JoinSet<SocketAddr> = JoinSet::new();
    let mut buffer = vec![0u8; 65536];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                let Ok((n, client)) = received else { continue };
                let flow = match flows.get(&client) {
                    Some(flow) => flow.clone(),
                    None => {
                        let Ok(flow) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await else { continue };
                        if flow.connect(target).await.is_err() {
                            continue;
                        }
                        let flow = Arc::new(flow);
                        flows.insert(client, flow.clone());
                        readers.spawn(replies(flow.clone(), socket.clone(), client));
                        flow
                    }
                };
                let _ = flow.send(&buffer[..n]).await;
            }
            Some(Ok(client)) = readers.join_next(), if !readers.is_empty() => {
                flows.remove(&client);
            }
        }
    }
}

/// Relays the container's replies of one flow back to its client, until the flow is idle.
async fn replies(flow: Arc<UdpSocket>, socket: Arc<UdpSocket>, client: SocketAddr) -> SocketAddr {
    let mut buffer = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, flow.recv(&mut buffer)).await {
        let _ = socket.send_to(&buffer[..n], client).await;
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn tcp_and_udp_are_relayed_and_ports_are_reserved() {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = v4(backend.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut s, _) = backend.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let proxy = PortProxy::bind(Ipv4Addr::LOCALHOST, 0, Proto::Tcp, target).await.unwrap();
        assert_ne!(proxy.host.port(), 0);
        let taken = PortProxy::bind(Ipv4Addr::LOCALHOST, proxy.host.port(), Proto::Tcp, target).await;
        assert_eq!(taken.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        let mut client = TcpStream::connect(proxy.host).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut echoed = [0u8; 5];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"hello");

        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = v4(echo.local_addr().unwrap());
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = echo.recv_from(&mut buf).await.unwrap();
            echo.send_to(&buf[..n], from).await.unwrap();
        });
        let proxy = PortProxy::bind(Ipv4Addr::LOCALHOST, 0, Proto::Udp, target).await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"ping", proxy.host).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"ping");
    }
}
