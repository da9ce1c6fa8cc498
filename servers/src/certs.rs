//! The TLS material of a local control plane, generated with rcgen: a CA, the API server's
//! serving certificate, an admin client certificate (group `system:masters`) and the
//! service-account signing key. Everything is written as PEM files into one folder.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::HarnessError;

/// Paths of the PEM files [`generate`] writes.
#[derive(Clone, Debug)]
pub struct ClusterCerts {
    /// The CA certificate every component trusts.
    pub ca_cert: PathBuf,
    /// The CA key, which kube-controller-manager uses to sign CSRs.
    pub ca_key: PathBuf,
    /// The API server's serving certificate (SANs 127.0.0.1, localhost, kubernetes.default...).
    pub serving_cert: PathBuf,
    /// Its key.
    pub serving_key: PathBuf,
    /// A client certificate for `admin` in group `system:masters`.
    pub admin_cert: PathBuf,
    /// Its key.
    pub admin_key: PathBuf,
    /// The key that signs service-account tokens (PKCS#8 ECDSA P-256).
    pub service_account_key: PathBuf,
    /// Its public half, which verifies them.
    pub service_account_public_key: PathBuf,
}

/// Generates the control plane's TLS material into `dir`.
///
/// Errors: key generation, signing, or writing a file failed.
pub fn generate(dir: &Path) -> Result<ClusterCerts, HarnessError> {
    let tls = |source: rcgen::Error| HarnessError::Start {
        what: "certificates".into(),
        why: source.to_string(),
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sluice-local-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(tls)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls)?;

    let serving_names = [
        "127.0.0.1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "10.0.0.1",
    ];
    let mut serving =
        CertificateParams::new(serving_names.map(String::from).to_vec()).map_err(tls)?;
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_key = KeyPair::generate().map_err(tls)?;
    let serving_cert = serving.signed_by(&serving_key, &ca).map_err(tls)?;

    let mut admin = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    admin.distinguished_name.push(DnType::CommonName, "admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_key = KeyPair::generate().map_err(tls)?;
    let admin_cert = admin.signed_by(&admin_key, &ca).map_err(tls)?;

    let service_account_key = KeyPair::generate().map_err(tls)?;
    let files = ClusterCerts {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        admin_cert: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_public_key: dir.join("service-account.pub"),
    };
    let write = |path: &PathBuf, pem: String| {
        std::fs::write(path, pem).map_err(|source| HarnessError::Io {
            what: format!("writing {}", path.display()),
            source,
        })
    };
    write(&files.ca_cert, ca.pem())?;
    write(&files.ca_key, ca_key_pem)?;
    write(&files.serving_cert, serving_cert.pem())?;
    write(&files.serving_key, serving_key.serialize_pem())?;
    write(&files.admin_cert, admin_cert.pem())?;
    write(&files.admin_key, admin_key.serialize_pem())?;
    write(
        &files.service_account_key,
        service_account_key.serialize_pem(),
    )?;
    write(
        &files.service_account_public_key,
        service_account_key.public_key_pem(),
    )?;
    Ok(files)
}
