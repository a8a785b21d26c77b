//! A TLS listener's accept loop: each connection gets a TLS handshake (a plain HTTP request is
//! answered 400 instead, as dockerd does), then HTTP/1.1 with upgrades so that hijacked attach
//! and exec streams work over TLS, with the client certificate's identity on every request. On
//! shutdown it stops accepting, lets in-flight requests finish and closes idle connections.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::peer::TlsPeer;

/// How long a client may take from connecting to finishing the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Go's answer to plain HTTP on a TLS port, which the docker CLI shows as is.
const PLAIN_HTTP_REPLY: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves `service` on `listener` over TLS until `stop` is cancelled, then waits for open
/// connections to finish their requests.
pub async fn serve<S>(listener: TcpListener, config: Arc<ServerConfig>, service: S, stop: CancellationToken)
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let acceptor = TlsAcceptor::from(config);
    let connections = TaskTracker::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a TLS connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(connection(tcp, acceptor.clone(), service.clone(), stop.clone()));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// One connection, from the handshake to its last request.
async fn connection<S>(tcp: TcpStream, acceptor: TlsAcceptor, service: S, stop: CancellationToken)
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let tls = tokio::select! {
        result = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(tcp, acceptor)) => match result {
            Ok(Ok(Some(tls))) => tls,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        },
        () = stop.cancelled() => return,
    };
    let peer =
        tls.get_ref().1.peer_certificates().and_then(|chain| chain.first()).map(|leaf| TlsPeer::from_certificate(leaf));
    let handler = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        if let Some(peer) = &peer {
            request.extensions_mut().insert(peer.clone());
        }
        service.clone().oneshot(request)
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(tls), handler)
        .with_upgrades();
    tokio::pin!(http);
    let result = tokio::select! {
        result = http.as_mut() => result,
        () = stop.cancelled() => {
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "TLS connection ended with an error");
    }
}

/// The TLS handshake; `None` when the client spoke plain HTTP and was answered 400.
async fn handshake(mut tcp: TcpStream, acceptor: TlsAcceptor) -> std::io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 1 && first[0] != TLS_HANDSHAKE && first[0].is_ascii_uppercase() {
        refuse_plain_http(&mut tcp).await;
        return Ok(None);
    }
    acceptor.accept(tcp).await.map(Some)
}

/// Reads what the client sent of its request head (so that closing does not reset the
/// connection before the client reads the answer), answers 400 and closes.
async fn refuse_plain_http(tcp: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read_head = async {
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), read_head).await;
    let _ = tcp.write_all(PLAIN_HTTP_REPLY).await;
    let _ = tcp.shutdown().await;
}
