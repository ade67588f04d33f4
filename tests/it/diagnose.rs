//! `dbcheckin diagnose` against real failures, never mocks: certificates,
//! proxies, captive portals and clocks on loopback; firewall rules, routes
//! and resolvers between two network namespaces (those tests need root,
//! iproute2 and iptables, and fail saying so when missing).
//!
//! Every finding code that can be produced on one machine is produced here by
//! the condition it names; docs/diagnose.md lists which test does it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::config::ConfigBuilder;
use crate::common::endpoint::{Endpoint, Reply};
use crate::common::netns::{DnsMode, DnsServer, Net, SERVER_V4, SERVER_V6};
use crate::common::proxy::{ProxyMode, TestProxy};
use crate::common::validation_server::{
    self, CertKind, ServerOptions, UNTRUSTED_CA_NAME, ValidationServer,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dbcheckin");
/// The whole run's bound with the default 3 s step timeout (issue 4).
const RUN_BOUND: Duration = Duration::from_secs(10);
const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// One run of `diagnose`.
struct Diagnosis {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Diagnosis {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn verdict(&self) -> String {
        self.json()["verdict"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn findings(&self) -> Vec<Value> {
        self.json()["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn codes(&self) -> Vec<String> {
        self.findings()
            .iter()
            .map(|f| f["code"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The finding with `code`; fails the test, showing everything, if none.
    fn finding(&self, code: &str) -> Value {
        self.findings()
            .into_iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("no {code} finding in:\n{}", self.stdout))
    }

    fn checks(&self, step: &str) -> Vec<Value> {
        self.json()["checks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["step"] == step)
            .collect()
    }

    fn assert(&self, code: i32, verdict: &str) {
        assert_eq!(
            (self.code, self.verdict().as_str()),
            (code, verdict),
            "{}\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// Runs `command` (the binary, or `ip netns exec … binary`) as
/// `--config CONFIG diagnose ARGS`, without the caller's proxy variables.
fn run(mut command: Command, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Diagnosis {
    command
        .arg("--config")
        .arg(config)
        .arg("diagnose")
        .args(args);
    for name in PROXY_VARIABLES
        .iter()
        .chain(&["DBCHECKIN_CONFIG", "RUST_LOG"])
    {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let started = Instant::now();
    let output = command.output().expect("run dbcheckin diagnose");
    Diagnosis {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// A configuration in its own directory; its control socket is there too
/// (so no real daemon is ever asked) and PostgreSQL is never needed.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `[server]` with these keys, and the rest pointing here.
    fn config(&self, server: &[(&str, String)]) -> PathBuf {
        let config = ConfigBuilder::new(self.dir.path())
            .connection("host=127.0.0.1 port=1 user=nobody connect_timeout=1");
        server
            .iter()
            .fold(config, |config, (key, value)| {
                config.set("server", key, value)
            })
            .write(&self.path("config.toml"))
    }

    fn diagnose(
        &self,
        server: &[(&str, String)],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Diagnosis {
        run(Command::new(BIN), &self.config(server), args, env)
    }
}

/// `[server]` keys pointing at `server`, HTTPS with the plain-HTTP fallback.
fn urls(server: &ValidationServer) -> Vec<(&'static str, String)> {
    vec![
        ("url", server.https_url()),
        ("fallback_url", server.http_url()),
        ("ca_file", server.ca_file().display().to_string()),
    ]
}

/// `[server]` keys for `url` alone, no fallback.
fn only(url: String) -> Vec<(&'static str, String)> {
    vec![("url", url), ("fallback_url", String::new())]
}

// ---------------------------------------------------------------------------------------------
// Loopback: configuration, formats, TLS, proxies, HTTP
// ---------------------------------------------------------------------------------------------

#[test]
fn all_ok_on_loopback_in_every_format_and_nothing_is_registered() {
    let server = ValidationServer::start(ServerOptions::default());
    let setup = Setup::new();
    let diagnosis = setup.diagnose(&urls(&server), &["--json"], &[]);
    diagnosis.assert(0, "ok");
    let json = diagnosis.json();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        ["schema_version", "verdict", "targets", "checks", "findings"]
    );
    assert_eq!(json["schema_version"], 1);
    for check in json["checks"].as_array().unwrap() {
        assert_eq!(
            keys(check),
            [
                "step",
                "host",
                "address",
                "port",
                "outcome",
                "elapsed_ms",
                "detail"
            ]
        );
    }
    for finding in json["findings"].as_array().unwrap() {
        assert_eq!(keys(finding), ["severity", "code", "message", "remedy"]);
        assert_eq!(finding["severity"], "info", "{finding}");
    }
    let tls = diagnosis.checks("tls");
    assert_eq!(tls[0]["outcome"], "verified", "{tls:?}");
    assert!(
        tls[0]["detail"]
            .as_str()
            .unwrap()
            .contains(validation_server::TRUSTED_CA_NAME),
        "{tls:?}"
    );
    let http: Vec<_> = diagnosis
        .checks("http")
        .iter()
        .map(|c| c["outcome"].clone())
        .collect();
    assert_eq!(http, ["answered", "answered"]);
    assert!(
        json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["works"] == true)
    );

    let human = setup.diagnose(&urls(&server), &[], &[]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.starts_with("verdict: ok"), "{}", human.stdout);
    let ticket = setup.diagnose(&urls(&server), &["--ticket"], &[]);
    assert_eq!(ticket.code, 0);
    let line = format!(
        "localhost TCP {} (HTTPS, primary), addresses now: 127.0.0.1",
        server.https_port()
    );
    assert!(ticket.stdout.contains(&line), "{}", ticket.stdout);
    assert!(ticket.stdout.contains("Observed "), "{}", ticket.stdout);

    // Three runs, two URLs each: only GETs, which the endpoint refuses.
    let requests = server.requests();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
}

fn tls_failure(cert: CertKind, code: &str) -> Diagnosis {
    let server = ValidationServer::start(ServerOptions {
        cert,
        ..ServerOptions::default()
    });
    let diagnosis = Setup::new().diagnose(&urls(&server), &["--json"], &[]);
    // HTTPS fails, the plain-HTTP fallback works.
    diagnosis.assert(1, "degraded");
    let finding = diagnosis.finding(code);
    assert_eq!(finding["severity"], "error");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!(
            "Check-ins currently fall back to plain HTTP on port {}.",
            server.http_port()
        )),
        "{message}"
    );
    diagnosis.finding("plain_http_only");
    diagnosis
}

#[test]
fn tls_untrusted_issuer_names_the_inspecting_ca() {
    let diagnosis = tls_failure(CertKind::Untrusted, "tls_untrusted_issuer");
    let finding = diagnosis.finding("tls_untrusted_issuer");
    for text in [&finding["message"], &finding["remedy"]] {
        assert!(
            text.as_str()
                .unwrap()
                .contains(&format!("CN={UNTRUSTED_CA_NAME}")),
            "{finding}"
        );
    }
}

#[test]
fn tls_expired_against_the_local_clock() {
    let diagnosis = tls_failure(CertKind::Expired, "tls_expired");
    let message = diagnosis.finding("tls_expired")["message"].to_string();
    assert!(
        message.contains("expired on ") && message.contains("clock says"),
        "{message}"
    );
}

#[test]
fn tls_not_yet_valid_against_the_local_clock() {
    let diagnosis = tls_failure(CertKind::NotYetValid, "tls_not_yet_valid");
    let message = diagnosis.finding("tls_not_yet_valid")["message"].to_string();
    assert!(message.contains("only becomes valid on "), "{message}");
}

#[test]
fn tls_name_mismatch_names_the_certificate_names() {
    let diagnosis = tls_failure(CertKind::WrongName, "tls_name_mismatch");
    let message = diagnosis.finding("tls_name_mismatch")["message"].to_string();
    assert!(message.contains("wrong.example"), "{message}");
}

#[test]
fn tls_handshake_reset_is_a_failed_handshake() {
    let (_endpoint, address) = Endpoint::loopback(None, Reply::ResetAfterRead);
    let url = only(format!(
        "https://localhost:{}/publisher-warranty/",
        address.port()
    ));
    let diagnosis = Setup::new().diagnose(&url, &["--json"], &[]);
    diagnosis.assert(2, "unreachable");
    let message = diagnosis.finding("tls_handshake_failed")["message"].to_string();
    assert!(message.contains("reset"), "{message}");
}

fn through_proxy(mode: ProxyMode, env: &[(&str, &str)]) -> (Diagnosis, TestProxy) {
    let server = ValidationServer::start(ServerOptions::default());
    let proxy = TestProxy::start(mode);
    let server_keys = [urls(&server), vec![("proxy", proxy.url())]].concat();
    let diagnosis = Setup::new().diagnose(&server_keys, &["--json"], env);
    (diagnosis, proxy)
}

#[test]
fn through_a_working_proxy_all_is_ok() {
    let (diagnosis, proxy) = through_proxy(ProxyMode::Forward, &[]);
    diagnosis.assert(0, "ok");
    assert_eq!(diagnosis.checks("proxy")[0]["outcome"], "tunnel_open");
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("CONNECT localhost:")),
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn proxy_auth_required() {
    let (diagnosis, _proxy) = through_proxy(ProxyMode::AuthRequired, &[]);
    diagnosis.assert(2, "unreachable");
    let finding = diagnosis.finding("proxy_auth_required");
    assert!(
        finding["message"].as_str().unwrap().contains("HTTP 407"),
        "{finding}"
    );
    assert!(
        finding["remedy"]
            .as_str()
            .unwrap()
            .contains("[server] proxy"),
        "{finding}"
    );
}

#[test]
fn proxy_refused() {
    let (diagnosis, _proxy) = through_proxy(ProxyMode::Deny, &[]);
    diagnosis.assert(2, "unreachable");
    let message = diagnosis.finding("proxy_refused")["message"].to_string();
    assert!(message.contains("403"), "{message}");
}

#[test]
fn proxy_unreachable() {
    let server = ValidationServer::start(ServerOptions::default());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server_keys = [urls(&server), vec![("proxy", format!("http://{closed}"))]].concat();
    let diagnosis = Setup::new().diagnose(&server_keys, &["--json"], &[]);
    diagnosis.assert(2, "unreachable");
    let message = diagnosis.finding("proxy_unreachable")["message"].to_string();
    assert!(message.contains("was refused"), "{message}");
}

#[test]
fn no_proxy_bypass_is_reported() {
    let (diagnosis, proxy) =
        through_proxy(ProxyMode::Forward, &[("NO_PROXY", "localhost,127.0.0.1")]);
    // The direct path works, so it is only worth knowing.
    diagnosis.assert(0, "ok");
    let finding = diagnosis.finding("no_proxy_bypass");
    assert_eq!(finding["severity"], "info");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn captive_portal_html_instead_of_the_validation_server() {
    let (_portal, address) = Endpoint::loopback(None, Reply::portal());
    let url = only(format!("http://{address}/publisher-warranty/"));
    let diagnosis = Setup::new().diagnose(&url, &["--json"], &[]);
    diagnosis.assert(2, "unreachable");
    let message = diagnosis.finding("captive_portal")["message"].to_string();
    assert!(message.contains("\\\"Access Denied\\\""), "{message}");
}

#[test]
fn clock_skew_of_an_hour() {
    let reply = Reply::validation_with_clock(time::Duration::hours(1));
    let (_server, address) = Endpoint::loopback(None, reply);
    let url = only(format!("http://{address}/publisher-warranty/"));
    let diagnosis = Setup::new().diagnose(&url, &["--json"], &[]);
    diagnosis.assert(1, "degraded");
    let finding = diagnosis.finding("clock_skew");
    assert_eq!(finding["severity"], "warning");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("1 h 00 min behind"),
        "{finding}"
    );
}

#[test]
fn http_status_on_a_wrong_path() {
    let server = ValidationServer::start(ServerOptions::default());
    let url = server
        .https_url()
        .replace("/publisher-warranty/", "/wrong-path/");
    let keys = [
        only(url),
        vec![("ca_file", server.ca_file().display().to_string())],
    ]
    .concat();
    let diagnosis = Setup::new().diagnose(&keys, &["--json"], &[]);
    diagnosis.assert(2, "unreachable");
    let finding = diagnosis.finding("http_status");
    assert!(
        finding["message"].as_str().unwrap().contains("HTTP 404"),
        "{finding}"
    );
}

#[test]
fn http_no_response_when_the_connection_closes_unanswered() {
    let (_endpoint, address) = Endpoint::loopback(None, Reply::CloseAfterRead);
    let url = only(format!("http://{address}/publisher-warranty/"));
    let diagnosis = Setup::new().diagnose(&url, &["--json"], &[]);
    diagnosis.assert(2, "unreachable");
    diagnosis.finding("http_no_response");
}

#[test]
fn ca_file_unusable_means_no_check_in_can_start() {
    let server = ValidationServer::start(ServerOptions::default());
    let setup = Setup::new();
    let bad = setup.path("not-a-ca.pem");
    std::fs::write(&bad, "this is not PEM\n").unwrap();
    let keys = vec![
        ("url", server.https_url()),
        ("fallback_url", server.http_url()),
        ("ca_file", bad.display().to_string()),
    ];
    let diagnosis = setup.diagnose(&keys, &["--json"], &[]);
    diagnosis.assert(2, "unreachable");
    assert_eq!(diagnosis.finding("ca_file_unusable")["severity"], "error");
}

#[test]
fn could_not_run_is_exit_code_3() {
    let output = Command::new(BIN)
        .args(["--config", "/nonexistent/dbcheckin.toml", "diagnose"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}

/// The daemon, started without proxy variables; stops when dropped.
struct Daemon(Child);

impl Daemon {
    /// Starts `dbcheckin run` and waits for its READY=1 (systemd's protocol).
    fn start(setup: &Setup, config: &Path) -> Daemon {
        let notify_path = setup.path("notify.sock");
        let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
        notify
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("NOTIFY_SOCKET", &notify_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        let daemon = Daemon(command.spawn().expect("start the daemon"));
        let mut buffer = [0u8; 4096];
        // Bounded: a few notifications at most before READY=1, each within the timeout.
        for _ in 0..16 {
            let length = notify
                .recv(&mut buffer)
                .expect("the daemon did not say READY=1 within 20 s");
            if String::from_utf8_lossy(&buffer[..length])
                .lines()
                .any(|l| l == "READY=1")
            {
                return daemon;
            }
        }
        panic!("the daemon never said READY=1");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn daemon_proxy_differs_from_the_shell() {
    let server = ValidationServer::start(ServerOptions::default());
    let proxy = TestProxy::start(ProxyMode::Forward);
    let setup = Setup::new();
    let config = setup.config(&urls(&server));
    let _daemon = Daemon::start(&setup, &config);

    let same = run(Command::new(BIN), &config, &["--json"], &[]);
    same.assert(0, "ok");
    assert_eq!(same.checks("daemon")[0]["outcome"], "same_proxy_env");

    let proxy_url = proxy.url();
    let differs = run(
        Command::new(BIN),
        &config,
        &["--json"],
        &[("HTTPS_PROXY", proxy_url.as_str())],
    );
    differs.assert(1, "degraded");
    let finding = differs.finding("daemon_proxy_differs");
    assert_eq!(finding["severity"], "warning");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "HTTPS_PROXY: daemon (unset), this shell {proxy_url}"
        )),
        "{message}"
    );
    assert!(
        message.contains("go direct while this diagnosis went through"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Network namespaces: firewalls, routes, resolvers (root)
// ---------------------------------------------------------------------------------------------

const NAME: &str = "validation.dbcheckin.test";
const LEGACY_NAME: &str = "services.openerp.com";

/// A client namespace and a server namespace where the validation endpoint
/// answers on 443 (TLS, for NAME and the legacy name) and 80, IPv4 and IPv6.
struct Lab {
    net: Net,
    _endpoint: Endpoint,
    _setup: Setup,
    config: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let net = Net::new();
        let setup = Setup::new();
        let ca = validation_server::generate_ca("dbcheckin netns test CA");
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let (cert, key) = ca.issue(&[NAME, LEGACY_NAME], now - day, now + 365 * day);
        let tls = validation_server::server_config_from_pem(&cert, &key);
        let endpoint = Endpoint::serve(
            vec![
                (net.server_listener(443), Some(tls)),
                (net.server_listener(80), None),
            ],
            Reply::validation(),
        );
        let ca_file = setup.path("ca.pem");
        std::fs::write(&ca_file, &ca.cert_pem).expect("write CA");
        let config = setup.config(&[
            ("url", format!("https://{NAME}/publisher-warranty/")),
            ("fallback_url", format!("http://{NAME}/publisher-warranty/")),
            ("ca_file", ca_file.display().to_string()),
        ]);
        net.set_resolver(&format!("nameserver {SERVER_V4}\n"), &Lab::hosts(true));
        Lab {
            net,
            _endpoint: endpoint,
            _setup: setup,
            config,
        }
    }

    /// The client's /etc/hosts, with or without the validation server's names.
    fn hosts(with_names: bool) -> String {
        let mut hosts = "127.0.0.1 localhost\n::1 localhost\n".to_string();
        if with_names {
            hosts.push_str(&format!(
                "{SERVER_V4} {NAME} {LEGACY_NAME}\n{SERVER_V6} {NAME} {LEGACY_NAME}\n"
            ));
        }
        hosts
    }

    fn diagnose(&self, args: &[&str]) -> Diagnosis {
        run(self.net.client_command(BIN), &self.config, args, &[])
    }

    /// Drops (or rejects) TCP `port` in the server's INPUT, IPv4 and IPv6.
    fn server_rule(&self, port: &str, v4: &[&str], v6: &[&str]) {
        let base = ["-A", "INPUT", "-p", "tcp", "--dport", port, "-j"];
        self.net.server_iptables(&[&base[..], v4].concat());
        self.net.server_ip6tables(&[&base[..], v6].concat());
    }
}

/// `(outcome, address)` of the TCP checks to `port`, sorted.
fn tcp_outcomes(diagnosis: &Diagnosis, port: u16) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = diagnosis
        .checks("tcp")
        .iter()
        .filter(|c| c["port"] == port)
        .map(|c| {
            (
                c["outcome"].as_str().unwrap_or_default().to_string(),
                c["address"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn both(outcome: &str) -> Vec<(String, String)> {
    vec![
        (outcome.to_string(), SERVER_V4.to_string()),
        (outcome.to_string(), SERVER_V6.to_string()),
    ]
}

#[test]
fn netns_all_ok_over_ipv4_and_ipv6_with_the_legacy_host() {
    let lab = Lab::new();
    let diagnosis = lab.diagnose(&["--json", "--legacy"]);
    diagnosis.assert(0, "ok");
    assert_eq!(
        tcp_outcomes(&diagnosis, 443).len(),
        4,
        "two names, two addresses each"
    );
    assert!(
        tcp_outcomes(&diagnosis, 443)
            .iter()
            .all(|(o, _)| o == "connected")
    );
    let targets = diagnosis.json()["targets"].clone();
    let legacy: Vec<_> = targets
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "legacy")
        .map(|t| (t["host"].clone(), t["port"].clone(), t["works"].clone()))
        .collect();
    assert_eq!(legacy.len(), 2, "{targets}");
    assert!(
        legacy.iter().all(|(h, _, w)| h == LEGACY_NAME && w == true),
        "{targets}"
    );
    eprintln!("diagnose, all well: {:?}", diagnosis.elapsed);
}

#[test]
fn netns_tcp_refused_by_reset_and_by_icmp_port_unreachable() {
    let lab = Lab::new();
    lab.server_rule(
        "443",
        &["REJECT", "--reject-with", "tcp-reset"],
        &["REJECT", "--reject-with", "tcp-reset"],
    );
    lab.server_rule(
        "80",
        &["REJECT", "--reject-with", "icmp-port-unreachable"],
        &["REJECT", "--reject-with", "icmp6-port-unreachable"],
    );
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(2, "unreachable");
    assert_eq!(tcp_outcomes(&diagnosis, 443), both("refused"));
    assert_eq!(tcp_outcomes(&diagnosis, 80), both("refused"));
    let refused: Vec<_> = diagnosis
        .findings()
        .into_iter()
        .filter(|f| f["code"] == "tcp_refused")
        .collect();
    assert_eq!(refused.len(), 2, "one per port: {refused:?}");
    assert!(refused.iter().all(|f| f["severity"] == "error"));
}

#[test]
fn netns_tcp_unreachable_by_icmp_host_unreachable() {
    let lab = Lab::new();
    for port in ["443", "80"] {
        lab.server_rule(
            port,
            &["REJECT", "--reject-with", "icmp-host-unreachable"],
            &["REJECT", "--reject-with", "icmp6-addr-unreachable"],
        );
    }
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(2, "unreachable");
    assert_eq!(tcp_outcomes(&diagnosis, 443), both("unreachable"));
    let message = diagnosis.finding("tcp_unreachable")["message"].to_string();
    assert!(
        message.contains(SERVER_V4) && message.contains(SERVER_V6),
        "{message}"
    );
}

#[test]
fn netns_443_dropped_while_80_works_is_degraded() {
    let lab = Lab::new();
    lab.server_rule("443", &["DROP"], &["DROP"]);
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(1, "degraded");
    assert_eq!(tcp_outcomes(&diagnosis, 443), both("timeout"));
    let message = diagnosis.finding("tcp_timeout")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with(&format!("TCP 443 to {NAME} ("))
            && message.contains("timed out after 3.0 s"),
        "{message}"
    );
    assert!(
        message.ends_with("Check-ins currently fall back to plain HTTP on port 80."),
        "{message}"
    );
    diagnosis.finding("plain_http_only");
    assert!(diagnosis.elapsed < RUN_BOUND, "{:?}", diagnosis.elapsed);
    let ticket = lab.diagnose(&["--ticket"]);
    assert!(
        ticket
            .stdout
            .contains(&format!("{NAME} TCP 443 (HTTPS, primary)")),
        "{}",
        ticket.stdout
    );
    assert!(ticket.stdout.contains("BLOCKED now"), "{}", ticket.stdout);
}

#[test]
fn netns_tcp_blocked_locally_by_the_clients_own_firewall() {
    let lab = Lab::new();
    // IPv4: a silent OUTPUT DROP; IPv6: an OUTPUT REJECT the kernel reports as EACCES.
    lab.net
        .client_iptables(&["-A", "OUTPUT", "-p", "tcp", "--dport", "443", "-j", "DROP"]);
    lab.net.client_ip6tables(&[
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "443",
        "-j",
        "REJECT",
        "--reject-with",
        "icmp6-adm-prohibited",
    ]);
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(1, "degraded");
    assert_eq!(tcp_outcomes(&diagnosis, 443), both("blocked_locally"));
    let finding = diagnosis.finding("tcp_blocked_locally");
    assert!(
        finding["remedy"].as_str().unwrap().contains("OUTPUT"),
        "{finding}"
    );
    assert!(
        !diagnosis.codes().contains(&"tcp_timeout".to_string()),
        "{}",
        diagnosis.stdout
    );
}

fn dns_lab(mode: Option<DnsMode>, resolv_conf: &str) -> (Lab, Option<DnsServer>) {
    let lab = Lab::new();
    let server = mode.map(|mode| DnsServer::start(&lab.net, mode));
    lab.net.set_resolver(resolv_conf, &Lab::hosts(false));
    (lab, server)
}

#[test]
fn netns_dns_nxdomain() {
    let (lab, _dns) = dns_lab(
        Some(DnsMode::NxDomain),
        &format!("nameserver {SERVER_V4}\n"),
    );
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(2, "unreachable");
    let message = diagnosis.finding("dns_nxdomain")["message"].to_string();
    assert!(
        message.contains(SERVER_V4) && message.contains(NAME),
        "{message}"
    );
}

#[test]
fn netns_dns_no_answer() {
    let (lab, _dns) = dns_lab(Some(DnsMode::Empty), &format!("nameserver {SERVER_V4}\n"));
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(2, "unreachable");
    diagnosis.finding("dns_no_answer");
}

#[test]
fn netns_dns_timeout_when_the_resolver_is_silent() {
    let (lab, _dns) = dns_lab(Some(DnsMode::Silent), &format!("nameserver {SERVER_V4}\n"));
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(2, "unreachable");
    diagnosis.finding("dns_timeout");
    assert!(diagnosis.elapsed < RUN_BOUND, "{:?}", diagnosis.elapsed);
}

#[test]
fn netns_dns_no_resolver_configured() {
    let (lab, _dns) = dns_lab(None, "search dbcheckin.test\n");
    let diagnosis = lab.diagnose(&["--json"]);
    diagnosis.assert(2, "unreachable");
    diagnosis.finding("dns_no_resolver");
}

#[test]
fn netns_everything_dropped_finishes_within_the_bound() {
    let lab = Lab::new();
    lab.net.server_iptables(&["-A", "INPUT", "-j", "DROP"]);
    lab.net.server_ip6tables(&["-A", "INPUT", "-j", "DROP"]);
    // Names known from /etc/hosts: every TCP probe is dropped.
    let tcp = lab.diagnose(&["--json"]);
    tcp.assert(2, "unreachable");
    assert_eq!(tcp_outcomes(&tcp, 443), both("timeout"));
    assert!(tcp.elapsed < RUN_BOUND, "{:?}", tcp.elapsed);
    // Names only in DNS: the resolver's packets are dropped too.
    lab.net
        .set_resolver(&format!("nameserver {SERVER_V4}\n"), &Lab::hosts(false));
    let dns = lab.diagnose(&["--json"]);
    dns.assert(2, "unreachable");
    dns.finding("dns_timeout");
    assert!(dns.elapsed < RUN_BOUND, "{:?}", dns.elapsed);
    eprintln!(
        "diagnose, everything dropped: TCP {:?}, DNS {:?}",
        tcp.elapsed, dns.elapsed
    );
}
