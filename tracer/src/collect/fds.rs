//! What each fd of a traced process is. The probes tell its kind (socket, pipe, regular file,
//! device, anonymous inode) and its inode number at the time of each call, and key the counters
//! by them, so an fd number reused for another file is another row. This adds a description:
//! a TCP/UDP/unix socket's addresses (from /proc/PID/net), a pipe, or a file's path, looked up
//! once per (process, fd, inode) while that fd still holds that inode; fds closed before that
//! (or whose file /proc shows under another inode number, as overlayfs does) keep the
//! kernel's kind with a generic description.
use std::{
    collections::HashMap,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    os::unix::fs::MetadataExt as _,
};

use tracer_common::{FdKey, fd_kind};

use crate::run::FdKind;

/// Cache of fd descriptions.
#[derive(Debug, Default)]
pub struct FdDescriber {
    /// Keyed by (pid, fd, inode): an fd number can be a file for `read` early on and, once
    /// closed and reused, a socket; each is described while it is the fd's file.
    known: HashMap<(u32, i32, u64), (FdKind, String)>,
}

impl FdDescriber {
    /// Describes every counted fd not yet known that its process still holds. Reads the socket
    /// tables at most once per process per call.
    pub fn describe_new<'k>(&mut self, keys: impl IntoIterator<Item = &'k FdKey>) {
        let mut tables: HashMap<u32, SocketTables> = HashMap::new();
        for key in keys {
            let id = (key.tgid, key.fd, key.inode);
            if self.known.contains_key(&id) || key.fd < 0 {
                continue;
            }
            let path = format!("/proc/{}/fd/{}", key.tgid, key.fd);
            let Ok(link) = std::fs::read_link(&path) else {
                continue;
            };
            // The fd must still hold the file the kernel counted (when the kernel knew it).
            if key.kind != fd_kind::UNKNOWN
                && std::fs::metadata(&path).map(|m| m.ino()).ok() != Some(key.inode)
            {
                continue;
            }
            let link = link.to_string_lossy().into_owned();
            let description = if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                let tables = tables
                    .entry(key.tgid)
                    .or_insert_with(|| SocketTables::read(key.tgid));
                tables.describe(inode.parse().unwrap_or(0))
            } else if link.starts_with("pipe:") {
                (FdKind::Pipe, link)
            } else if link.starts_with("anon_inode:") {
                (FdKind::Anon, link)
            } else if key.kind == fd_kind::CHAR_DEVICE {
                (FdKind::Device, link)
            } else if link.starts_with('/') && key.kind != fd_kind::OTHER {
                (FdKind::File, link)
            } else {
                (FdKind::Other, link)
            };
            self.known.insert(id, description);
        }
    }

    /// The description of a counted fd: as looked up, or else the kind the kernel saw.
    #[must_use]
    pub fn get(&self, key: &FdKey) -> (FdKind, String) {
        if key.fd == tracer_common::FD_OVERFLOW {
            return (
                FdKind::Overflow,
                "fds beyond the per-fd map's capacity".into(),
            );
        }
        if let Some(known) = self.known.get(&(key.tgid, key.fd, key.inode)) {
            return known.clone();
        }
        let (kind, what) = match key.kind {
            fd_kind::REGULAR => (FdKind::File, "a regular file"),
            fd_kind::SOCKET => (FdKind::Socket, "a socket"),
            fd_kind::PIPE => (FdKind::Pipe, "a pipe"),
            fd_kind::CHAR_DEVICE => (FdKind::Device, "a character device"),
            fd_kind::ANON => (FdKind::Anon, "an anonymous inode (eventfd, timerfd, ...)"),
            fd_kind::OTHER => (FdKind::Other, "a directory or block device"),
            _ => return (FdKind::Unknown, "closed before it was looked at".into()),
        };
        (
            kind,
            format!(
                "{what} (inode {}), not looked up while open (closed, or seen through another filesystem's inode)",
                key.inode
            ),
        )
    }
}

