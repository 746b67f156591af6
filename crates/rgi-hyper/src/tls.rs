//! HTTPS with rustls: certificates from PEM files, ALPN `h2` and
//! `http/1.1`, and the scope's TLS details.

use std::path::Path;
use std::sync::Arc;

use rgi::TlsInfo;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, ServerConnection};
use tokio_rustls::TlsAcceptor;

/// A TLS configuration for [`Server::with_tls`](crate::Server::with_tls).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
    /// The leaf certificate, PEM, for `TlsInfo::server_cert`.
    server_cert: Option<String>,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no certificate, or the key file no key.
    #[error("{0}")]
    Missing(String),
    /// rustls refused the certificate and key.
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
}

impl TlsConfig {
    /// From a certificate chain and a private key in PEM files (what
    /// `--ssl-certfile` and `--ssl-keyfile` name).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        Self::from_pem(&read(cert)?, &read(key)?)
    }

    /// From a certificate chain and a private key, PEM.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Missing(format!("bad certificate PEM: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::Missing("no certificate in the PEM".into()));
        }
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
            .map_err(|e| TlsError::Missing(format!("bad key PEM: {e}")))?
            .ok_or_else(|| TlsError::Missing("no private key in the PEM".into()))?;
        let server_cert = first_pem_block(cert_pem);
        // ring, not aws-lc-rs: it builds with a C compiler alone (no cmake),
        // which keeps `--features tls` buildable on a bare toolchain. rustls
        // deprecates it for lacking post-quantum key exchange; classical
        // X25519/P-256 is what local HTTPS and most deployments use today.
        #[allow(deprecated)]
        let provider = tokio_rustls::rustls::crypto::ring::default_provider();
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            server_cert,
        })
    }

    pub(crate) fn acceptor(&self) -> (TlsAcceptor, Option<String>) {
        (
            TlsAcceptor::from(self.config.clone()),
            self.server_cert.clone(),
        )
    }
}

fn first_pem_block(pem: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[start..].find(end_marker)? + start + end_marker.len();
    Some(format!("{}\n", &text[start..end]))
}

/// The scope's TLS details for an established connection.
pub(crate) fn info(conn: &ServerConnection, server_cert: Option<String>) -> TlsInfo {
    let mut info = TlsInfo::default();
    info.version = conn.protocol_version().map(u16::from);
    info.cipher_suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite()));
    info.server_cert = server_cert;
    info
}
