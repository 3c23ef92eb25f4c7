//! Mutual TLS between services (the distributed shape).
//!
//! Every process holds a certificate from Plaza's CA naming the services it
//! hosts (`<service>.plaza.internal`); `plaza certs init` makes a
//! development CA and such certificates. A gRPC server with TLS refuses any
//! client without a certificate from the CA (at the handshake), then checks
//! the caller's service names against [`ALLOW`], per service and per
//! method. Clients check that the server holds a certificate for the
//! service they meant to reach. The embedded shape stays on loopback
//! without TLS.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::{CertificateDer, DnsName, ServerName};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::error::{ErrorKind, PublicError};

/// The DNS domain of service names in certificates.
pub const DOMAIN: &str = "plaza.internal";

/// The certificate name of a service.
pub fn service_name(service: &str) -> String {
    format!("{service}.{DOMAIN}")
}

/// Any caller with a certificate from Plaza's CA.
const ANY: &[&str] = &["*"];

/// Who may call what: a gRPC service (`package.Service`) or one method
/// (`package.Service/Method`, which takes precedence), and the services
/// allowed to call it. Anything not listed is refused.
pub const ALLOW: &[(&str, &[&str])] = &[
    ("grpc.health.v1.Health", ANY),
    ("grpc.reflection.v1.ServerReflection", ANY),
    // Renewal checks pickup offices.
    ("plaza.offices.v1.OfficesService", &["gateway", "renewal"]),
    ("plaza.renewal.v1.RenewalService", &["gateway"]),
    // The renewal saga drives the four services of a renewal; staff and
    // citizens reach some of them through the gateway too.
    ("plaza.photo.v1.PhotoService", &["gateway", "renewal"]),
    ("plaza.address.v1.AddressService", &["gateway", "renewal"]),
    ("plaza.payments.v1.PaymentsService", &["gateway", "renewal"]),
    (
        "plaza.fulfillment.v1.FulfillmentService",
        &["gateway", "renewal"],
    ),
    ("plaza.audit.v1.AuditService", &["gateway"]),
    // Services record audit entries through the event bus, never by calling
    // the log: nobody appends over the network.
    ("plaza.audit.v1.AuditService/Append", &[]),
    ("plaza.identity.v1.IdentityService", &["gateway"]),
    // Firearm permits: people reach them through the gateway; the checks
    // service answers background checks and pushes new records.
    ("plaza.permits.v1.PermitTypes", &["gateway", "checks"]),
    (
        "plaza.permits.v1.PermitApplications",
        &["gateway", "checks"],
    ),
    // Examiners and officers reach background checks through the gateway.
    ("plaza.checks.v1.ChecksService", &["gateway"]),
    // The services that keep tokens of personal data.
    (
        "plaza.vault.v1.VaultService",
        &["gateway", "renewal", "permits", "checks"],
    ),
];

/// The callers allowed for a request path (`/package.Service/Method`).
pub fn allowed_callers(path: &str) -> &'static [&'static str] {
    let path = path.trim_start_matches('/');
    let service = path.split('/').next().unwrap_or_default();
    ALLOW
        .iter()
        .find(|(p, _)| *p == path)
        .or_else(|| ALLOW.iter().find(|(p, _)| *p == service))
        .map(|(_, who)| *who)
        .unwrap_or(&[])
}

/// This process's TLS material, read from PEM files.
#[derive(Clone)]
pub struct TlsFiles {
    ca: Arc<String>,
    cert: Arc<String>,
    key: Arc<String>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsFiles(..)")
    }
}

impl TlsFiles {
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<TlsFiles, crate::Error> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| crate::Error::Io {
                what: format!("reading {}", p.display()),
                source,
            })
        };
        Ok(TlsFiles {
            ca: Arc::new(read(ca)?),
            cert: Arc::new(read(cert)?),
            key: Arc::new(read(key)?),
        })
    }

    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(
                self.cert.as_bytes(),
                self.key.as_bytes(),
            ))
            .client_ca_root(Certificate::from_pem(self.ca.as_bytes()))
    }

    /// For calls to `service`: its certificate must name it.
    pub fn client(&self, service: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.ca.as_bytes()))
            .identity(Identity::from_pem(
                self.cert.as_bytes(),
                self.key.as_bytes(),
            ))
            .domain_name(service_name(service))
    }
}

/// Whether a peer's certificate names one of `callers`.
fn names_any(cert: &CertificateDer<'_>, callers: &[&str]) -> bool {
    if callers.contains(&"*") {
        return true;
    }
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    callers.iter().any(|c| {
        DnsName::try_from(service_name(c))
            .map(|n| {
                cert.verify_is_valid_for_subject_name(&ServerName::DnsName(n))
                    .is_ok()
            })
            .unwrap_or(false)
    })
}

/// Enforces [`ALLOW`] on a TLS gRPC server.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowLayer;

impl<S> tower::Layer<S> for AllowLayer {
    type Service = Allow<S>;
    fn layer(&self, inner: S) -> Allow<S> {
        Allow { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Allow<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Allow<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let callers = allowed_callers(req.uri().path());
        let peer = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|i| i.peer_certs());
        let allowed = peer
            .as_ref()
            .and_then(|certs| certs.first())
            .is_some_and(|leaf| names_any(leaf, callers));
        if !allowed {
            metrics::counter!("plaza_grpc_caller_refused_total").increment(1);
            tracing::warn!(path = %req.uri().path(), "refused a service not allowed to call this method");
            let status = PublicError::new(
                ErrorKind::PermissionDenied,
                "caller_not_allowed",
                "This service may not call this method.",
            )
            .to_status();
            return Box::pin(async move { Ok(status.into_http()) });
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_override_their_service_and_unknown_paths_allow_nobody() {
        assert_eq!(
            allowed_callers("/plaza.offices.v1.OfficesService/GetOffice"),
            &["gateway", "renewal"]
        );
        assert_eq!(
            allowed_callers("/plaza.payments.v1.PaymentsService/Refund"),
            &["gateway", "renewal"]
        );
        assert!(allowed_callers("/plaza.audit.v1.AuditService/Append").is_empty());
        assert_eq!(
            allowed_callers("/plaza.audit.v1.AuditService/GetTreeHead"),
            &["gateway"]
        );
        assert!(allowed_callers("/plaza.payroll.v1.Payroll/Pay").is_empty());
        assert_eq!(allowed_callers("/grpc.health.v1.Health/Check"), &["*"]);
    }
}
