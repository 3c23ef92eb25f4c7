//! The NIEM-style XML-over-HTTP adapter: the request is written by hand
//! (every value escaped), the answer read with [`super::xml`].

use futures::future::BoxFuture;

use super::xml::{self, Element, escape};
use super::{
    MatchedOn, Raw, RawFields, RecordKind, Source, SourceError, SourceRecord, Subject, day,
    parse_day, parse_sex, sex_code, snake_case,
};
use crate::matching::Descriptors;
use crate::sources::json::exchange;

pub const RS: &str = "urn:plaza:sim:records:1";
pub const NC: &str = "http://release.niem.gov/niem/niem-core/5.0/";
pub const J: &str = "http://release.niem.gov/niem/domains/jxdm/7.0/";

/// A source that speaks NIEM-style XML over HTTP.
#[derive(Debug, Clone)]
pub struct NiemSource {
    id: String,
    url: String,
    http: reqwest::Client,
}

impl NiemSource {
    pub fn new(id: &str, url: &str, http: reqwest::Client) -> NiemSource {
        NiemSource {
            id: id.to_owned(),
            url: url.to_owned(),
            http,
        }
    }
}

impl Source for NiemSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn search<'a>(
        &'a self,
        subject: &'a Subject,
        ntn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SourceRecord>, SourceError>> {
        Box::pin(async move {
            let (status, bytes) = exchange(
                self.http
                    .post(&self.url)
                    .header("content-type", "application/xml")
                    .body(request(subject, ntn)),
            )
            .await?;
            parse_answer(&self.id, ntn, status, &bytes)
        })
    }
}

fn push_el(out: &mut String, tag: &str, value: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// The request document.
pub fn request(subject: &Subject, ntn: &str) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str(&format!(
        r#"<rs:RecordSearchRequest xmlns:rs="{RS}" xmlns:nc="{NC}" xmlns:j="{J}">"#
    ));
    push_el(&mut out, "rs:TransactionID", ntn);
    out.push_str("<nc:Person>");
    if subject.first.is_some() || subject.middle.is_some() || subject.last.is_some() {
        out.push_str("<nc:PersonName>");
        for (tag, v) in [
            ("nc:PersonGivenName", &subject.first),
            ("nc:PersonMiddleName", &subject.middle),
            ("nc:PersonSurName", &subject.last),
        ] {
            if let Some(v) = v {
                push_el(&mut out, tag, v);
            }
        }
        out.push_str("</nc:PersonName>");
    }
    for a in subject.aliases.iter().take(super::MAX_ALIASES) {
        out.push_str("<nc:PersonAlternateName>");
        push_el(&mut out, "nc:PersonSurName", a);
        out.push_str("</nc:PersonAlternateName>");
    }
    if let Some(d) = subject.dob {
        out.push_str("<nc:PersonBirthDate>");
        push_el(&mut out, "nc:Date", &day(d));
        out.push_str("</nc:PersonBirthDate>");
    }
    if let Some(s) = subject.sex {
        push_el(&mut out, "j:PersonSexCode", sex_code(s));
    }
    for (tag, v) in [
        ("nc:PersonSSNIdentification", &subject.ssn),
        ("j:PersonFBIIdentification", &subject.fbi),
        ("j:PersonStateFingerprintIdentification", &subject.state_id),
    ] {
        if let Some(v) = v {
            out.push_str(&format!("<{tag}>"));
            push_el(&mut out, "nc:IdentificationID", v);
            out.push_str(&format!("</{tag}>"));
        }
    }
    out.push_str("</nc:Person></rs:RecordSearchRequest>");
    out
}

