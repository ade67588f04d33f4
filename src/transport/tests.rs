use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn no_proxy_is_decided_as_reqwest_decides() {
    let proxy = url("http://squid:3128");
    let direct = |no_proxy: &str, target: &str| {
        let env = ProxyEnv {
            no_proxy: Some(no_proxy.into()),
            ..ProxyEnv::default()
        };
        proxy_for(&url(target), Some(&proxy), &env).is_none()
    };
    let odoo = "https://services.odoo.com/publisher-warranty/";
    assert!(direct("localhost,.odoo.com", odoo));
    assert!(direct("odoo.com", odoo), "a domain covers its subdomains");
    assert!(direct("SERVICES.ODOO.COM", odoo), "case does not matter");
    assert!(direct(" * ", odoo));
    assert!(
        !direct("*.odoo.com", odoo),
        "*.odoo.com is no wildcard for reqwest: check-ins take the proxy"
    );
    assert!(!direct("xodoo.com", odoo));
    assert!(!direct("", odoo));
    assert!(
        !direct("services.odoo.com:443", odoo),
        "an entry with a port never matches"
    );
    assert!(direct("10.0.0.0/8", "https://10.1.2.3/publisher-warranty/"));
    assert!(!direct(
        "10.0.0.0/8",
        "https://11.1.2.3/publisher-warranty/"
    ));
    assert!(direct(
        "127.0.0.1",
        "https://127.0.0.1:8443/publisher-warranty/"
    ));
    assert!(direct("::1", "https://[::1]:8443/publisher-warranty/"));
    assert!(
        !direct("10.0.0.0/8", odoo),
        "a CIDR block matches addresses, not names that resolve into it"
    );
}

#[test]
fn proxy_choice_follows_scheme_config_and_no_proxy() {
    let env = ProxyEnv {
        https: Some("proxy.lan:3128".into()),
        http: None,
        all: Some("http://all.lan:8080".into()),
        no_proxy: Some("internal.lan".into()),
    };
    let https = url("https://services.odoo.com/publisher-warranty/");
    let http = url("http://services.odoo.com/publisher-warranty/");
    assert_eq!(
        proxy_for(&https, None, &env).unwrap().as_str(),
        "http://proxy.lan:3128/"
    );
    assert_eq!(
        proxy_for(&http, None, &env).unwrap().as_str(),
        "http://all.lan:8080/"
    );
    let configured = url("http://squid:3128");
    assert_eq!(
        proxy_for(&https, Some(&configured), &env),
        Some(configured.clone())
    );
    assert_eq!(
        proxy_for(&url("https://x.internal.lan/"), Some(&configured), &env),
        None
    );
    assert_eq!(proxy_for(&https, None, &ProxyEnv::default()), None);
}

#[tokio::test]
async fn a_failed_send_leads_with_diagnose_codes_and_ports() {
    let closed = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (https, http) = (closed(), closed());
    let mut settings = crate::config::Settings::default().server;
    settings.url = url(&format!("https://127.0.0.1:{https}/publisher-warranty/"));
    settings.fallback_url = Some(url(&format!("http://127.0.0.1:{http}/publisher-warranty/")));
    settings.proxy = None;
    let error = Transport::new(&settings)
        .unwrap()
        .send("x=1")
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "tcp_refused on {https}, fallback tcp_refused on {http}: "
        )),
        "{text}"
    );
    assert_eq!(
        error.fallback.unwrap().symptom,
        Some(format!("tcp_refused on {http}"))
    );
}

#[test]
fn proxy_passwords_never_appear_in_messages() {
    let shown = redact_url(&url("http://alice:s3cret@proxy.lan:3128"));
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("alice:***@proxy.lan"), "{shown}");
}
