//! The JSON-over-HTTP adapter: `POST {url}` with the subject, hits back.

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::{
    MatchedOn, Raw, RawFields, RecordKind, Source, SourceError, SourceRecord, Subject, day,
    parse_day, parse_sex, sex_code,
};
use crate::matching::Descriptors;

/// A source that speaks JSON over HTTP.
#[derive(Debug, Clone)]
pub struct JsonSource {
    id: String,
    url: String,
    http: reqwest::Client,
}

impl JsonSource {
    /// `url` is the source's search URL.
    pub fn new(id: &str, url: &str, http: reqwest::Client) -> JsonSource {
        JsonSource {
            id: id.to_owned(),
            url: url.to_owned(),
            http,
        }
    }
}

/// The request body.
pub fn request_body(subject: &Subject, ntn: &str) -> Value {
    json!({
        "transaction_id": ntn,
        "subject": {
            "first": subject.first, "middle": subject.middle, "last": subject.last,
            "aliases": &subject.aliases[..subject.aliases.len().min(super::MAX_ALIASES)],
            "dob": subject.dob.map(day),
            "sex": subject.sex.map(sex_code),
            "ssn": subject.ssn, "fbi": subject.fbi, "state_id": subject.state_id,
        }
    })
}

pub(crate) fn transport_error(e: &reqwest::Error) -> SourceError {
    if e.is_timeout() {
        SourceError::Timeout
    } else {
        SourceError::Unavailable(crate::sources::error_chain(e))
    }
}

/// Sends a search over HTTP: the answer's status and body.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
) -> Result<(u16, bytes::Bytes), SourceError> {
    let answer = request.send().await.map_err(|e| transport_error(&e))?;
    let status = answer.status().as_u16();
    let bytes = answer.bytes().await.map_err(|e| transport_error(&e))?;
    Ok((status, bytes))
}

impl Source for JsonSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn search<'a>(
        &'a self,
        subject: &'a Subject,
        ntn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SourceRecord>, SourceError>> {
        Box::pin(async move {
            let request = self.http.post(&self.url).json(&request_body(subject, ntn));
            let (status, bytes) = exchange(request).await?;
            parse_answer(&self.id, ntn, status, &bytes)
        })
    }
}

/// Reads an answer: `status` is the HTTP status, `body` its body.
pub fn parse_answer(
    source: &str,
    ntn: &str,
    status: u16,
    body: &[u8],
) -> Result<Vec<SourceRecord>, SourceError> {
    if status != 200 {
        let v: Option<Value> = serde_json::from_slice(body).ok();
        let code = v.as_ref().and_then(|v| v["error"].as_str());
        let message = v.as_ref().and_then(|v| v["message"].as_str()).unwrap_or("");
        return Err(match (status, code) {
            (500.., Some(code)) => SourceError::from_code(code, message),
            (500.., None) => SourceError::Unavailable(format!("HTTP {status}")),
            (400..500, Some(code)) => SourceError::from_code(code, message),
            (400..500, None) => SourceError::Refused {
                code: format!("http_{status}"),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            },
            _ => SourceError::malformed(format!("unexpected HTTP status {status}")),
        });
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| SourceError::malformed(format!("not JSON: {e}")))?;
    if v["source"].as_str() != Some(source) {
        return Err(SourceError::malformed("the answer is for another source"));
    }
    if v["transaction_id"].as_str() != Some(ntn) {
        return Err(SourceError::malformed(
            "the answer is for another transaction",
        ));
    }
    let hits = v["hits"]
        .as_array()
        .ok_or_else(|| SourceError::malformed("no hits list"))?;
    if v["hit_count"].as_u64() != Some(hits.len() as u64) {
        return Err(SourceError::malformed("hit_count differs from the hits"));
    }
    hits.iter().map(parse_hit).collect()
}

fn text(v: &Value, k: &str) -> Result<Option<String>, SourceError> {
    match &v[k] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(SourceError::malformed(format!("{k} is not text"))),
    }
}

fn required(v: &Value, k: &str) -> Result<String, SourceError> {
    text(v, k)?.ok_or_else(|| SourceError::malformed(format!("a hit has no {k}")))
}

