//! The card vendor: an outside system that prints and mails cards. Plaza
//! reaches it through [`CardVendor`]; [`HttpVendor`] speaks the vendor's
//! HTTP API (`/vendor/v1/batches`), so another vendor is one adapter away.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Why the vendor did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    /// Down, overloaded or unreachable: try again later with the same batch.
    #[error("card vendor unavailable: {0}")]
    Unavailable(String),
    /// The vendor refused the request as malformed; resending will not help.
    #[error("card vendor refused the request: {0}")]
    Rejected(String),
}

/// Where a card goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VendorDelivery {
    Mail { lines: Vec<String> },
    Pickup { office_id: String },
}

/// One card of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorOrder {
    pub order_id: String,
    /// The AAMVA payload, base64.
    pub payload_b64: String,
    pub delivery: VendorDelivery,
}

/// A batch as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorBatch {
    pub batch_id: String,
    pub orders: Vec<VendorOrder>,
}

/// A stage of production, as the vendor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorStatus {
    Received,
    InProduction,
    Produced,
    Mailed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorOrderStatus {
    pub order_id: String,
    pub status: VendorStatus,
    pub tracking: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorBatchStatus {
    pub batch_id: String,
    pub status: VendorStatus,
    pub reason: Option<String>,
    pub orders: Vec<VendorOrderStatus>,
}

/// A card vendor.
#[async_trait]
pub trait CardVendor: Send + Sync {
    /// Submits a batch. Submitting the same batch id again with the same
    /// orders must be harmless (the vendor deduplicates).
    async fn submit(&self, batch: &VendorBatch) -> Result<(), VendorError>;
    /// The batch's progress; `None` when the vendor does not know it.
    async fn status(&self, batch_id: &str) -> Result<Option<VendorBatchStatus>, VendorError>;
}

/// The vendor's HTTP API.
#[derive(Debug, Clone)]
pub struct HttpVendor {
    base: String,
    http: reqwest::Client,
}

impl HttpVendor {
    /// `base_url` like `http://127.0.0.1:7300` (no trailing path).
    pub fn new(base_url: &str) -> HttpVendor {
        plaza_kernel::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        HttpVendor {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

fn unavailable(e: reqwest::Error) -> VendorError {
    VendorError::Unavailable(e.to_string())
}

#[async_trait]
impl CardVendor for HttpVendor {
    async fn submit(&self, batch: &VendorBatch) -> Result<(), VendorError> {
        let resp = self
            .http
            .post(format!("{}/vendor/v1/batches", self.base))
            .json(batch)
            .send()
            .await
            .map_err(unavailable)?;
        let status = resp.status().as_u16();
        match status {
            200 | 202 => Ok(()),
            400..=499 => {
                let body = resp
                    .json::<ErrorBody>()
                    .await
                    .map(|b| b.error)
                    .unwrap_or_else(|_| format!("HTTP {status}"));
                Err(VendorError::Rejected(body))
            }
            _ => Err(VendorError::Unavailable(format!("HTTP {status}"))),
        }
    }

    async fn status(&self, batch_id: &str) -> Result<Option<VendorBatchStatus>, VendorError> {
        let resp = self
            .http
            .get(format!("{}/vendor/v1/batches/{batch_id}", self.base))
            .send()
            .await
            .map_err(unavailable)?;
        match resp.status().as_u16() {
            200 => resp
                .json::<VendorBatchStatus>()
                .await
                .map(Some)
                .map_err(|e| VendorError::Unavailable(format!("unreadable answer: {e}"))),
            404 => Ok(None),
            s => Err(VendorError::Unavailable(format!("HTTP {s}"))),
        }
    }
}
