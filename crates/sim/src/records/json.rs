//! JSON over HTTP: `POST /records/v1/{source}/search`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::people::Sex;

use super::model::{self, Subject};
use super::{Hit, ProtocolError, Records, WireFormat, parse_date};

/// Longest accepted name, in characters.
pub const MAX_NAME: usize = 64;
/// Longest accepted identifier.
pub const MAX_ID: usize = 32;
/// Most aliases a query may carry.
pub const MAX_ALIASES: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    #[serde(default)]
    transaction_id: Option<String>,
    subject: SubjectJson,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectJson {
    first: Option<String>,
    middle: Option<String>,
    last: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    dob: Option<String>,
    sex: Option<String>,
    ssn: Option<String>,
    fbi: Option<String>,
    state_id: Option<String>,
}

/// Checks the lengths and characters of a query's fields, as every format
/// does.
pub fn check_fields(s: &Subject) -> Result<(), ProtocolError> {
    let bad = |field: &str, why: &str| {
        Err(ProtocolError::new(
            "invalid_field",
            format!("{field}: {why}"),
        ))
    };
    for (field, v, max) in [
        ("first", &s.first, MAX_NAME),
        ("middle", &s.middle, MAX_NAME),
        ("last", &s.last, MAX_NAME),
        ("ssn", &s.ssn, MAX_ID),
        ("fbi", &s.fbi, MAX_ID),
        ("state_id", &s.state_id, MAX_ID),
    ] {
        if let Some(v) = v {
            if v.chars().count() > max {
                return bad(field, &format!("longer than {max} characters"));
            }
            if v.chars().any(char::is_control) {
                return bad(field, "contains control characters");
            }
        }
    }
    if s.aliases.len() > MAX_ALIASES {
        return bad("aliases", &format!("more than {MAX_ALIASES}"));
    }
    if s.aliases
        .iter()
        .any(|a| a.chars().count() > MAX_NAME || a.chars().any(char::is_control))
    {
        return bad(
            "aliases",
            "an alias is too long or contains control characters",
        );
    }
    Ok(())
}

/// `M` / `F` (either case).
pub fn parse_sex(s: &str) -> Option<Sex> {
    match s.trim() {
        "M" | "m" => Some(Sex::Male),
        "F" | "f" => Some(Sex::Female),
        _ => None,
    }
}

pub fn sex_code(s: Sex) -> &'static str {
    match s {
        Sex::Male => "M",
        Sex::Female => "F",
    }
}

fn subject_from(j: SubjectJson) -> Result<Subject, ProtocolError> {
    let dob = match j.dob.as_deref() {
        None | Some("") => None,
        Some(d) => Some(parse_date(d).ok_or_else(|| {
            ProtocolError::new("invalid_field", "dob: expected a date as YYYY-MM-DD")
        })?),
    };
    let sex = match j.sex.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            parse_sex(s)
                .ok_or_else(|| ProtocolError::new("invalid_field", "sex: expected M or F"))?,
        ),
    };
    let subject = Subject {
        first: j.first,
        middle: j.middle,
        last: j.last,
        aliases: j.aliases,
        dob,
        sex,
        ssn: j.ssn,
        fbi: j.fbi,
        state_id: j.state_id,
    };
    check_fields(&subject)?;
    Ok(subject)
}

/// A subject as JSON.
pub fn subject_json(s: &Subject) -> Value {
    json!({
        "first": s.first, "middle": s.middle, "last": s.last, "aliases": s.aliases,
        "dob": s.dob.map(|d| d.to_string()), "sex": s.sex.map(sex_code),
        "ssn": s.ssn, "fbi": s.fbi, "state_id": s.state_id,
    })
}

/// A hit as JSON: the record's ids, how it matched, the subject, and the
/// content under the kind's name.
pub fn hit_json(h: &Hit) -> Value {
    let r = &h.record;
    let mut detail = serde_json::Map::new();
    for (name, v) in r.detail.fields() {
        let v = match v {
            model::Value::Text(t) => Value::String(t),
            model::Value::Code(c) => Value::String(c.to_owned()),
            model::Value::Bool(b) => Value::Bool(b),
            model::Value::Date(d) => Value::String(d.to_string()),
            model::Value::Number(n) => json!(n),
            model::Value::Missing => Value::Null,
        };
        detail.insert(name.to_owned(), v);
    }
    let kind = r.detail.kind().as_str();
    json!({
        "record_id": r.record_id,
        "control_number": r.control_number,
        "kind": kind,
        "matched_on": h.matched_on.as_str(),
        "subject": subject_json(&r.subject),
        kind: detail,
    })
}

pub fn error_response(e: &ProtocolError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"error": e.code, "message": e.message}))).into_response()
}

pub(super) async fn search(
    State(records): State<Records>,
    Path(source): Path<String>,
    body: Bytes,
) -> Response {
    let s = match records.resolve(&source, WireFormat::Json) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let request: SearchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(&ProtocolError::new(
                "malformed_request",
                format!("The body is not a search request: {e}"),
            ));
        }
    };
    let subject = match subject_from(request.subject) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let plan = records.plan(s);
    match records.answer(s, plan, subject).await {
        Ok(hits) => Json(json!({
            "source": source,
            "transaction_id": request.transaction_id,
            "hit_count": hits.len(),
            "hits": hits.iter().map(hit_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => error_response(&e),
    }
}
