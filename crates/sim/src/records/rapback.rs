//! Rap Back: a criminal-history source tells its subscriber (the licensing
//! agency) when a new record appears about a person, as the FBI's Rap Back
//! service does for people fingerprinted for a licence. The subscriber's
//! URL and shared secret are set over the admin route; a new conviction is
//! reported over another, and delivered at once, signed like the card
//! processor's webhooks (`Plaza-Sim-Signature`).
//!
//! ```text
//! POST /records/v1/admin/rapback         {"url": "...", "secret": "..."}
//! POST /records/v1/admin/rapback/notify  {"source": "fbi-iii", "first": "...", "last": "...",
//!                                         "dob": "YYYY-MM-DD", "offence": "Burglary"}
//! ```
//!
//! The notice's body is `{"event_id", "source", "hit"}`, the hit in the
//! JSON search answer's shape (`PROTOCOLS.md`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::Records;
use super::catalogue::{self, RecordKind};
use super::keys::MatchedOn;
use super::model::{Criminal, Detail, Disposition, OffenceClass, SourceRecord, Subject};
use super::store::Hit;
use crate::people::Date;

/// Where notices go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub url: String,
    pub secret: String,
}

/// Notices sent so far (numbers the new records).
static SENT: AtomicU64 = AtomicU64::new(0);

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

#[derive(Deserialize)]
pub(super) struct SubscriberBody {
    url: String,
    secret: String,
}

pub(super) async fn subscribe(
    State(records): State<Records>,
    Json(b): Json<SubscriberBody>,
) -> Response {
    if !(b.url.starts_with("http://") || b.url.starts_with("https://")) || b.secret.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_subscriber",
            "an http(s) url and a secret",
        );
    }
    records.set_subscriber(Some(Subscriber {
        url: b.url,
        secret: b.secret,
    }));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub(super) struct NewConviction {
    source: String,
    first: String,
    last: String,
    dob: String,
    #[serde(default)]
    offence: Option<String>,
}

fn day(s: &str) -> Option<Date> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A new felony conviction about the person, told to the subscriber.
pub(super) async fn notify(
    State(records): State<Records>,
    Json(b): Json<NewConviction>,
) -> Response {
    let Some((_, source)) = catalogue::source(&b.source) else {
        return refuse(StatusCode::NOT_FOUND, "unknown_source", "no such source");
    };
    if source.kind() != RecordKind::Criminal {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not_criminal_history",
            "Rap Back notices come from criminal-history sources",
        );
    }
    let Some(dob) = day(&b.dob) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_dob", "dob is YYYY-MM-DD");
    };
    let Some(subscriber) = records.subscriber() else {
        return refuse(
            StatusCode::CONFLICT,
            "no_subscriber",
            "set the subscriber first (POST /records/v1/admin/rapback)",
        );
    };
    let n = SENT.fetch_add(1, Ordering::Relaxed) + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let today = Date::from_days((now / 86_400) as i64);
    let record = SourceRecord {
        record_id: format!("{}:rb{n:06}-{now}", source.id),
        control_number: format!("{}-RB{n:06}", source.control_prefix),
        person_id: 0,
        subject: Subject {
            first: Some(b.first.to_uppercase()),
            middle: None,
            last: Some(b.last.to_uppercase()),
            aliases: Vec::new(),
            dob: Some(dob),
            sex: None,
            ssn: None,
            fbi: None,
            state_id: None,
        },
        detail: Detail::Criminal(Criminal {
            offence: b.offence.unwrap_or_else(|| "BURGLARY".into()),
            class: OffenceClass::Felony,
            domestic_violence: false,
            arrest_date: Date::from_days(today.to_days() - 60),
            disposition: Disposition::Convicted,
            disposition_date: Some(today),
            sentence_max_months: Some(60),
        }),
    };
    let event_id = format!("rb-{}-{n:06}-{now}", source.id);
    let body = json!({
        "event_id": event_id,
        "source": source.id,
        "hit": super::json::hit_json(&Hit {
            record,
            matched_on: MatchedOn::Identifier,
        }),
    })
    .to_string();
    let signature = plaza_kernel::webhook::sign(&subscriber.secret, now as i64, body.as_bytes());
    plaza_kernel::install_crypto_provider();
    let delivered = reqwest::Client::new()
        .post(&subscriber.url)
        .header("content-type", "application/json")
        .header("Plaza-Sim-Signature", signature)
        .body(body.clone())
        .send()
        .await;
    let (status, answer) = match delivered {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    };
    Json(json!({
        "event_id": event_id,
        "notice": serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        "delivery_status": status,
        "delivery_answer": answer,
    }))
    .into_response()
}
