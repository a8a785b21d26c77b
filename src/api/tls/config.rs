//! The TLS listeners' rustls configuration, read once at start from the PEM files the flags
//! name: a file that is missing, holds no certificate or key, or whose key does not match the
//! certificate stops the daemon with a message naming the flag and the path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};

/// What the TLS flags ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The server's certificate chain (PEM, leaf first): `--tlscert`.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1): `--tlskey`.
    pub key: PathBuf,
    /// The CA certificates client certificates must chain to: `--tlscacert`.
    pub ca: Option<PathBuf>,
    /// Require a client certificate (`--tlsverify`); otherwise one is optional (with a CA) or
    /// not asked for (without).
    pub verify: bool,
}

/// The cryptography kapsel's TLS uses: rustls's `ring` provider, named explicitly so that no
/// process-wide default is needed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the files and builds the server configuration every TLS listener shares.
pub fn server_config(options: &TlsOptions) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = read_certificates(&options.cert, "--tlscert")?;
    let key = PrivateKeyDer::from_pem_file(&options.key)
        .map_err(|e| anyhow::anyhow!("reading the private key --tlskey {}: {e}", options.key.display()))?;
    let verifier = match &options.ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(ca, "--tlscacert")? {
                roots
                    .add(cert)
                    .with_context(|| format!("--tlscacert {}: not a usable CA certificate", ca.display()))?;
            }
            let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let builder = if options.verify { builder } else { builder.allow_unauthenticated() };
            builder.build().with_context(|| format!("--tlscacert {}", ca.display()))?
        }
        None if options.verify => bail!("--tlsverify needs --tlscacert: the CA that signs client certificates"),
        None => WebPkiClientVerifier::no_client_auth(),
    };
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("choosing TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "the key --tlskey {} does not fit the certificate --tlscert {}",
                options.key.display(),
                options.cert.display()
            )
        })?;
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file; at least one.
fn read_certificates(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("reading {flag} {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{flag} {}: no PEM certificate in the file", path.display());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA, and a server certificate it signed, written as PEM files into `dir`.
    fn write_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
        let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&paths.0, ca.pem()).unwrap();
        std::fs::write(&paths.1, cert.pem()).unwrap();
        std::fs::write(&paths.2, key.serialize_pem()).unwrap();
        paths
    }

    #[test]
    fn good_files_make_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = write_files(dir.path());
        for (ca, verify) in [(Some(ca.clone()), true), (Some(ca), false), (None, false)] {
            let options = TlsOptions { cert: cert.clone(), key: key.clone(), ca, verify };
            server_config(&options).unwrap();
        }
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = write_files(dir.path());
        let missing = dir.path().join("missing.pem");
        let error = |options: TlsOptions| format!("{:#}", server_config(&options).unwrap_err());

        let e = error(TlsOptions { cert: missing.clone(), key: key.clone(), ca: None, verify: false });
        assert!(e.contains("--tlscert") && e.contains("missing.pem"), "{e}");
        let e = error(TlsOptions { cert: cert.clone(), key: missing, ca: None, verify: false });
        assert!(e.contains("--tlskey"), "{e}");
        // A certificate file given as the key, and a key file given as the CA.
        let e = error(TlsOptions { cert: cert.clone(), key: cert.clone(), ca: None, verify: false });
        assert!(e.contains("--tlskey"), "{e}");
        let e = error(TlsOptions { cert: cert.clone(), key: key.clone(), ca: Some(key.clone()), verify: true });
        assert!(e.contains("--tlscacert") && e.contains("no PEM certificate"), "{e}");
        let e = error(TlsOptions { cert: cert.clone(), key: key.clone(), ca: None, verify: true });
        assert!(e.contains("--tlscacert"), "{e}");
        // The CA's key does not fit the server's certificate.
        let other = rcgen::KeyPair::generate().unwrap();
        let other_key = dir.path().join("other-key.pem");
        std::fs::write(&other_key, other.serialize_pem()).unwrap();
        let e = error(TlsOptions { cert, key: other_key, ca: Some(ca), verify: true });
        assert!(e.contains("does not fit"), "{e}");
    }
}
