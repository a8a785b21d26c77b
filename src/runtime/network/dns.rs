//! The embedded DNS server of a user-defined network: a UDP responder on the network's gateway
//! address, port 53, in the host's namespace. It answers A queries for the names of the
//! network's containers (name, aliases, short id) from a table the engine keeps, says NXDOMAIN
//! for other single-label names, and forwards everything else to the host's resolvers.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The TTL of the answers (Docker's embedded server uses 600 s).
const TTL: u32 = 600;
/// How long an upstream resolver gets to answer a forwarded query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The names a network's containers answer to: lowercase name → addresses.
pub type NameTable = Arc<RwLock<HashMap<String, Vec<Ipv4Addr>>>>;

/// A running responder; dropping it stops it.
#[derive(Debug)]
pub struct DnsServer {
    /// Where it listens.
    pub addr: SocketAddrV4,
    task: tokio::task::AbortHandle,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Listens on `ip:53` and serves `names`, forwarding to `upstreams`.
    pub async fn bind(ip: Ipv4Addr, names: NameTable, upstreams: Vec<SocketAddr>) -> io::Result<DnsServer> {
        let socket = Arc::new(UdpSocket::bind((ip, 53)).await?);
        let addr = SocketAddrV4::new(ip, 53);
        let task = tokio::spawn(serve(socket, names, upstreams)).abort_handle();
        Ok(DnsServer { addr, task })
    }
}

/// The host's resolvers from `/etc/resolv.conf` (the responder runs in the host's namespace,
/// so loopback resolvers such as systemd-resolved's are reachable).
pub fn host_upstreams() -> Vec<SocketAddr> {
    parse_nameservers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

fn parse_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

async fn serve(socket: Arc<UdpSocket>, names: NameTable, upstreams: Vec<SocketAddr>) {
    let upstreams = Arc::new(upstreams);
    let mut buffer = vec![0u8; 4096];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        let query = buffer[..n].to_vec();
        let decision = {
            let table = names.read().unwrap_or_else(|e| e.into_inner());
            answer(&query, &table)
        };
        match decision {
            Some(Answer::Reply(bytes)) => {
                let _ = socket.send_to(&bytes, client).await;
            }
            Some(Answer::Forward) => {
                let (socket, upstreams) = (socket.clone(), upstreams.clone());
                tokio::spawn(async move {
                    let reply = match forward(&query, &upstreams).await {
                        Some(reply) => reply,
                        None => match failure(&query, ResponseCode::ServFail) {
                            Some(reply) => reply,
                            None => return,
                        },
                    };
                    let _ = socket.send_to(&reply, client).await;
                });
            }
            None => {}
        }
    }
}

/// What to do with one query.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Ask the host's resolvers.
    Forward,
}

/// Decides one query against the table; None for a packet that is not a DNS query at all.
pub fn answer(packet: &[u8], names: &HashMap<String, Vec<Ipv4Addr>>) -> Option<Answer> {
    let request = Message::from_vec(packet).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let Some(query) = request.queries.first().cloned() else {
        return failure(packet, ResponseCode::FormErr).map(Answer::Reply);
    };
    let name = query.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let known = names.get(&name).filter(|addresses| !addresses.is_empty());
    let reply = |code: ResponseCode, addresses: &[Ipv4Addr]| {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.response_code = code;
        response.add_query(query.clone());
        for ip in addresses {
            response.add_answer(Record::from_rdata(query.name().clone(), TTL, RData::A(A(*ip))));
        }
        response.to_vec().ok().map(Answer::Reply)
    };
    match known {
        Some(addresses) if query.query_class() == DNSClass::IN => {
            if query.query_type() == RecordType::A {
                reply(ResponseCode::NoError, addresses)
            } else {
                // The name exists, with no records of that type (AAAA: no IPv6 here).
                reply(ResponseCode::NoError, &[])
            }
        }
        // A single label is never a public name: no point asking the world.
        _ if !name.contains('.') => reply(ResponseCode::NXDomain, &[]),
        _ => Some(Answer::Forward),
    }
}

