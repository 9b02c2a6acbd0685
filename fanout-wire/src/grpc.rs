//! gRPC alert sink integration settings, as registered: what can be
//! checked before any connection (the TLS handshake checks the PEM).

use serde::{Deserialize, Serialize};

/// Settings of a gRPC integration, chosen at registration. The token and
/// the client key are secrets, passed apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcSettings {
    /// `https://host:port`.
    pub endpoint: String,
    /// PEM of the CA that signs the receiver's certificate (default: the
    /// Web PKI roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// PEM client certificate for mTLS (its key is the secret `clientKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_pem: Option<String>,
    /// Name to check the server certificate against (default: the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Secret names of a gRPC integration.
pub mod secret {
    /// Bearer token sent as `authorization: Bearer <token>`.
    pub const TOKEN: &str = "token";
    /// PEM private key of the client certificate.
    pub const CLIENT_KEY: &str = "clientKey";
}

impl GrpcSettings {
    /// Checks what needs no connection: the endpoint is an `https` URL with
    /// a host, and a client certificate comes with its key (`client_key`,
    /// the secret) or neither is given.
    ///
    /// # Errors
    ///
    /// What is wrong with the settings.
    pub fn validate(&self, client_key: Option<&str>) -> Result<(), String> {
        let tls_only = || {
            format!(
                "endpoint {:?} must be https://host:port: the alert sink speaks TLS only",
                self.endpoint
            )
        };
        // The prefix first: the URL parser also reads `https:host` as a URL.
        if !self.endpoint.starts_with("https://") {
            return Err(tls_only());
        }
        let url = url::Url::parse(&self.endpoint).map_err(|_| tls_only())?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(tls_only());
        }
        if self.client_cert_pem.is_some() != client_key.is_some() {
            return Err("mTLS needs both clientCertPem and the clientKey secret".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> GrpcSettings {
        GrpcSettings {
            endpoint: endpoint.into(),
            ca_pem: None,
            client_cert_pem: None,
            domain: None,
        }
    }

    #[test]
    fn only_https_endpoints_with_a_host_are_taken() {
        assert!(settings("https://alerts.example:8443")
            .validate(None)
            .is_ok());
        for refused in [
            "http://alerts.example",
            "https://",
            "https:alerts",
            "alerts:443",
            "",
        ] {
            assert!(settings(refused).validate(None).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn a_client_certificate_comes_with_its_key() {
        let mut s = settings("https://alerts.example");
        assert!(s.validate(Some("key")).is_err());
        s.client_cert_pem = Some("cert".into());
        assert!(s.validate(None).is_err());
        assert!(s.validate(Some("key")).is_ok());
    }
}