/// Socket inode -> description, from one process's network namespace.
#[derive(Debug, Default)]
struct SocketTables {
    by_inode: HashMap<u64, (FdKind, String)>,
}

impl SocketTables {
    fn read(pid: u32) -> Self {
        let mut tables = Self::default();
        for (file, kind, proto) in [
            ("tcp", FdKind::Tcp, "tcp"),
            ("tcp6", FdKind::Tcp, "tcp"),
            ("udp", FdKind::Udp, "udp"),
            ("udp6", FdKind::Udp, "udp"),
        ] {
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) {
                for (inode, local, remote) in parse_inet_table(&text) {
                    let description = if remote.port() == 0 {
                        format!("{proto} {local}")
                    } else {
                        format!("{proto} {local} -> {remote}")
                    };
                    tables.by_inode.insert(inode, (kind, description));
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/unix")) {
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if let Some(inode) = fields.get(6).and_then(|s| s.parse().ok()) {
                    let path = fields.get(7).map_or(String::new(), |p| format!(" {p}"));
                    tables
                        .by_inode
                        .insert(inode, (FdKind::Unix, format!("unix{path}")));
                }
            }
        }
        tables
    }

    fn describe(&self, inode: u64) -> (FdKind, String) {
        self.by_inode
            .get(&inode)
            .cloned()
            .unwrap_or((FdKind::Socket, format!("socket:[{inode}]")))
    }
}

/// Parses /proc/net/{tcp,tcp6,udp,udp6}: (inode, local address, remote address) per line.
pub(crate) fn parse_inet_table(text: &str) -> Vec<(u64, SocketAddr, SocketAddr)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = parse_hex_addr(fields.get(1)?)?;
            let remote = parse_hex_addr(fields.get(2)?)?;
            let inode = fields.get(9)?.parse().ok()?;
            Some((inode, local, remote))
        })
        .collect()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits (IPv6), each 32-bit word in host (little) order.
pub(crate) fn parse_hex_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    // Hex digits only: slicing 8-byte words out of anything else could split a character.
    if !addr.is_ascii() {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).map(u32::from_be))
        .collect::<Result<_, _>>()
        .ok()?;
    match words.as_slice() {
        [w] => Some(SocketAddr::new(
            Ipv4Addr::from(w.to_be_bytes()).into(),
            port,
        )),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(SocketAddr::new(
                v6.to_ipv4_mapped().map_or(v6.into(), Into::into),
                port,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 20 4 30 10 -1\n";
        let rows = parse_inet_table(text);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 12345);
        assert_eq!(rows[0].1.to_string(), "127.0.0.1:8080");
        assert_eq!(rows[0].2.to_string(), "127.0.0.1:41394");
    }

    #[test]
    fn parses_ipv6_and_mapped_addresses() {
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:0050")
                .unwrap()
                .to_string(),
            "[::1]:80"
        );
        assert_eq!(
            parse_hex_addr("0000000000000000FFFF00000100007F:0050")
                .unwrap()
                .to_string(),
            "127.0.0.1:80"
        );
    }

    #[test]
    fn describes_a_live_tcp_connection_of_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&client);
        let mut describer = FdDescriber::default();
        let key = FdKey {
            tgid: std::process::id(),
            fd,
            syscall: 0,
            kind: fd_kind::SOCKET,
            inode: std::fs::metadata(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .ino(),
        };
        describer.describe_new([&key]);
        let (kind, text) = describer.get(&key);
        assert_eq!(kind, FdKind::Tcp);
        assert!(
            text.ends_with(&format!("-> {}", listener.local_addr().unwrap())),
            "{text}"
        );
        // Another file on the same fd number is another row, never this one's description.
        let other = FdKey {
            inode: key.inode + 1,
            kind: fd_kind::REGULAR,
            ..key
        };
        describer.describe_new([&other]);
        assert_eq!(describer.get(&other).0, FdKind::File);
        assert!(describer.get(&other).1.contains("not looked up while open"));
    }
}