/// An error reply to `packet` echoing its question.
fn failure(packet: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let request = Message::from_vec(packet).ok()?;
    let mut response = Message::error_msg(request.metadata.id, request.metadata.op_code, code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    for query in request.queries {
        response.add_query(query);
    }
    response.to_vec().ok()
}

async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for upstream in upstreams {
        let bind: SocketAddr = if upstream.is_ipv4() { "0.0.0.0:0".parse().ok()? } else { "[::]:0".parse().ok()? };
        let Ok(socket) = UdpSocket::bind(bind).await else { continue };
        if socket.connect(upstream).await.is_err() || socket.send(query).await.is_err() {
            continue;
        }
        let mut buffer = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(UPSTREAM_TIMEOUT, socket.recv(&mut buffer)).await {
            buffer.truncate(n);
            return Some(buffer);
        }
    }
    None
}

/// Encodes an A (or other) query for `name`: what a resolver sends (for tests and probes).
pub fn encode_query(id: u16, name: &str, record_type: RecordType) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, hickory_proto::op::OpCode::Query);
    message.metadata.recursion_desired = true;
    if let Ok(name) = hickory_proto::rr::Name::from_ascii(name) {
        message.add_query(Query::query(name, record_type));
    }
    message.to_vec().unwrap_or_default()
}

/// The response code and the A addresses of a reply.
pub fn decode_reply(packet: &[u8]) -> Option<(ResponseCode, Vec<Ipv4Addr>)> {
    let message = Message::from_vec(packet).ok()?;
    let addresses = message
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    Some((message.metadata.response_code, addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> HashMap<String, Vec<Ipv4Addr>> {
        [("web".to_string(), vec![Ipv4Addr::new(10, 9, 0, 2)])].into_iter().collect()
    }

    fn reply_of(answer: Option<Answer>) -> (ResponseCode, Vec<Ipv4Addr>) {
        match answer {
            Some(Answer::Reply(bytes)) => decode_reply(&bytes).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn known_names_are_answered_case_insensitively() {
        let (code, addresses) = reply_of(answer(&encode_query(7, "WEB.", RecordType::A), &table()));
        assert_eq!(code, ResponseCode::NoError);
        assert_eq!(addresses, vec![Ipv4Addr::new(10, 9, 0, 2)]);
        let (code, addresses) = reply_of(answer(&encode_query(8, "web", RecordType::AAAA), &table()));
        assert_eq!((code, addresses.len()), (ResponseCode::NoError, 0));
    }

    #[test]
    fn unknown_single_labels_are_nxdomain_and_others_forwarded() {
        let (code, _) = reply_of(answer(&encode_query(9, "db", RecordType::A), &table()));
        assert_eq!(code, ResponseCode::NXDomain);
        assert_eq!(answer(&encode_query(10, "example.com", RecordType::A), &table()), Some(Answer::Forward));
        assert_eq!(answer(b"garbage", &table()), None);
    }

    #[test]
    fn replies_keep_the_id_and_question() {
        let Some(Answer::Reply(bytes)) = answer(&encode_query(4242, "web", RecordType::A), &table()) else {
            panic!("no reply");
        };
        let message = Message::from_vec(&bytes).unwrap();
        assert_eq!(message.metadata.id, 4242);
        assert_eq!(message.metadata.message_type, MessageType::Response);
        assert_eq!(message.queries.len(), 1);
        let failed = failure(&encode_query(5, "x.example", RecordType::A), ResponseCode::ServFail).unwrap();
        assert_eq!(decode_reply(&failed).unwrap().0, ResponseCode::ServFail);
    }

    #[test]
    fn nameservers_come_from_resolv_conf() {
        let servers = parse_nameservers("search lan\nnameserver 127.0.0.53\nnameserver ::1\n# nameserver 1.1.1.1\n");
        assert_eq!(servers, vec!["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    }
}
