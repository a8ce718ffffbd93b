//! TLS for CQL connections, through the driver's own rustls support: which certificates to
//! trust (`--tls-ca`, else the system's store), the client certificate for mutual TLS
//! (`--tls-cert`/`--tls-key`), the name certificates are checked against (`--tls-server-name`,
//! else each node's address, as the driver connects by address) and, loudly warned,
//! `--tls-insecure`. Everything here configures rustls; the handshake and the checks are
//! rustls's and webpki's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use thiserror::Error;

/// TLS settings of one cluster connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificates to trust; the system's store when `None`.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain and its key, for clusters that require client certificates.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name the nodes' certificates are checked against, when it is not their address.
    pub server_name: Option<String>,
    /// Accept any certificate (encryption without authentication of the nodes).
    pub insecure: bool,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error(
        "--tls-ca {path}: {reason}; give a PEM file of the CA certificates that signed the nodes' certificates"
    )]
    Ca { path: PathBuf, reason: String },
    #[error("--tls-cert {path}: {reason}; give the client certificate (and its chain) as PEM")]
    Cert { path: PathBuf, reason: String },
    #[error(
        "--tls-key {path}: {reason}; give the client certificate's private key as PEM (PKCS#8, PKCS#1 or SEC1)"
    )]
    Key { path: PathBuf, reason: String },
    #[error("--tls-cert and --tls-key go together: give both, or neither")]
    CertWithoutKey,
    #[error("--tls-server-name {0}: not a DNS name or an IP address")]
    ServerName(String),
    #[error("the system's certificate store cannot be read ({0}); give --tls-ca FILE")]
    SystemRoots(String),
    #[error("TLS setup failed: {0}")]
    Rustls(String),
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".to_owned());
    }
    Ok(certs)
}

/// The rustls client configuration these options make, for the driver's session.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder();
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(None)))
    } else {
        let roots = roots(options)?;
        match &options.server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|_| TlsError::ServerName(name.clone()))?;
                let inner = WebPkiServerVerifier::builder(roots)
                    .build()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Verifier::new(Some((inner, name)))))
            }
            None => builder.with_root_certificates(roots),
        }
    };
    let config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert).map_err(|reason| TlsError::Cert {
                path: cert.clone(),
                reason,
            })?;
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
                path: key.clone(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| TlsError::Key {
                    path: key.clone(),
                    reason: e.to_string(),
                })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::CertWithoutKey),
    };
    Ok(Arc::new(config))
}

/// The certificates to trust: `--tls-ca`'s, else the system's.
fn roots(options: &TlsOptions) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    match &options.ca {
        Some(path) => {
            for cert in certificates(path).map_err(|reason| TlsError::Ca {
                path: path.clone(),
                reason,
            })? {
                roots.add(cert).map_err(|e| TlsError::Ca {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or("it holds no certificates".to_owned(), |e| e.to_string());
                return Err(TlsError::SystemRoots(why));
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(Arc::new(roots))
}

/// How a server certificate is checked when the driver's default (webpki against the node's
/// address) will not do: webpki against one fixed name, or (`--tls-insecure`) not at all. The
/// handshake's signatures are checked with the provider's algorithms either way, as webpki's
/// own verifier checks them.
#[derive(Debug)]
struct Verifier {
    /// `None`: accept any certificate.
    webpki: Option<(Arc<WebPkiServerVerifier>, ServerName<'static>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    fn new(webpki: Option<(Arc<WebPkiServerVerifier>, ServerName<'static>)>) -> Verifier {
        Verifier {
            webpki,
            provider: rustls::crypto::CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())),
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.webpki {
            Some((webpki, name)) => {
                webpki.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_files_and_a_lone_certificate_are_refused_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(&TlsOptions {
            ca: Some(empty.clone()),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("--tls-ca "), "{err}");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = client_config(&TlsOptions {
            ca: Some(dir.path().join("missing.pem")),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("--tls-ca "), "{err}");
        let err = client_config(&TlsOptions {
            insecure: true,
            cert: Some(empty),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(matches!(err, TlsError::CertWithoutKey), "{err}");
        let err = client_config(&TlsOptions {
            insecure: true,
            server_name: Some("bad name!".into()),
            ..TlsOptions::default()
        });
        // --tls-insecure checks no name at all.
        assert!(err.is_ok());
    }
}
