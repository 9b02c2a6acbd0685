//! Integration settings as registered (`evledger_fanout_wire`): Kafka,
//! gRPC and webhook settings from JSON, the webhook URL policy and
//! redaction.
//!
//! Properties: settings that parse serialise and parse back to the same
//! value; Kafka settings that validate name only `host:port` servers with
//! a `u16` port, a legal topic (1 to 249 of `[a-zA-Z0-9._-]`, not `.` or
//! `..`), a timeout of 100 to 900000 ms, and SASL only with user and
//! password; gRPC settings that validate name an `https` URL with a host
//! and pair a client certificate with its key; a webhook URL that passes the deny-private policy is http(s)
//! with a host whose IP literal, if any, is public by the standard
//! library's own classification too, and it passes the allow-all policy;
//! redaction leaves no user name, password or query value in the URL it
//! shows, and redacting twice changes nothing more.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use evledger_fanout_wire::grpc::GrpcSettings;
use evledger_fanout_wire::kafka::{validate_topic, KafkaSettings, DEFAULT_TOPIC};
use evledger_fanout_wire::webhook::{
    is_non_public, literal_ip, parse_url_with, redact_url, NetworkPolicy, WebhookSettings, REDACTED,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Kafka {
        password: Option<&'a str>,
        json: &'a [u8],
    },
    Grpc {
        client_key: Option<&'a str>,
        json: &'a [u8],
    },
    Webhook(&'a [u8]),
    Url(&'a str),
    Ip(IpAddr),
}

/// Non-public by the standard library's stable classifications.
fn std_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| std_non_public(IpAddr::V4(v4)))
        }
    }
}

fn check_url(text: &str) {
    let denied = parse_url_with(text, NetworkPolicy::DenyPrivate);
    let allowed = parse_url_with(text, NetworkPolicy::AllowAll);
    if let Ok(url) = &denied {
        assert!(matches!(url.scheme(), "http" | "https"));
        assert!(url.host_str().is_some());
        if let Some(ip) = literal_ip(url) {
            assert!(
                !std_non_public(ip),
                "deny-private let {ip} through: {text:?}"
            );
        }
        assert!(
            allowed.is_ok(),
            "allow-all is stricter than deny-private: {text:?}"
        );
    }
    let shown = redact_url(text);
    if let Ok(url) = url::Url::parse(&shown) {
        assert!(
            url.username().is_empty() || url.username() == REDACTED,
            "{shown}"
        );
        assert!(url.password().is_none(), "a password is shown: {shown}");
        for (key, value) in url.query_pairs() {
            assert_eq!(value, REDACTED, "query value of {key:?} is shown: {shown}");
        }
        assert_eq!(redact_url(&shown), shown, "redaction is idempotent");
    } else {
        assert!(
            url::Url::parse(text).is_err(),
            "a URL redacts to a non-URL: {shown}"
        );
    }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Kafka { password, json } => {
        let Ok(settings) = serde_json::from_slice::<KafkaSettings>(json) else {
            return;
        };
        let again = serde_json::to_vec(&settings).expect("settings serialise");
        assert_eq!(
            serde_json::from_slice::<KafkaSettings>(&again)
                .ok()
                .as_ref(),
            Some(&settings)
        );
        if settings.validate(password).is_err() {
            return;
        }
        for server in settings.bootstrap_servers.split(',') {
            let (host, port) = server.trim().rsplit_once(':').expect("host:port");
            assert!(
                !host.is_empty() && port.parse::<u16>().is_ok(),
                "{server:?}"
            );
        }
        let topic = settings.topic(None);
        assert!(validate_topic(&topic).is_ok(), "default topic {topic:?}");
        assert!(settings.default_topic.is_some() || topic == DEFAULT_TOPIC);
        assert!(settings
            .message_timeout_ms
            .is_none_or(|ms| (100..=900_000).contains(&ms)));
        assert_eq!(settings.sasl_mechanism.is_some(), password.is_some());
        assert_eq!(
            settings.sasl_mechanism.is_some(),
            settings.sasl_username.is_some()
        );
    }
    Input::Grpc { client_key, json } => {
        let Ok(settings) = serde_json::from_slice::<GrpcSettings>(json) else {
            return;
        };
        let again = serde_json::to_vec(&settings).expect("settings serialise");
        assert!(serde_json::from_slice::<GrpcSettings>(&again).ok() == Some(settings.clone()));
        if settings.validate(client_key).is_err() {
            return;
        }
        assert!(settings.endpoint.starts_with("https://"));
        let url = url::Url::parse(&settings.endpoint).expect("a validated endpoint is a URL");
        assert_eq!(url.scheme(), "https");
        assert!(url.host_str().is_some_and(|h| !h.is_empty()));
        assert_eq!(settings.client_cert_pem.is_some(), client_key.is_some());
    }
    Input::Webhook(json) => {
        let Ok(settings) = serde_json::from_slice::<WebhookSettings>(json) else {
            return;
        };
        let again = serde_json::to_vec(&settings).expect("settings serialise");
        assert!(serde_json::from_slice::<WebhookSettings>(&again).ok() == Some(settings.clone()));
        check_url(&settings.url);
        let shown = format!("{settings:?}");
        let redacted = format!("{:?}", redact_url(&settings.url));
        assert!(
            shown.contains(&redacted),
            "Debug shows the redacted URL: {shown}"
        );
    }
    Input::Url(text) => check_url(text),
    Input::Ip(ip) => {
        if std_non_public(ip) {
            assert!(
                is_non_public(ip),
                "{ip} is non-public by std but not by is_non_public"
            );
        }
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let url = format!("https://{host}/hook");
        let denied = parse_url_with(&url, NetworkPolicy::DenyPrivate);
        assert_eq!(denied.is_err(), is_non_public(ip), "{url}");
    }
});
