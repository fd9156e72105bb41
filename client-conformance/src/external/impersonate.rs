//! `external.impersonate`: the server for the run with the impersonation proxy in front,
//! and the CA file the program trusts (removed when the run ends).

use std::path::{Path, PathBuf};

use fauxauth_server::config::ServerConfig;
use fauxauth_server::{Clock, MockServer, ProxyConfig, ServerHandle};

/// Start the run's server with the proxy impersonating `hosts`.
pub(super) async fn start_server(
    config: &ServerConfig,
    clock: Clock,
    hosts: &[String],
) -> Result<ServerHandle, String> {
    MockServer::builder()
        .config(config.clone())
        .clock(clock)
        .proxy(ProxyConfig::new(hosts.iter().cloned()))
        .start()
        .await
        .map_err(|e| format!("the server (with the impersonation proxy) did not start: {e}"))
}

/// The CA certificate, written for the program to trust; the file is removed on drop.
#[derive(Debug)]
pub(super) struct CaFile {
    path: PathBuf,
}

impl CaFile {
    /// Write `server`'s CA to a file of its own in the temporary directory.
    pub(super) fn write(server: &ServerHandle) -> Result<Self, String> {
        let pem = server
            .ca_pem()
            .ok_or("the server with the proxy has no CA")?;
        let port = server.proxy_addr().map_or(0, |a| a.port());
        let path =
            std::env::temp_dir().join(format!("fauxauth-run-ca-{}-{port}.pem", std::process::id()));
        std::fs::write(&path, pem)
            .map_err(|e| format!("cannot write the CA to {}: {e}", path.display()))?;
        Ok(Self { path })
    }

    /// Where it is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
