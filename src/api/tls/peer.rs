//! Who a verified client certificate names. The rule: the subject's common name (CN) decides —
//! `kapsel-admin` is the admin, a tenant's name is that tenant, anything else (no CN, several
//! CNs, an unknown name, or `default`, the admin's own tenant) names nobody and is refused with
//! 403. Only certificates rustls verified against `--tlscacert` get this far, so whoever holds
//! the CA's key can mint tenant and admin identities, as dockerd trusts every certificate it
//! signed.

use crate::engine::tenants::Principal;
use crate::engine::{Engine, Error};
use crate::store::DEFAULT_TENANT;

/// The common name of a client certificate that acts as the admin.
pub const ADMIN_COMMON_NAME: &str = "kapsel-admin";

/// The verified client certificate of a TLS connection, put on each of its requests as an
/// extension (absent when the client sent no certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
    /// The subject's common name, when it has exactly one that is text.
    pub common_name: Option<String>,
}

impl TlsPeer {
    /// The identity in a DER certificate (the leaf of the client's chain).
    pub fn from_certificate(der: &[u8]) -> TlsPeer {
        let common_name = x509_parser::parse_x509_certificate(der).ok().and_then(|(_, cert)| {
            let mut names = cert.subject().iter_common_name();
            match (names.next(), names.next()) {
                (Some(name), None) => name.as_str().ok().map(str::to_string),
                _ => None,
            }
        });
        TlsPeer { common_name }
    }

    /// Who the certificate names; `Forbidden` when it names nobody.
    pub async fn principal(&self, engine: &Engine) -> Result<Principal, Error> {
        let Some(name) = self.common_name.as_deref() else {
            return Err(Error::Forbidden(format!(
                "the client certificate has no single subject common name (CN): use a tenant's name, or \
                 {ADMIN_COMMON_NAME} for the admin"
            )));
        };
        if name == ADMIN_COMMON_NAME {
            return Ok(Principal::Admin);
        }
        match engine.tenant_by_name(name).await {
            Ok(tenant) if tenant.id != DEFAULT_TENANT => Ok(Principal::Tenant { id: tenant.id, name: tenant.name }),
            Ok(_) | Err(Error::NotFound(_)) => Err(Error::Forbidden(format!(
                "the client certificate's common name {name:?} names no tenant: use a tenant's name, or \
                 {ADMIN_COMMON_NAME} for the admin"
            ))),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate with these common names.
    fn certificate(common_names: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "kapsel tests");
        for name in common_names {
            params.distinguished_name.push(rcgen::DnType::CommonName, *name);
        }
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_common_name_is_the_identity() {
        assert_eq!(TlsPeer::from_certificate(&certificate(&["acme"])).common_name.as_deref(), Some("acme"));
        assert_eq!(
            TlsPeer::from_certificate(&certificate(&[ADMIN_COMMON_NAME])).common_name.as_deref(),
            Some(ADMIN_COMMON_NAME)
        );
    }

    #[test]
    fn no_common_name_names_nobody() {
        assert_eq!(TlsPeer::from_certificate(&certificate(&[])).common_name, None);
        assert_eq!(TlsPeer::from_certificate(b"not a certificate").common_name, None);
    }
}
