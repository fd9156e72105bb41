//! `server_rss_bytes`: whose memory a run can honestly report.
//!
//! - In-process, the server runs inside the `fauxauth load` process with every agent: the
//!   figure is that process's RSS (server and agents together) — the only one there is.
//! - With `--target`, the target's RSS when it is a local process the run can identify:
//!   the one `--server-pid` names, or else, for a loopback target, the process that owns the
//!   listening socket of the target's port (found through `/proc/net/tcp*` and
//!   `/proc/*/fd`, read with the `procfs` crate, so only among the processes this user may
//!   inspect). Otherwise — and on every system but Linux — none (`null` in the JSON).

use std::net::{IpAddr, SocketAddr};

/// Where the RSS figure came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RssSource {
    /// This process (in-process server and agents).
    ThisProcess,
    /// The process `--server-pid` names.
    GivenPid(u32),
    /// The process listening on the loopback target's port.
    Listener { pid: u32, port: u16 },
    /// No local process identified.
    Unknown,
}

impl RssSource {
    /// The source for a run: in-process, or `target` with an optional `--server-pid`.
    pub(super) fn find(target: Option<&url::Url>, server_pid: Option<u32>) -> Self {
        let Some(target) = target else {
            return Self::ThisProcess;
        };
        if let Some(pid) = server_pid {
            return Self::GivenPid(pid);
        }
        let loopback = match target.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match target.port_or_known_default() {
            Some(port) if loopback => {
                listener_pid(port).map_or(Self::Unknown, |pid| Self::Listener { pid, port })
            }
            _ => Self::Unknown,
        }
    }

    /// The RSS of the process, in bytes, if it can be read.
    pub(super) fn rss(&self) -> Option<u64> {
        match self {
            Self::ThisProcess => rss_of(None),
            Self::GivenPid(pid) | Self::Listener { pid, .. } => rss_of(Some(*pid)),
            Self::Unknown => None,
        }
    }

    /// The peak RSS of the process so far (its high-water mark, `VmHWM`), in bytes, if it
    /// can be read.
    pub(super) fn peak_rss(&self) -> Option<u64> {
        match self {
            Self::ThisProcess => peak_rss_of(None),
            Self::GivenPid(pid) | Self::Listener { pid, .. } => peak_rss_of(Some(*pid)),
            Self::Unknown => None,
        }
    }

    /// For the report.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::ThisProcess => {
                "this process: the in-process server and the agents together".to_owned()
            }
            Self::GivenPid(pid) => format!("pid {pid} (--server-pid)"),
            Self::Listener { pid, port } => format!("pid {pid}, listening on port {port}"),
            Self::Unknown => {
                "unknown: not a local process this user can see (pass --server-pid)".to_owned()
            }
        }
    }
}

/// `/proc/<pid>/status` (`None`: this process).
#[cfg(target_os = "linux")]
fn status_of(pid: Option<u32>) -> Option<procfs::process::Status> {
    let process = match pid {
        Some(pid) => procfs::process::Process::new(i32::try_from(pid).ok()?),
        None => procfs::process::Process::myself(),
    };
    process.ok()?.status().ok()
}

/// VmRSS of `/proc/<pid>/status` (`None`: this process), in bytes.
#[cfg(target_os = "linux")]
fn rss_of(pid: Option<u32>) -> Option<u64> {
    Some(status_of(pid)?.vmrss? * 1024)
}

/// VmHWM (peak RSS) of `/proc/<pid>/status` (`None`: this process), in bytes.
#[cfg(target_os = "linux")]
fn peak_rss_of(pid: Option<u32>) -> Option<u64> {
    Some(status_of(pid)?.vmhwm? * 1024)
}

/// Not known off Linux.
#[cfg(not(target_os = "linux"))]
fn rss_of(_pid: Option<u32>) -> Option<u64> {
    None
}

/// Not known off Linux.
#[cfg(not(target_os = "linux"))]
fn peak_rss_of(_pid: Option<u32>) -> Option<u64> {
    None
}

/// The process owning a socket that listens on `port` on a loopback or unspecified address.
#[cfg(target_os = "linux")]
pub(super) fn listener_pid(port: u16) -> Option<u32> {
    use procfs::process::FDTarget;
    let tables = [procfs::net::tcp(), procfs::net::tcp6()];
    let inodes: Vec<u64> = tables
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.state == procfs::net::TcpState::Listen && is_local(e.local_address, port))
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let mut processes: Vec<procfs::process::Process> = procfs::process::all_processes()
        .ok()?
        .filter_map(Result::ok)
        .collect();
    processes.sort_unstable_by_key(|p| p.pid);
    processes
        .into_iter()
        .find(|p| {
            p.fd()
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .any(|fd| matches!(fd.target, FDTarget::Socket(inode) if inodes.contains(&inode)))
        })
        .and_then(|p| u32::try_from(p.pid).ok())
}

/// Not known off Linux.
#[cfg(not(target_os = "linux"))]
pub(super) fn listener_pid(_port: u16) -> Option<u32> {
    None
}

/// Whether a listening address is on `port` and loopback or unspecified (IPv4, IPv6, or
/// IPv4-mapped IPv6).
fn is_local(addr: SocketAddr, port: u16) -> bool {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    addr.port() == port && (ip.is_loopback() || ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_unspecified_listeners_on_the_port_count() {
        let at = |text: &str| text.parse::<SocketAddr>().expect("address");
        for local in [
            "127.0.0.1:8080",
            "127.3.2.1:8080",
            "0.0.0.0:8080",
            "[::1]:8080",
            "[::]:8080",
            "[::ffff:127.0.0.1]:8080",
        ] {
            assert!(is_local(at(local), 8080), "{local}");
            assert!(!is_local(at(local), 8081), "{local} on another port");
        }
        for remote in [
            "10.0.0.1:8080",
            "192.168.1.2:8080",
            "[2001:db8::1]:8080",
            "[::ffff:10.0.0.1]:8080",
        ] {
            assert!(!is_local(at(remote), 8080), "{remote} is not loopback");
        }
    }

    #[test]
    fn the_listener_of_a_loopback_port_is_found_and_an_unused_port_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_eq!(listener_pid(port), Some(std::process::id()));
        let target = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let found = RssSource::find(Some(&target), None);
        assert_eq!(
            found,
            RssSource::Listener {
                pid: std::process::id(),
                port
            }
        );
        assert!(found.rss().is_some_and(|b| b > 0));
        // The high-water mark is never below the current RSS.
        let (now, peak) = (
            RssSource::ThisProcess.rss(),
            RssSource::ThisProcess.peak_rss(),
        );
        assert!(
            now.is_some_and(|n| peak.is_some_and(|p| p >= n)),
            "{now:?} {peak:?}"
        );
        drop(listener);
        assert_eq!(listener_pid(port), None);
        let remote = url::Url::parse("https://auth.example").expect("url");
        assert_eq!(RssSource::find(Some(&remote), None), RssSource::Unknown);
        assert_eq!(RssSource::find(Some(&remote), None).rss(), None);
    }
}
