//! Server-side gRPC plumbing shared by every service: a layer that carries
//! the correlation id into the handler and records per-method metrics, and
//! helpers for request metadata.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::Status;
use tracing::Instrument;

use crate::telemetry::{
    CORRELATION_HEADER, new_correlation_id, sanitize_correlation_id, with_correlation,
};

/// Wraps every gRPC service of a server.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerLayer;

impl<S> tower::Layer<S> for ServerLayer {
    type Service = ServerService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ServerService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct ServerService<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for ServerService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().to_owned();
        let (service, method) = split_path(&path);
        let correlation = req
            .headers()
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(sanitize_correlation_id)
            .unwrap_or_else(new_correlation_id);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let span = tracing::info_span!("grpc", service = %service, method = %method, correlation_id = %correlation);
        Box::pin(
            async move {
                let started = Instant::now();
                let result = with_correlation(correlation, inner.call(req)).await;
                let code = match &result {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0")
                        .to_owned(),
                    Err(_) => "transport".to_owned(),
                };
                metrics::histogram!("plaza_grpc_request_duration_seconds", "service" => service.clone(), "method" => method.clone())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("plaza_grpc_requests_total", "service" => service, "method" => method, "code" => code)
                    .increment(1);
                result
            }
            .instrument(span),
        )
    }
}

fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or("").to_owned();
    let method = parts.next().unwrap_or("").to_owned();
    (service, method)
}

/// The `idempotency-key` of a mutating call; required.
pub fn idempotency_key<T>(req: &tonic::Request<T>) -> Result<String, Status> {
    let raw = req
        .metadata()
        .get(crate::idempotency::METADATA)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            crate::error::PublicError::new(
                crate::error::ErrorKind::InvalidArgument,
                "idempotency_key_required",
                "This request changes data and needs an Idempotency-Key header.",
            )
            .to_status()
        })?;
    crate::idempotency::validate_key(raw).map_err(|e| e.public().to_status())
}

/// Adds an idempotency key to an outgoing call.
pub fn with_idempotency_key<T>(
    mut req: tonic::Request<T>,
    key: &str,
) -> Result<tonic::Request<T>, Status> {
    let v = key
        .parse()
        .map_err(|_| Status::invalid_argument("idempotency key is not valid metadata"))?;
    req.metadata_mut().insert(crate::idempotency::METADATA, v);
    Ok(req)
}

#[cfg(test)]
mod tests {
    #[test]
    fn grpc_paths_split_into_service_and_method() {
        assert_eq!(
            super::split_path("/plaza.offices.v1.OfficesService/GetOffice"),
            (
                "plaza.offices.v1.OfficesService".to_owned(),
                "GetOffice".to_owned()
            )
        );
    }
}
