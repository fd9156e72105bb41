//! `server_rss_bytes`: whose memory a run can honestly report.
//!
//! - In-process, the server runs inside the `fauxauth load` process with every agent: the
//!   figure is that process's RSS (server and agents together) — the only one there is.
//! - With `--target`, the target's RSS when it is a local process the run can identify:
//!   the one `--server-pid` names, or else, for a loopback target, the process that owns the
//!   listening socket of the target's port (found through `/proc/net/tcp*` and
//!   `/proc/*/fd`, so only among the processes this user may inspect). Otherwise none
//!   (`null` in the JSON).

use std::collections::HashSet;

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
            Self::ThisProcess => rss_of("self"),
            Self::GivenPid(pid) | Self::Listener { pid, .. } => rss_of(&pid.to_string()),
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

/// VmRSS of `/proc/<pid>/status`, in bytes.
fn rss_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The process owning a socket that listens on `port` on a loopback or unspecified address.
pub(super) fn listener_pid(port: u16) -> Option<u32> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|link| socket_inode(link.to_str()?))
            .any(|inode| inodes.contains(&inode))
    })
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Inodes of the sockets in LISTEN state on `port` whose address is loopback or any.
fn listening_inodes(port: u16) -> HashSet<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The inode of one `/proc/net/tcp*` line if it is a listener on `port` on a loopback or
/// unspecified address.
fn listening_inode(line: &str, port: u16) -> Option<u64> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (addr, hex_port) = fields.get(1)?.split_once(':')?;
    if fields.get(3) != Some(&"0A") || u16::from_str_radix(hex_port, 16).ok()? != port {
        return None;
    }
    let local = match addr.len() {
        // IPv4, in host (little-endian) byte order: 127.x.x.x ends in "7F"; 0.0.0.0.
        8 => addr.ends_with("7F") || addr == "00000000",
        // IPv6: ::1 and ::, and IPv4-mapped ::ffff:127.x.x.x.
        32 => {
            addr == "00000000000000000000000001000000"
                || addr == "00000000000000000000000000000000"
                || (addr.starts_with("0000000000000000FFFF0000") && addr.ends_with("7F"))
        }
        _ => false,
    };
    if !local {
        return None;
    }
    fields.get(9)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_name_loopback_listeners() {
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(listen, 8080), Some(4242));
        assert_eq!(listening_inode(listen, 8081), None);
        let established = listen.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 8080), None);
        let public = listen.replace("0100007F", "0100000A");
        assert_eq!(
            listening_inode(&public, 8080),
            None,
            "10.0.0.1 is not loopback"
        );
        let v6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 77 1";
        assert_eq!(listening_inode(v6, 8080), Some(77));
        assert_eq!(socket_inode("socket:[77]"), Some(77));
        assert_eq!(socket_inode("pipe:[77]"), None);
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
        drop(listener);
        assert_eq!(listener_pid(port), None);
        let remote = url::Url::parse("https://auth.example").expect("url");
        assert_eq!(RssSource::find(Some(&remote), None), RssSource::Unknown);
        assert_eq!(RssSource::find(Some(&remote), None).rss(), None);
    }
}
