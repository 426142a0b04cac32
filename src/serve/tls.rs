//! TLS for `pipec serve --tls-cert FILE --tls-key FILE`: rustls (with ring), HTTP/1.1 over
//! TLS 1.2 and 1.3. The certificate file holds the chain (PEM, leaf first), the key file one
//! private key (PKCS#8, PKCS#1 or SEC1 PEM). With TLS the session cookie is `Secure`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The most a certificate or key file may hold.
const PEM_LIMIT: u64 = 1 << 20;

fn read(path: &Path) -> Result<Vec<u8>, String> {
    crate::runtime::bounded::read(path, PEM_LIMIT)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// The acceptor of connections for `cert` and `key`.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{}` is not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| format!("`{}` is not a PEM private key: {e}", key.display()))?;
    // Reason: ring builds with the C compiler we already need (aws-lc-rs wants cmake); the
    // post-quantum key exchange it lacks can come with a move to aws-lc-rs.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
