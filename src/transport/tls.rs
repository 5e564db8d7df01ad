//! The TLS configurations clients share: the system's root certificates are
//! loaded once per process, a CA bundle's once per bundle, and every client
//! (every HTTP/2 pool) with the same trust settings reuses the same rustls
//! configuration, its verifier and its session cache.
//!
//! reqwest builds a new verifier for every client it builds, and on Linux
//! that reads and parses the system's whole CA store (3–8 ms, nearly all of
//! what a `Client` cost to construct). A program that builds a client per
//! request paid it every request. The trust a client gets is the same as
//! reqwest's own: the platform verifier with the system's roots by default
//! (`rustls-platform-verifier`, as reqwest uses), only the bundle's roots
//! with `verify=<bundle>` (as `tls_certs_only`). `verify=False` is left to
//! reqwest (it builds no store, so costs nothing).
//!
//! Sharing the session cache lets a client resume a TLS session another
//! client with the same trust settings made; clients with different trust
//! settings never share one, so a session verified against one set of roots
//! is never resumed by a client that trusts other roots.
//!
//! The system's roots are read at the first handshake that needs them (not
//! when a client is made, so a client for `http://` never reads them), and
//! once per process: a CA installed later is seen by the next process. A
//! system without roots fails that handshake, no longer the construction.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// CA bundles kept at once (by their bytes); past that the oldest is dropped.
const BUNDLES_KEPT: usize = 8;

static SYSTEM: Mutex<Option<Arc<ClientConfig>>> = Mutex::new(None);
static BUNDLES: Mutex<Vec<(Vec<u8>, Arc<ClientConfig>)>> = Mutex::new(Vec::new());

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    install_crypto_provider();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

fn builder(
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, String> {
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("cannot build the TLS configuration: {e}"))
}

/// The system's roots through the platform's verifier, as reqwest's default.
/// The verifier is made (on Linux, the CA store read) at the first handshake
/// that needs it, not with the client: a client for `http://` never reads it.
fn system() -> Result<Arc<ClientConfig>, String> {
    let mut slot = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(config) = slot.as_ref() {
        return Ok(config.clone());
    }
    let provider = provider();
    let verifier = SystemRoots {
        provider: provider.clone(),
        verifier: Mutex::new(None),
    };
    let config = Arc::new(
        builder(provider)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    );
    *slot = Some(config.clone());
    Ok(config)
}

/// `rustls_platform_verifier::Verifier`, made when first asked to verify.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// Only a success is kept: a failure (no roots on the system) is tried
    /// again at the next handshake.
    verifier: Mutex<Option<Arc<rustls_platform_verifier::Verifier>>>,
}

impl SystemRoots {
    /// The lock is never held while the store is read: a `fork()` while
    /// another thread reads it must not leave the child a lock no thread
    /// will release. Two threads may both read it once; the first kept wins.
    fn get(&self) -> Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error> {
        let slot = || self.verifier.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = slot().as_ref() {
            return Ok(v.clone());
        }
        let made = Arc::new(rustls_platform_verifier::Verifier::new(
            self.provider.clone(),
        )?);
        Ok(slot().get_or_insert(made).clone())
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // What the platform verifier answers on every platform (its
        // provider's), known without the roots.
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Only the bundle's roots (as requests and httpx: a bundle replaces the
/// system's), kept by the bundle's bytes.
fn bundle(pem: &[u8]) -> Result<Arc<ClientConfig>, String> {
    // Not locked while parsing (see `SystemRoots::get`).
    let kept = || BUNDLES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, config)) = kept().iter().find(|(bytes, _)| bytes == pem) {
        return Ok(config.clone());
    }
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid CA bundle: {e}"))?;
    if certs.is_empty() {
        // Else a wrong file would quietly leave no root at all.
        return Err("invalid CA bundle: no PEM certificate in it".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("invalid CA bundle: {e}"))?;
    }
    let config = Arc::new(
        builder(provider())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let mut kept = kept();
    if let Some((_, config)) = kept.iter().find(|(bytes, _)| bytes == pem) {
        return Ok(config.clone());
    }
    if kept.len() >= BUNDLES_KEPT {
        kept.remove(0);
    }
    kept.push((pem.to_vec(), config.clone()));
    Ok(config)
}

/// rustls' ring provider, installed once per process (reqwest is built without one).
pub(super) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The configuration for a verifying client: the shared one for its trust
/// settings, with the ALPN protocols its HTTP versions offer (as reqwest
/// sets them: `http/1.1`; `h2` and `http/1.1`; `h2`).
pub fn client_config(
    ca_bundle: Option<&[u8]>,
    http1: bool,
    http2: bool,
) -> Result<ClientConfig, String> {
    let shared = match ca_bundle {
        Some(pem) => bundle(pem)?,
        None => system()?,
    };
    // A clone shares the verifier and the session cache (they are `Arc`s).
    let mut config = (*shared).clone();
    config.alpn_protocols = match (http1, http2) {
        (true, false) => vec![b"http/1.1".to_vec()],
        (true, true) => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        _ => vec![b"h2".to_vec()],
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_roots_are_loaded_once_and_each_client_gets_its_alpn() {
        assert!(Arc::ptr_eq(&system().unwrap(), &system().unwrap()));
        let roots = SystemRoots {
            provider: provider(),
            verifier: Mutex::new(None),
        };
        assert!(Arc::ptr_eq(&roots.get().unwrap(), &roots.get().unwrap()));
        let a = client_config(None, true, false).unwrap();
        let b = client_config(None, true, true).unwrap();
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(b.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        let c = client_config(None, false, true).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn bundles_that_are_not_pem_certificates_are_refused() {
        let err = client_config(Some(b"not a certificate\n"), true, false).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        let err = client_config(
            Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            true,
            false,
        )
        .unwrap_err();
        assert!(err.starts_with("invalid CA bundle"), "{err}");
    }
}
