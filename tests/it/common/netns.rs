//! Two network namespaces joined by a veth pair, for tests that need real
//! network failures: iptables rules between a client and a server, the
//! client's own firewall, its own resolver configuration. Needs root,
//! iproute2 and iptables; without them a test fails saying so (it never
//! passes without having run).
//!
//! The namespaces are isolated: the client has no route but the veth, so
//! nothing a test does can leave the machine. Names carry the pid and a
//! counter; dropping a [`Net`] deletes both namespaces (and with them the
//! veth pair and every rule in them) and the client's `/etc/netns` files.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub const SERVER_V4: &str = "10.231.0.1";
pub const CLIENT_V4: &str = "10.231.0.2";
pub const SERVER_V6: &str = "fd00:dbc::1";
pub const CLIENT_V6: &str = "fd00:dbc::2";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Fails the test, loudly, when it cannot create namespaces and rules.
pub fn require_root_and_tools() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string))
        });
    assert_eq!(
        uid.as_deref(),
        Some("0"),
        "this test needs root: it creates network namespaces, a veth pair and iptables rules (run it as root, as `bash .ci/run` does)"
    );
    for tool in ["ip", "iptables", "ip6tables"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
            || Command::new(tool)
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "this test needs `{tool}`: install the iproute2 and iptables packages (`bash .ci/run` does)"
        );
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// A client and a server namespace; the server is 10.231.0.1 / fd00:dbc::1.
pub struct Net {
    pub server: String,
    pub client: String,
}

impl Net {
    pub fn new() -> Net {
        require_root_and_tools();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let net = Net {
            server: format!("dbc-{pid}-{n}-srv"),
            client: format!("dbc-{pid}-{n}-cli"),
        };
        let (veth_server, veth_client) = (format!("dv{pid}x{n}s"), format!("dv{pid}x{n}c"));
        ip(&["netns", "add", &net.server]);
        ip(&["netns", "add", &net.client]);
        ip(&[
            "link",
            "add",
            &veth_server,
            "type",
            "veth",
            "peer",
            "name",
            &veth_client,
        ]);
        ip(&["link", "set", &veth_server, "netns", &net.server]);
        ip(&["link", "set", &veth_client, "netns", &net.client]);
        for (ns, veth, v4, v6) in [
            (&net.server, &veth_server, SERVER_V4, SERVER_V6),
            (&net.client, &veth_client, CLIENT_V4, CLIENT_V6),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", veth]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                veth,
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", veth, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // REJECT answers with ICMP; the kernel's rate limit must not turn a
        // rejected probe into a silent one when several come at once.
        net.in_ns(&net.server, &["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"]);
        net.in_ns(&net.server, &["sysctl", "-qw", "net.ipv6.icmp.ratelimit=0"]);
        net
    }

    fn in_ns(&self, ns: &str, args: &[&str]) {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args));
    }

    /// `iptables ARGS` in the server namespace (its INPUT chain sees the client).
    pub fn server_iptables(&self, args: &[&str]) {
        self.in_ns(&self.server, &[&["iptables"], args].concat());
    }

    pub fn server_ip6tables(&self, args: &[&str]) {
        self.in_ns(&self.server, &[&["ip6tables"], args].concat());
    }

    /// `iptables ARGS` in the client namespace (its OUTPUT chain is "this host's firewall").
    pub fn client_iptables(&self, args: &[&str]) {
        self.in_ns(&self.client, &[&["iptables"], args].concat());
    }

    pub fn client_ip6tables(&self, args: &[&str]) {
        self.in_ns(&self.client, &[&["ip6tables"], args].concat());
    }

    fn etc(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.client)
    }

    /// The client's `/etc/resolv.conf` and `/etc/hosts`: `ip netns exec`
    /// bind-mounts `/etc/netns/<client>/*` over `/etc`.
    pub fn set_resolver(&self, resolv_conf: &str, hosts: &str) {
        let dir = self.etc();
        std::fs::create_dir_all(&dir).expect("create /etc/netns/<client>");
        std::fs::write(dir.join("resolv.conf"), resolv_conf).expect("write resolv.conf");
        std::fs::write(dir.join("hosts"), hosts).expect("write hosts");
    }

    /// `PROGRAM` run inside the client namespace.
    pub fn client_command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.client, program]);
        command
    }

    /// Runs `create` on a thread that entered the server namespace: the
    /// sockets it creates live there, whichever thread uses them later.
    pub fn in_server<T: Send>(&self, create: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.server);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = std::fs::File::open(&path).expect("open the server namespace");
                    // SAFETY: setns only switches this (short-lived) thread's
                    // network namespace; the fd is open for the call.
                    let status = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(status, 0, "setns: {}", std::io::Error::last_os_error());
                    create()
                })
                .join()
                .expect("the namespace thread panicked")
        })
    }

    /// A listening TCP socket on `port` of every server address (IPv4 and
    /// IPv6 on one dual-stack socket).
    pub fn server_listener(&self, port: u16) -> std::net::TcpListener {
        self.in_server(|| {
            std::net::TcpListener::bind(("::", port)).expect("bind in the server namespace")
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(self.etc());
    }
}

/// How the test DNS server answers.
#[derive(Clone, Debug)]
pub enum DnsMode {
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// NOERROR with an empty answer section.
    Empty,
    /// Nothing at all.
    Silent,
}

/// A DNS server on UDP port 53 of the server namespace; stops when dropped.
pub struct DnsServer {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(net: &Net, mode: DnsMode) -> DnsServer {
        let socket = net.in_server(|| {
            UdpSocket::bind(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 53))
                .expect("bind UDP 53 in the server namespace")
        });
        socket.set_nonblocking(true).expect("nonblocking");
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("DNS runtime");
            runtime.block_on(async move {
                let socket = tokio::net::UdpSocket::from_std(socket).expect("UDP socket");
                tokio::select! {
                    () = serve(&socket, mode) => {}
                    _ = stopped => {}
                }
            });
        });
        DnsServer {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(socket: &tokio::net::UdpSocket, mode: DnsMode) {
    let mut buffer = [0u8; 1500];
    while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
        let query = &buffer[..length];
        let Some(reply) = reply_to(query, &mode) else {
            continue;
        };
        let _ = socket.send_to(&reply, peer).await;
    }
}

/// The reply to a one-question query: its header with QR, RA and the rcode,
/// its question echoed, no answer.
fn reply_to(query: &[u8], mode: &DnsMode) -> Option<Vec<u8>> {
    let rcode = match mode {
        DnsMode::Silent => return None,
        DnsMode::NxDomain => 3,
        DnsMode::Empty => 0,
    };
    // The question: labels up to the root, then type and class.
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let mut reply = query.get(..2)?.to_vec();
    reply.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1, 0, 0, 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    Some(reply)
}
