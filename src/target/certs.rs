//! Test PKI for a managed target: a throw-away CA and a server certificate for `domain` and
//! `*.domain` (the wildcard covers `conference.domain`) signed by it. Clients verify the
//! server against the CA file, so TLS in tests is verified TLS, not "accept anything".

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use super::TargetError;
use super::process::io_err;

/// PEM texts of a freshly minted CA and server certificate.
#[derive(Debug, Clone)]
pub(crate) struct TestPki {
    /// The CA certificate (what clients trust).
    pub ca_pem: String,
    /// The server certificate (leaf only).
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

fn cert_err(e: rcgen::Error) -> TargetError {
    TargetError::Cert(e.to_string())
}

impl TestPki {
    /// Mints a new CA and a server certificate for `domain` and `*.domain` (ECDSA P-256).
    pub(crate) fn generate(domain: &str) -> Result<Self, TargetError> {
        Self::generate_for(&[domain])
    }

    /// Like [`generate`](Self::generate), one certificate naming every domain of `domains`
    /// (and their wildcards): the nodes of a multi-node deployment, also of federated
    /// domains, share one CA, so a client trusts all of them through one CA file.
    pub(crate) fn generate_for(domains: &[&str]) -> Result<Self, TargetError> {
        let domain = domains.first().copied().unwrap_or("example.test");
        let ca_key = KeyPair::generate().map_err(cert_err)?;
        let mut ca_params = CertificateParams::new(Vec::new()).map_err(cert_err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = name(&format!("impress test CA for {domain}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut ca_params);
        let ca = ca_params.self_signed(&ca_key).map_err(cert_err)?;

        let key = KeyPair::generate().map_err(cert_err)?;
        let names: Vec<String> = domains
            .iter()
            .flat_map(|d| [(*d).to_owned(), format!("*.{d}")])
            .collect();
        let mut params = CertificateParams::new(names).map_err(cert_err)?;
        params.distinguished_name = name(domain);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // ClientAuth too: a server presents the same certificate when it dials out (s2s).
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        set_validity(&mut params);
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(cert_err)?;
        Ok(Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns its path.
    pub(crate) fn write_ca(&self, dir: &Path) -> Result<PathBuf, TargetError> {
        let path = dir.join("ca.pem");
        write(&path, &self.ca_pem, 0o644)?;
        Ok(path)
    }

    /// Prosody layout: `certs_dir/<domain>.crt` and `certs_dir/<domain>.key`.
    pub(crate) fn write_prosody(&self, certs_dir: &Path, domain: &str) -> Result<(), TargetError> {
        write(
            &certs_dir.join(format!("{domain}.crt")),
            &self.cert_pem,
            0o644,
        )?;
        write(
            &certs_dir.join(format!("{domain}.key")),
            &self.key_pem,
            0o600,
        )
    }

    /// ejabberd layout: certificate and key concatenated into `certs_dir/<domain>.pem`.
    pub(crate) fn write_ejabberd(
        &self,
        certs_dir: &Path,
        domain: &str,
    ) -> Result<PathBuf, TargetError> {
        let path = certs_dir.join(format!("{domain}.pem"));
        write(&path, &format!("{}{}", self.cert_pem, self.key_pem), 0o600)?;
        Ok(path)
    }
}

/// Valid from last year to ten years ahead. Not rcgen's default 1975–4096: ejabberd arms an
/// Erlang timer for the expiry date and its `pkix` server crashes (`badarg`) on a timer that
/// far out, leaving STARTTLS broken.
fn set_validity(params: &mut CertificateParams) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Approximate (365.2425-day years) is fine: we only need "in the past" and "in ten years".
    let year = 1970 + i32::try_from(secs / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Writes `text` to `path` with permissions `mode` (keys must not be world-readable).
fn write(path: &Path, text: &str, mode: u32) -> Result<(), TargetError> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).map_err(|e| io_err(format!("writing {}", path.display()), e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| io_err(format!("setting the mode of {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem_ca_and_leaf() {
        let pki = TestPki::generate("example.test").unwrap();
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(pki.ca_pem, pki.cert_pem);
    }
}