fn text_of(e: &Element, ns: &str, name: &str) -> Option<String> {
    e.child(ns, name)
        .map(|c| c.text.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn required(e: &Element, name: &str) -> Result<String, SourceError> {
    text_of(e, RS, name).ok_or_else(|| SourceError::malformed(format!("no rs:{name}")))
}

/// Reads an answer: `status` is the HTTP status, `body` its body.
pub fn parse_answer(
    source: &str,
    ntn: &str,
    status: u16,
    body: &[u8],
) -> Result<Vec<SourceRecord>, SourceError> {
    let doc = std::str::from_utf8(body)
        .map_err(|_| SourceError::malformed("not UTF-8"))
        .and_then(|t| xml::parse(t).map_err(|e| SourceError::malformed(format!("not XML: {e}"))));
    if status != 200 {
        let code = doc.as_ref().ok().filter(|r| r.is(RS, "RecordSearchError"));
        return Err(match (status, code) {
            (400..600, Some(r)) => SourceError::from_code(
                &text_of(r, RS, "ErrorCode").unwrap_or_default(),
                &text_of(r, RS, "ErrorMessage").unwrap_or_default(),
            ),
            (500.., None) => SourceError::Unavailable(format!("HTTP {status}")),
            (400..500, None) => SourceError::Refused {
                code: format!("http_{status}"),
                message: String::new(),
            },
            _ => SourceError::malformed(format!("unexpected HTTP status {status}")),
        });
    }
    let root = doc?;
    if !root.is(RS, "RecordSearchResponse") {
        return Err(SourceError::malformed(
            "the root is not rs:RecordSearchResponse",
        ));
    }
    if text_of(&root, RS, "SourceID").as_deref() != Some(source) {
        return Err(SourceError::malformed("the answer is for another source"));
    }
    if text_of(&root, RS, "TransactionID").as_deref() != Some(ntn) {
        return Err(SourceError::malformed(
            "the answer is for another transaction",
        ));
    }
    let hits: Vec<&Element> = root.children_named(RS, "Hit").collect();
    if text_of(&root, RS, "HitCount") != Some(hits.len().to_string()) {
        return Err(SourceError::malformed("HitCount differs from the hits"));
    }
    hits.into_iter().map(hit).collect()
}

fn pascal(kind: RecordKind) -> String {
    kind.as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn person(p: &Element) -> Result<Descriptors, SourceError> {
    let name = p.child(NC, "PersonName");
    let part = |n: &str| name.and_then(|e| text_of(e, NC, n));
    let id = |ns: &str, n: &str| {
        p.child(ns, n)
            .and_then(|e| text_of(e, NC, "IdentificationID"))
    };
    let dob = match p
        .child(NC, "PersonBirthDate")
        .and_then(|e| text_of(e, NC, "Date"))
    {
        None => None,
        Some(d) => Some(parse_day(&d).ok_or_else(|| SourceError::malformed("bad birth date"))?),
    };
    let sex = match text_of(p, J, "PersonSexCode") {
        None => None,
        Some(s) => Some(parse_sex(&s).ok_or_else(|| SourceError::malformed("bad sex code"))?),
    };
    Ok(Descriptors {
        first: part("PersonGivenName"),
        middle: part("PersonMiddleName"),
        last: part("PersonSurName"),
        sex,
        dob,
        ssn: id(NC, "PersonSSNIdentification"),
        state_id: id(J, "PersonStateFingerprintIdentification"),
        fbi: id(J, "PersonFBIIdentification"),
        aliases: p
            .children_named(NC, "PersonAlternateName")
            .filter_map(|a| text_of(a, NC, "PersonSurName"))
            .collect(),
    })
}

fn hit(h: &Element) -> Result<SourceRecord, SourceError> {
    let kind = RecordKind::parse(&required(h, "RecordKind")?)
        .ok_or_else(|| SourceError::malformed("unknown record kind"))?;
    let matched_on = MatchedOn::parse(&required(h, "MatchedOn")?)
        .ok_or_else(|| SourceError::malformed("unknown MatchedOn"))?;
    let p = h
        .child(NC, "Person")
        .ok_or_else(|| SourceError::malformed("a hit has no nc:Person"))?;
    let content = h
        .child(RS, &pascal(kind))
        .ok_or_else(|| SourceError::malformed(format!("a hit has no rs:{}", pascal(kind))))?;
    let mut fields = RawFields::default();
    for c in &content.children {
        if c.ns.as_deref() == Some(RS) {
            fields
                .0
                .insert(snake_case(&c.name), Raw::Text(c.text.trim().to_owned()));
        }
    }
    Ok(SourceRecord {
        record_id: required(h, "RecordID")?,
        control_number: required(h, "ControlNumber")?,
        matched_on,
        subject: person(p)?,
        content: fields.content(kind)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"<?xml version="1.0"?>
<x:RecordSearchResponse xmlns:x="urn:plaza:sim:records:1"
  xmlns:nc="http://release.niem.gov/niem/niem-core/5.0/" xmlns:j="http://release.niem.gov/niem/domains/jxdm/7.0/">
  <x:TransactionID>N1</x:TransactionID><x:SourceID>nics-mental</x:SourceID><x:HitCount>1</x:HitCount>
  <x:Hit><x:RecordID>nics-mental:0000000001</x:RecordID><x:ControlNumber>NMH1</x:ControlNumber>
    <x:RecordKind>mental_health</x:RecordKind><x:MatchedOn>name_and_dob</x:MatchedOn>
    <nc:Person><nc:PersonName><nc:PersonGivenName>ANN</nc:PersonGivenName><nc:PersonSurName>O&apos;NEIL</nc:PersonSurName></nc:PersonName>
      <nc:PersonAlternateName><nc:PersonSurName>MOORE</nc:PersonSurName></nc:PersonAlternateName>
      <nc:PersonBirthDate><nc:Date>1970-01-02</nc:Date></nc:PersonBirthDate><j:PersonSexCode>F</j:PersonSexCode></nc:Person>
    <x:MentalHealth><x:Adjudication>committed</x:Adjudication><x:Date>2018-01-03</x:Date>
      <x:ReliefGranted>false</x:ReliefGranted></x:MentalHealth></x:Hit>
</x:RecordSearchResponse>"#;

    #[test]
    fn reads_a_good_answer() {
        let r = parse_answer("nics-mental", "N1", 200, GOOD.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].subject.last.as_deref(), Some("O'NEIL"));
        assert_eq!(r[0].subject.aliases, vec!["MOORE".to_owned()]);
        let super::super::Content::MentalHealth(m) = &r[0].content else {
            panic!()
        };
        assert_eq!(m.relief_granted, Some(false));
        assert_eq!(m.authority, None);
    }

    #[test]
    fn refuses_malformed_answers() {
        for b in [
            "<x/>",
            &GOOD.replace("</x:RecordSearchResponse>", ""),
            &GOOD.replace("<x:HitCount>1", "<x:HitCount>3"),
            &GOOD.replace(">N1<", ">N9<"),
            &GOOD.replace("committed", "sectioned"),
            &GOOD.replace("<x:RecordKind>mental_health", "<x:RecordKind>wanted"),
            &GOOD.replace("xmlns:x=", "xmlns:y="),
            &GOOD.replace("&apos;", "&rsquo;"),
        ] {
            let e = parse_answer("nics-mental", "N1", 200, b.as_bytes()).unwrap_err();
            assert!(matches!(e, SourceError::Malformed(_)), "{b}: {e:?}");
        }
    }

    #[test]
    fn errors_and_requests() {
        let err = format!(
            r#"<rs:RecordSearchError xmlns:rs="{RS}"><rs:ErrorCode>insufficient_descriptors</rs:ErrorCode><rs:ErrorMessage>m</rs:ErrorMessage></rs:RecordSearchError>"#
        );
        assert!(matches!(
            parse_answer("s", "N1", 422, err.as_bytes()),
            Err(SourceError::Refused { code, .. }) if code == "insufficient_descriptors"
        ));
        assert!(matches!(
            parse_answer("s", "N1", 503, b"down"),
            Err(SourceError::Unavailable(_))
        ));
        let s = Descriptors {
            first: Some("A<&>".into()),
            last: Some("O'Neil".into()),
            aliases: vec!["Moore".into()],
            dob: crate::matching::Date::new(1970, 1, 2),
            ..Descriptors::default()
        };
        let doc = xml::parse(&request(&s, "N&1")).unwrap();
        assert!(doc.is(RS, "RecordSearchRequest"));
        assert_eq!(doc.child(RS, "TransactionID").unwrap().text, "N&1");
        let back = person(doc.child(NC, "Person").unwrap()).unwrap();
        assert_eq!(back.first.as_deref(), Some("A<&>"));
        assert_eq!(back.last.as_deref(), Some("O'Neil"));
        assert_eq!(back.dob, s.dob);
    }
}