/// One hit of a JSON answer (also the record of a Rap Back notice).
pub fn parse_hit(h: &Value) -> Result<SourceRecord, SourceError> {
    let record_id = required(h, "record_id")?;
    let kind = RecordKind::parse(&required(h, "kind")?)
        .ok_or_else(|| SourceError::malformed("unknown record kind"))?;
    let matched_on = MatchedOn::parse(&required(h, "matched_on")?)
        .ok_or_else(|| SourceError::malformed("unknown matched_on"))?;
    let s = &h["subject"];
    if !s.is_object() {
        return Err(SourceError::malformed("a hit has no subject"));
    }
    let aliases = match &s["aliases"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| SourceError::malformed("an alias is not text"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(SourceError::malformed("aliases is not a list")),
    };
    let dob = match text(s, "dob")? {
        None => None,
        Some(d) => Some(parse_day(&d).ok_or_else(|| SourceError::malformed("bad dob"))?),
    };
    let sex = match text(s, "sex")? {
        None => None,
        Some(x) => Some(parse_sex(&x).ok_or_else(|| SourceError::malformed("bad sex"))?),
    };
    let subject = Descriptors {
        first: text(s, "first")?,
        middle: text(s, "middle")?,
        last: text(s, "last")?,
        sex,
        dob,
        ssn: text(s, "ssn")?,
        state_id: text(s, "state_id")?,
        fbi: text(s, "fbi")?,
        aliases,
    };
    let Value::Object(content) = &h[kind.as_str()] else {
        return Err(SourceError::malformed(format!(
            "a {} hit has no {} content",
            kind.as_str(),
            kind.as_str()
        )));
    };
    Ok(SourceRecord {
        record_id,
        control_number: required(h, "control_number")?,
        matched_on,
        subject,
        content: raw_fields(content)?.content(kind)?,
    })
}

fn raw_fields(m: &Map<String, Value>) -> Result<RawFields, SourceError> {
    let mut f = RawFields::default();
    for (k, v) in m {
        let raw = match v {
            Value::Null => Raw::Null,
            Value::Bool(b) => Raw::Bool(*b),
            Value::String(s) => Raw::Text(s.clone()),
            Value::Number(n) => Raw::Number(
                n.as_u64()
                    .ok_or_else(|| SourceError::malformed(format!("{k} is not a count")))?,
            ),
            _ => return Err(SourceError::malformed(format!("{k} is not a value"))),
        };
        f.0.insert(k.clone(), raw);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"source": "fbi-iii", "transaction_id": "N1", "hit_count": 1,
     "hits": [{"record_id": "fbi-iii:0000000001", "control_number": "III48271013",
               "kind": "criminal", "matched_on": "name_and_dob",
               "subject": {"first": "WILLIAM", "middle": null, "last": "HARRINGTON", "aliases": [],
                           "dob": "1968-11-02", "sex": "M", "ssn": null, "fbi": "482913KA7", "state_id": null},
               "criminal": {"offence": "BURGLARY", "offence_class": "felony", "domestic_violence": false,
                            "arrest_date": "2020-01-01", "disposition": "convicted",
                            "disposition_date": "2021-01-01", "sentence_max_months": 240}}]}"#;

    #[test]
    fn reads_a_good_answer() {
        let r = parse_answer("fbi-iii", "N1", 200, GOOD.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].record_id, "fbi-iii:0000000001");
        assert_eq!(r[0].subject.last.as_deref(), Some("HARRINGTON"));
        assert_eq!(r[0].subject.dob.unwrap().year, 1968);
        let super::super::Content::Criminal(c) = &r[0].content else {
            panic!()
        };
        assert_eq!(c.sentence_max_months, Some(240));
    }

    #[test]
    fn refuses_malformed_answers() {
        let bad = [
            "not json",
            "[]",
            &GOOD.replace("\"hit_count\": 1", "\"hit_count\": 2"),
            &GOOD.replace("\"N1\"", "\"N2\""),
            &GOOD.replace("\"fbi-iii\", \"trans", "\"other\", \"trans"),
            &GOOD.replace("\"kind\": \"criminal\"", "\"kind\": \"wanted\""),
            &GOOD.replace("1968-11-02", "1968-13-02"),
            &GOOD.replace("\"felony\"", "\"grave\""),
            &GOOD.replace("240", "\"lots\""),
            &GOOD.replace("\"matched_on\": \"name_and_dob\",", ""),
        ];
        for b in bad {
            let e = parse_answer("fbi-iii", "N1", 200, b.as_bytes()).unwrap_err();
            assert!(matches!(e, SourceError::Malformed(_)), "{b}: {e:?}");
        }
    }

    #[test]
    fn error_answers_map_to_the_right_failure() {
        let e = |status, body: &str| parse_answer("x", "N1", status, body.as_bytes()).unwrap_err();
        assert!(matches!(
            e(503, r#"{"error": "source_error", "message": "m"}"#),
            SourceError::Unavailable(_)
        ));
        assert!(matches!(e(502, "bad gateway"), SourceError::Unavailable(_)));
        assert_eq!(
            e(
                422,
                r#"{"error": "insufficient_descriptors", "message": "m"}"#
            ),
            SourceError::Refused {
                code: "insufficient_descriptors".into(),
                message: "m".into()
            }
        );
        assert!(matches!(e(413, "too large"), SourceError::Refused { .. }));
    }
}
