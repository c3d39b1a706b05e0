//! Accepting connections: HTTP/1.1 through hyper with two bounds `axum::serve` does not set,
//! and a graceful stop.
//!
//! - **An idle timeout.** A connection waiting for its next request's head longer than
//!   `idle_connection_secs` is closed (hyper's header-read timeout, which runs from the moment the
//!   connection waits for a head). Without it an idle keep-alive connection lived as long as its
//!   client kept it, with its read buffer.
//! - **A smaller read buffer.** Each connection's buffer grows with the large bodies it carries
//!   and is kept while it lives; hyper's default limit is 408 KiB. The load test (docs/qa-report.md,
//!   section 5) saw 1,100 connections take the escrow from 16 to 191 MiB resident. The limit here,
//!   [`READ_BUFFER_LIMIT`], still holds the largest request head the API accepts (256 wrapped-DEK
//!   headers and a label).
//!
//! On `shutdown` it stops accepting, asks every open connection to finish its request in progress
//! and close, and returns once all have.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// Per-connection read buffer limit: 128 KiB, above the largest request head the API accepts
/// (256 `x-medledger-wrapped-dek` headers of about 210 bytes, a label of up to 2.1 KiB hex, the
/// cookie and the rest).
pub const READ_BUFFER_LIMIT: usize = 128 * 1024;

/// Serves `router` on `listener` (each request carrying its peer's address as `ConnectInfo`),
/// closing connections idle for `idle`, until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    idle: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: the listener itself is fine, so
                    // wait a moment rather than spin, as axum::serve does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses must not wait for the peer's delayed ACK (Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = router.clone().layer(axum::Extension(ConnectInfo(peer)));
        connections.spawn(connection(tcp, peer, service, idle, stop_rx.clone()));
    }
    let _ = stop_tx.send(true);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// One connection, until it closes or `stop` asks it to finish.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    service: Router,
    idle: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_buf_size(READ_BUFFER_LIMIT);
    let conn = builder
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = async move {
        // Its guard is dropped here: only the outcome crosses the await below.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    // A client that goes away or idles out is routine; anything else is worth a line.
    if let Err(e) = served {
        if !(e.is_incomplete_message() || e.is_timeout() || e.is_canceled()) {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
