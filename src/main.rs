//! The `fauxauth` command: thin glue between the command line and the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fauxauth_server::{Clock, MockServer, ServerConfig};

/// A fake OpenAI-style OAuth authorization server and conformance harness.
#[derive(Debug, Parser)]
#[command(name = "fauxauth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mock authorization server (built-in configuration unless --config).
    Serve {
        /// YAML configuration file (see docs/CONFIG.md).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Also write every request's event as a JSON line to this file (see
        /// docs/CONTROL.md); complete after SIGINT/SIGTERM.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// Bearer token for the control API (overrides control.admin_token; required when
        /// listening on a non-loopback address).
        #[arg(
            long,
            env = "FAUXAUTH_ADMIN_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )]
        admin_token: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve {
            config,
            addr,
            events,
            admin_token,
        } => runtime.block_on(serve(config, addr, events, admin_token)),
    }
}

async fn serve(
    config: Option<PathBuf>,
    addr: SocketAddr,
    events: Option<PathBuf>,
    admin_token: Option<String>,
) -> anyhow::Result<()> {
    let mut config = match &config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    if let Some(token) = admin_token {
        anyhow::ensure!(!token.trim().is_empty(), "--admin-token is empty");
        config.control.admin_token = Some(token);
    }
    let mut builder = MockServer::builder()
        .config(config)
        .addr(addr)
        .clock(Clock::virtual_now());
    if let Some(path) = events {
        builder = builder.events_file(path);
    }
    let server = builder.start().await?;
    let stop = shutdown_signal();
    println!("fauxauth listening on http://{}", server.addr());
    stop.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// Install the SIGINT/SIGTERM handlers now (before the ready line is printed, so a signal
/// sent right after it is never missed) and return a future that resolves on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
