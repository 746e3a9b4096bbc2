//! The mesh's identities: a CA made at run time and one certificate per node proxy, as Istio's
//! CA issues each ztunnel workload certificates (SPIFFE URIs) and the proxies verify each other
//! with them (mutual TLS 1.3, ALPN `h2`). Nothing is fetched and nothing outlives the demo's
//! output folder; the keys are written 0600.
//!
//! ```text
//! <dir>/ca.pem                 the mesh CA (trust anchor of both proxies)
//! <dir>/<node>.pem, .key       the node proxy's chain (leaf, CA) and private key
//! ```
use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};

/// The node proxies' names: the client's node and the service's node.
pub const NODES: [&str; 2] = ["node-a", "node-b"];
/// The DNS name every node certificate carries, which the outbound proxy checks on the peer.
pub const MESH_SERVER_NAME: &str = "ztunnel.istio-system.svc";

/// Writes a fresh CA and one certificate per node in `dir`.
pub fn generate(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the certificate folder {}", dir.display()))?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tracer-demo mesh CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    write(dir, "ca.pem", ca_cert.pem().as_bytes())?;
    for node in NODES {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![MESH_SERVER_NAME.to_owned()])?;
        params.subject_alt_names.push(SanType::URI(
            format!("spiffe://cluster.local/ns/istio-system/sa/ztunnel-{node}").try_into()?,
        ));
        params.distinguished_name.push(DnType::CommonName, node);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &issuer)?;
        let chain = format!("{}{}", cert.pem(), ca_cert.pem());
        write(dir, &format!("{node}.pem"), chain.as_bytes())?;
        write(dir, &format!("{node}.key"), key.serialize_pem().as_bytes())?;
    }
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    tracer::run::write_atomically(&path, bytes, tracer::run::PRIVATE_MODE)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The DER certificates of `<dir>/<node>.pem` (leaf first, then the CA).
pub fn chain(dir: &Path, node: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let path = dir.join(format!("{node}.pem"));
    CertificateDer::pem_file_iter(&path)
        .and_then(Iterator::collect)
        .map_err(|error| {
            tracer::error::user(
                tracer::error::ErrorKind::BadInput,
                format!(
                    "cannot read the certificates {}: {error}; make them with `tracer-demo certs`",
                    path.display()
                ),
            )
        })
}

/// Bytes of the chain a node presents in its handshake (the DER certificates' lengths).
pub fn chain_bytes(dir: &Path, node: &str) -> anyhow::Result<usize> {
    Ok(chain(dir, node)?.iter().map(|cert| cert.len()).sum())
}

fn roots(dir: &Path) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem"))? {
        roots.add(cert?)?;
    }
    Ok(roots)
}

fn key(dir: &Path, node: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    let path = dir.join(format!("{node}.key"));
    PrivateKeyDer::from_pem_file(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The inbound proxy's side: TLS 1.3, a client certificate from the mesh CA required.
pub fn server_config(dir: &Path, node: &str) -> anyhow::Result<rustls::ServerConfig> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(dir)?),
        provider(),
    )
    .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain(dir, node)?, key(dir, node)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The outbound proxy's side: TLS 1.3, presents its own certificate, trusts the mesh CA.
pub fn client_config(dir: &Path, node: &str) -> anyhow::Result<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(dir)?)
        .with_client_auth_cert(chain(dir, node)?, key(dir, node)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The name the outbound proxy expects on the peer's certificate.
///
/// # Panics
///
/// Never: [`MESH_SERVER_NAME`] is a valid DNS name.
#[must_use]
pub fn server_name() -> ServerName<'static> {
    ServerName::DnsName(
        MESH_SERVER_NAME
            .try_into()
            .expect("MESH_SERVER_NAME is a valid DNS name"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_make_both_configs() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path()).unwrap();
        assert_eq!(chain(dir.path(), "node-a").unwrap().len(), 2, "leaf and CA");
        assert!(chain_bytes(dir.path(), "node-b").unwrap() > 300);
        server_config(dir.path(), "node-b").unwrap();
        client_config(dir.path(), "node-a").unwrap();
    }
}
