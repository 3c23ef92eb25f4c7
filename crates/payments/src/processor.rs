//! The card processor, behind a trait: Plaza's side of the conversation.
//! [`HttpProcessor`] speaks the sandbox processor's HTTP API (`plaza-sim`);
//! a real processor is another implementation of [`CardProcessor`].

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

/// A charge as the processor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProcessorCharge {
    pub charge_id: String,
    pub reference: String,
    pub amount: i64,
    /// `succeeded` or `failed`.
    pub status: String,
    pub decline_code: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProcessorRefund {
    pub refund_id: String,
    pub charge_id: String,
    pub amount: i64,
    pub created_ms: i64,
}

/// A line of the processor's settlement file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    /// `charge` or `refund`.
    pub kind: String,
    pub id: String,
    pub reference: String,
    /// Positive for charges, negative for refunds.
    pub amount: i64,
}

/// How a call to the processor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// No answer, or an answer that says "try again": the call may or may
    /// not have taken effect. Retry with the same idempotency key.
    #[error("transient: {0}")]
    Transient(String),
    /// The processor refused the request itself (bad card number, amount).
    #[error("refused: {code}")]
    Refused { code: String },
}

#[async_trait]
pub trait CardProcessor: Send + Sync {
    /// Charges `card`; the same `key` always means the same charge. A
    /// declined card is `Ok` with status `failed`.
    async fn charge(
        &self,
        key: &str,
        reference: &str,
        amount: i64,
        card: &str,
        description: &str,
    ) -> Result<ProcessorCharge, ProcessorError>;
    /// Every charge made for `reference` (to settle an attempt whose answer
    /// was lost).
    async fn charges_for(&self, reference: &str) -> Result<Vec<ProcessorCharge>, ProcessorError>;
    async fn refund(
        &self,
        key: &str,
        charge_id: &str,
        amount: i64,
    ) -> Result<ProcessorRefund, ProcessorError>;
    /// The settlement file of one UTC day.
    async fn settlement(&self, date: &str) -> Result<Vec<SettlementLine>, ProcessorError>;
}

/// The sandbox processor's HTTP API.
#[derive(Clone, Debug)]
pub struct HttpProcessor {
    base: String,
    http: reqwest::Client,
}

impl HttpProcessor {
    /// `base` like `http://127.0.0.1:7900`; each call gives up after
    /// `timeout`.
    pub fn new(base: &str, timeout: Duration) -> HttpProcessor {
        plaza_kernel::install_crypto_provider();
        HttpProcessor {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("HTTP client"),
        }
    }

    async fn read<T: serde::de::DeserializeOwned>(
        sent: Result<reqwest::Response, reqwest::Error>,
        accept_402: bool,
    ) -> Result<T, ProcessorError> {
        let r = sent.map_err(|e| ProcessorError::Transient(plaza_kernel::error::chain(&e)))?;
        let status = r.status();
        if status.is_success() || (accept_402 && status.as_u16() == 402) {
            return r
                .json()
                .await
                .map_err(|e| ProcessorError::Transient(format!("unreadable answer: {e}")));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ProcessorError::Transient(format!("HTTP {status}")));
        }
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        Err(ProcessorError::Refused {
            code: body["error"].as_str().unwrap_or("refused").to_owned(),
        })
    }
}

#[derive(Deserialize)]
struct ChargeList {
    charges: Vec<ProcessorCharge>,
}

#[async_trait]
impl CardProcessor for HttpProcessor {
    async fn charge(
        &self,
        key: &str,
        reference: &str,
        amount: i64,
        card: &str,
        description: &str,
    ) -> Result<ProcessorCharge, ProcessorError> {
        let body = serde_json::json!({
            "amount": amount, "currency": "USD", "card": card,
            "reference": reference, "description": description,
        });
        let sent = self
            .http
            .post(format!("{}/processor/v1/charges", self.base))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await;
        Self::read(sent, true).await
    }

    async fn charges_for(&self, reference: &str) -> Result<Vec<ProcessorCharge>, ProcessorError> {
        let sent = self
            .http
            .get(format!(
                "{}/processor/v1/charges?reference={}",
                self.base,
                url_escape(reference)
            ))
            .send()
            .await;
        Ok(Self::read::<ChargeList>(sent, false).await?.charges)
    }

    async fn refund(
        &self,
        key: &str,
        charge_id: &str,
        amount: i64,
    ) -> Result<ProcessorRefund, ProcessorError> {
        let sent = self
            .http
            .post(format!("{}/processor/v1/refunds", self.base))
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"charge_id": charge_id, "amount": amount}))
            .send()
            .await;
        Self::read(sent, false).await
    }

    async fn settlement(&self, date: &str) -> Result<Vec<SettlementLine>, ProcessorError> {
        let r = self
            .http
            .get(format!(
                "{}/processor/v1/settlements?date={}",
                self.base,
                url_escape(date)
            ))
            .send()
            .await
            .map_err(|e| ProcessorError::Transient(e.to_string()))?;
        if !r.status().is_success() {
            return Err(ProcessorError::Transient(format!("HTTP {}", r.status())));
        }
        let text = r
            .text()
            .await
            .map_err(|e| ProcessorError::Transient(e.to_string()))?;
        parse_settlement(&text).map_err(|e| ProcessorError::Transient(e.to_string()))
    }
}

/// Percent-encodes everything but unreserved characters.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a settlement CSV: `type,id,charge_id,reference,amount,currency,created_ms`.
pub fn parse_settlement(text: &str) -> Result<Vec<SettlementLine>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(format!(
                "settlement line {}: {} fields, not 7",
                i + 1,
                f.len()
            ));
        }
        let amount = f[4]
            .parse()
            .map_err(|_| format!("settlement line {}: amount {:?}", i + 1, f[4]))?;
        out.push(SettlementLine {
            kind: f[0].to_owned(),
            id: f[1].to_owned(),
            reference: f[3].to_owned(),
            amount,
        });
    }
    Ok(out)
}

/// Checks a webhook's signature header (see [`plaza_kernel::webhook`]).
pub use plaza_kernel::webhook::verify as verify_signature;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_files_parse_and_bad_lines_are_named() {
        let ok = "type,id,charge_id,reference,amount,currency,created_ms\ncharge,ch_1,ch_1,pi_1,4300,USD,1\nrefund,re_1,ch_1,pi_1,-300,USD,2\n";
        let lines = parse_settlement(ok).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].amount, -300);
        assert!(
            parse_settlement("h\ncharge,x\n")
                .unwrap_err()
                .contains("line 2")
        );
    }
}
