//! The `fauxauth` command: thin glue between the command line and the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fauxauth_server::tls::TlsConfig;
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
        /// Serve HTTPS with a CA and certificate generated at start (for localhost,
        /// 127.0.0.1 and ::1).
        #[arg(long)]
        tls: bool,
        /// With --tls: write the CA certificate (PEM) here, for clients to trust
        /// (default: a file in the temporary directory, named in the log).
        #[arg(long, value_name = "FILE", requires = "tls")]
        tls_ca_out: Option<PathBuf>,
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
            tls,
            tls_ca_out,
        } => runtime.block_on(serve(config, addr, events, tls.then_some(tls_ca_out))),
    }
}

/// `tls`: `None` for plain HTTP, `Some(file)` for HTTPS with the CA written to `file` (or a
/// default file).
async fn serve(
    config: Option<PathBuf>,
    addr: SocketAddr,
    events: Option<PathBuf>,
    tls: Option<Option<PathBuf>>,
) -> anyhow::Result<()> {
    let config = match &config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    let mut builder = MockServer::builder()
        .config(config)
        .addr(addr)
        .clock(Clock::virtual_now());
    if let Some(path) = events {
        builder = builder.events_file(path);
    }
    if tls.is_some() {
        builder = builder.tls(TlsConfig::default());
    }
    let server = builder.start().await?;
    let scheme = match (&tls, server.ca_pem()) {
        (Some(ca_out), Some(pem)) => {
            let path = ca_out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("fauxauth-ca-{}.pem", server.addr().port()))
            });
            std::fs::write(&path, pem).with_context(|| {
                format!("cannot write the CA certificate to {}", path.display())
            })?;
            tracing::info!(ca = %path.display(), "TLS on: trust this CA certificate");
            "https"
        }
        _ => "http",
    };
    // Listen for signals before announcing readiness, then print exactly one line on stdout.
    let stop = shutdown_signal();
    println!("fauxauth listening on {scheme}://{}", server.addr());
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
