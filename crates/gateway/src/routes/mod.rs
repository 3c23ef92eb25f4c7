//! One module per resource.

pub mod audit;
pub mod checks;
pub mod me;
pub mod offices;
pub mod permits;
pub mod renewals;

/// The signature header an outside system signs its deliveries with
/// (`t=…,v1=…`, see `plaza_kernel::webhook`); empty when absent, which the
/// service refuses.
pub(crate) fn delivery_signature(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("plaza-sim-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
