//! `kapsel serve`: opens the engine, listens on every `-H` address, and shuts down cleanly on
//! SIGINT or SIGTERM (in-flight requests finish, the socket file is removed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::ServiceExt;
use axum::serve::ListenerExt;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::api;
use crate::api::auth::Listener;
use crate::config::{Cli, Command, Listen, ServeArgs};
use crate::engine::{Engine, EngineOptions};

/// How long in-flight requests (and open streams) get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs the command line's subcommand; the process's exit code.
pub fn main(cli: Cli) -> ExitCode {
    let args = match cli.command {
        Some(Command::Openapi) => {
            print!("{}", api::openapi::document());
            return ExitCode::SUCCESS;
        }
        Some(Command::Tenant { target, action }) => return crate::admin_cli::tenant(&target, &action),
        Some(Command::Token { target, action }) => return crate::admin_cli::token(&target, &action),
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let filter = EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kapsel: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("kapsel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The daemon proper.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listens = args.listeners().map_err(anyhow::Error::msg)?;
    let tls = match args.tls_options().map_err(anyhow::Error::msg)? {
        Some(options) => Some((api::tls::server_config(&options)?, options.verify)),
        None => None,
    };
    let engine = Arc::new(
        Engine::open(
            &args.data_root,
            &args.database_url(),
            EngineOptions {
                workers: args.workers,
                queue_depth: args.queue_depth,
                network: args.network_options(),
                tenant_rate_limit: args.tenant_rate_limit,
                userns_idmap: args.userns_idmap == crate::config::UsernsIdmap::Auto,
                registry: args.registry_options(),
            },
        )
        .await
        .with_context(|| format!("opening the data root {}", args.data_root.display()))?,
    );
    engine.start_networks().await.context("setting up networks")?;
    engine.recover_containers().await.context("finding running containers again")?;
    engine.restore_endpoints().await.context("restoring running containers' published ports")?;
    engine.recover_volumes().await.context("finding mounted volumes again")?;
    engine.apply_restart_policies().await.context("applying restart policies")?;
    let cors = api::Cors { origins: args.cors_origins.clone(), headers: args.cors_headers.clone() };
    let shutdown = CancellationToken::new();
    let mut servers = tokio::task::JoinSet::new();
    let mut sockets: Vec<PathBuf> = Vec::new();
    for listen in listens {
        let stop = shutdown.clone().cancelled_owned();
        match listen {
            Listen::Tcp(addr) => {
                let listener =
                    tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("listening on tcp://{addr}"))?;
                let open = args.insecure_no_auth;
                if open && !listener.local_addr()?.ip().is_loopback() {
                    anyhow::bail!("--insecure-no-auth is only allowed on loopback addresses, not tcp://{addr}");
                }
                let service = api::service(engine.clone(), Listener { unix: false, open }, &cors);
                if let Some((config, verify)) = &tls {
                    tracing::info!(
                        tokens_required = !open && !verify,
                        client_certificates_required = verify,
                        "API listening on tcp://{addr} (TLS)"
                    );
                    let (config, stop) = (config.clone(), shutdown.clone());
                    servers.spawn(async move {
                        api::tls::serve(listener, config, service, stop).await;
                        Ok(())
                    });
                    continue;
                }
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let make_service = service.into_make_service();
                tracing::info!(tokens_required = !open, "API listening on tcp://{addr}");
                servers.spawn(async move { axum::serve(listener, make_service).with_graceful_shutdown(stop).await });
            }
            Listen::Unix(path) => {
                let listener = bind_unix(&path)?;
                let make_service =
                    api::service(engine.clone(), Listener { unix: true, open: true }, &cors).into_make_service();
                tracing::info!("API listening on unix://{}", path.display());
                sockets.push(path);
                servers.spawn(async move { axum::serve(listener, make_service).with_graceful_shutdown(stop).await });
            }
        }
    }
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(result) = servers.join_next().await {
            if let Ok(Err(e)) = result {
                tracing::warn!(error = %e, "a listener ended with an error");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("some connections were still open after {SHUTDOWN_GRACE:?}; closing them");
        servers.abort_all();
    }
    for path in sockets {
        let _ = std::fs::remove_file(path);
    }
    engine.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Binds a unix socket, replacing a stale socket file, readable by root and its group only.
fn bind_unix(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!("{} exists and is not a socket", path.display());
        }
        std::fs::remove_file(path)?;
    }
    let listener =
        tokio::net::UnixListener::bind(path).with_context(|| format!("listening on unix://{}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Resolves at the first SIGINT or SIGTERM.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
