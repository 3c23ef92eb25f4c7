//! NIEM-style XML over HTTP: `POST /records/niem/v1/{source}/search` with a
//! `rs:RecordSearchRequest` document; the answer is a
//! `rs:RecordSearchResponse` or a `rs:RecordSearchError`.
//!
//! The parser is small and strict: well-formed XML 1.0 without a DTD,
//! namespaces resolved (elements are matched by namespace and local name,
//! whatever their prefixes), at most [`MAX_DEPTH`] levels and
//! [`MAX_ELEMENTS`] elements. It never panics, whatever the input.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::json::{check_fields, parse_sex, sex_code};
use super::model::{self, Subject};
use super::{Hit, ProtocolError, Records, WireFormat, parse_date};

pub const NS_RS: &str = "urn:plaza:sim:records:1";
pub const NS_NC: &str = "http://release.niem.gov/niem/niem-core/5.0/";
pub const NS_J: &str = "http://release.niem.gov/niem/domains/jxdm/7.0/";
pub const MAX_DEPTH: usize = 32;
pub const MAX_ELEMENTS: usize = 2_000;

/// A parsed element: namespace, local name, attributes (name, value) as
/// written, children and the concatenated text directly inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.ns.as_deref() == Some(ns) && c.name == name)
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.ns.as_deref() == Some(ns) && c.name == name)
    }

    fn text_at(&self, path: &[(&str, &str)]) -> Option<String> {
        let mut e = self;
        for (ns, name) in path {
            e = e.child(ns, name)?;
        }
        let t = e.text.trim();
        (!t.is_empty()).then(|| t.to_owned())
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub offset: usize,
    pub reason: String,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    elements: usize,
    /// In-scope namespace bindings: (prefix, uri); "" is the default.
    scope: Vec<(String, String)>,
}

fn name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn name_char(c: u8) -> bool {
    name_start(c) || c.is_ascii_digit() || c == b'-' || c == b'.' || c == b':'
}

impl<'a> Parser<'a> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, XmlError> {
        Err(XmlError {
            offset: self.pos,
            reason: reason.into(),
        })
    }

    fn starts(&self, lit: &str) -> bool {
        self.b[self.pos..].starts_with(lit.as_bytes())
    }

    fn skip_ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
    }

    fn expect(&mut self, lit: &str) -> Result<(), XmlError> {
        if self.starts(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            self.err(format!("expected {lit:?}"))
        }
    }

    /// Skips to just past `end`.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<&'a str, XmlError> {
        match self.s[self.pos..].find(end) {
            Some(i) => {
                let inner = &self.s[self.pos..self.pos + i];
                self.pos += i + end.len();
                Ok(inner)
            }
            None => self.err(format!("unterminated {what}")),
        }
    }

    fn name(&mut self) -> Result<&'a str, XmlError> {
        let start = self.pos;
        if self.pos >= self.b.len() || !name_start(self.b[self.pos]) {
            return self.err("expected a name");
        }
        while self.pos < self.b.len() && name_char(self.b[self.pos]) {
            self.pos += 1;
        }
        let n = &self.s[start..self.pos];
        if n.matches(':').count() > 1 || n.ends_with(':') {
            return self.err(format!("{n:?} is not a valid qualified name"));
        }
        Ok(n)
    }

    /// Comments, processing instructions and white space between markup.
    fn misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_ws();
            if self.starts("<!--") {
                self.pos += 4;
                self.skip_past("-->", "comment")?;
            } else if self.starts("<?") {
                self.pos += 2;
                self.skip_past("?>", "processing instruction")?;
            } else if self.starts("<!") {
                return self.err("DTDs and declarations are not accepted");
            } else {
                return Ok(());
            }
        }
    }

    fn unescape(&self, raw: &str, at: usize) -> Result<String, XmlError> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
                return Err(XmlError {
                    offset: at,
                    reason: "an & that does not start an entity".into(),
                });
            };
            let entity = &rest[..end];
            let c = match entity {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code = if let Some(h) = entity.strip_prefix("#x") {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = entity.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                        .filter(|&c| c == '\t' || c == '\n' || c == '\r' || !c.is_control())
                }
            };
            match c {
                Some(c) => out.push(c),
                None => {
                    return Err(XmlError {
                        offset: at,
                        reason: format!("unknown or invalid entity &{entity};"),
                    });
                }
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn resolve(&self, qname: &str, is_element: bool) -> Result<(Option<String>, String), XmlError> {
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (p, l),
            None if is_element => ("", qname),
            None => return Ok((None, qname.to_owned())),
        };
        match self.scope.iter().rev().find(|(p, _)| p == prefix) {
            Some((_, uri)) if uri.is_empty() => Ok((None, local.to_owned())),
            Some((_, uri)) => Ok((Some(uri.clone()), local.to_owned())),
            None if prefix.is_empty() => Ok((None, local.to_owned())),
            None => self.err(format!("prefix {prefix:?} is not bound to a namespace")),
        }
    }

    fn element(&mut self, depth: usize) -> Result<Element, XmlError> {
        if depth > MAX_DEPTH {
            return self.err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return self.err(format!("more than {MAX_ELEMENTS} elements"));
        }
        self.expect("<")?;
        let qname = self.name()?;
        let scope_len = self.scope.len();
        let mut attributes: Vec<(String, String)> = Vec::new();
        let empty = loop {
            let had_ws =
                self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\r' | b'\n');
            self.skip_ws();
            if self.starts("/>") {
                self.pos += 2;
                break true;
            }
            if self.starts(">") {
                self.pos += 1;
                break false;
            }
            if !had_ws {
                return self.err("expected white space, > or />");
            }
            let an = self.name()?;
            self.skip_ws();
            self.expect("=")?;
            self.skip_ws();
            let quote = match self.b.get(self.pos) {
                Some(&q @ (b'"' | b'\'')) => q as char,
                _ => return self.err("expected a quoted attribute value"),
            };
            self.pos += 1;
            let at = self.pos;
            let raw = self.skip_past(if quote == '"' { "\"" } else { "'" }, "attribute value")?;
            if raw.contains('<') {
                return Err(XmlError {
                    offset: at,
                    reason: "< inside an attribute value".into(),
                });
            }
            let value = self.unescape(raw, at)?;
            if attributes.iter().any(|(n, _)| n == an) {
                return self.err(format!("attribute {an} given twice"));
            }
            if an == "xmlns" {
                self.scope.push((String::new(), value.clone()));
            } else if let Some(p) = an.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return self.err(format!("prefix {p} bound to an empty namespace"));
                }
                self.scope.push((p.to_owned(), value.clone()));
            }
            attributes.push((an.to_owned(), value));
        };
        let (ns, name) = self.resolve(qname, true)?;
        for (an, _) in &attributes {
            if !an.starts_with("xmlns") {
                self.resolve(an, false)?;
            }
        }
        let mut el = Element {
            ns,
            name,
            attributes,
            children: Vec::new(),
            text: String::new(),
        };
        if !empty {
            loop {
                if self.pos >= self.b.len() {
                    return self.err(format!("<{qname}> is never closed"));
                }
                if self.starts("</") {
                    self.pos += 2;
                    let close = self.name()?;
                    if close != qname {
                        return self.err(format!("</{close}> closes <{qname}>"));
                    }
                    self.skip_ws();
                    self.expect(">")?;
                    break;
                } else if self.starts("<!--") {
                    self.pos += 4;
                    self.skip_past("-->", "comment")?;
                } else if self.starts("<![CDATA[") {
                    self.pos += 9;
                    let t = self.skip_past("]]>", "CDATA section")?;
                    el.text.push_str(t);
                } else if self.starts("<?") {
                    self.pos += 2;
                    self.skip_past("?>", "processing instruction")?;
                } else if self.starts("<!") {
                    return self.err("declarations are not accepted inside elements");
                } else if self.starts("<") {
                    let child = self.element(depth + 1)?;
                    el.children.push(child);
                } else {
                    let at = self.pos;
                    let end = self.s[self.pos..]
                        .find('<')
                        .map_or(self.b.len(), |i| self.pos + i);
                    let raw = &self.s[self.pos..end];
                    self.pos = end;
                    let t = self.unescape(raw, at)?;
                    el.text.push_str(&t);
                }
            }
        }
        self.scope.truncate(scope_len);
        Ok(el)
    }
}

/// Parses a document: an optional declaration, comments, one root element.
pub fn parse(input: &str) -> Result<Element, XmlError> {
    let mut p = Parser {
        s: input,
        b: input.as_bytes(),
        pos: 0,
        elements: 0,
        scope: vec![(
            "xml".to_owned(),
            "http://www.w3.org/XML/1998/namespace".to_owned(),
        )],
    };
    if p.starts("\u{feff}") {
        p.pos += 3;
    }
    p.misc()?;
    if !p.starts("<") {
        return p.err("expected the root element");
    }
    let root = p.element(0)?;
    p.misc()?;
    if p.pos != p.b.len() {
        return p.err("content after the root element");
    }
    Ok(root)
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// A search request document: the transaction id and the subject.
pub fn request_from(doc: &Element) -> Result<(Option<String>, Subject), ProtocolError> {
    let bad = |m: &str| ProtocolError::new("malformed_request", m.to_owned());
    if doc.ns.as_deref() != Some(NS_RS) || doc.name != "RecordSearchRequest" {
        return Err(bad(
            "The root element must be rs:RecordSearchRequest (namespace urn:plaza:sim:records:1).",
        ));
    }
    let person = doc
        .child(NS_NC, "Person")
        .ok_or_else(|| bad("The request has no nc:Person."))?;
    let name = person.child(NS_NC, "PersonName");
    let name_part = |part: &str| name.and_then(|n| n.text_at(&[(NS_NC, part)]));
    let dob = match person.text_at(&[(NS_NC, "PersonBirthDate"), (NS_NC, "Date")]) {
        None => None,
        Some(d) => Some(parse_date(&d).ok_or_else(|| {
            ProtocolError::new(
                "invalid_field",
                "nc:PersonBirthDate/nc:Date: expected YYYY-MM-DD",
            )
        })?),
    };
    let sex = match person
        .text_at(&[(NS_J, "PersonSexCode")])
        .or_else(|| person.text_at(&[(NS_NC, "PersonSexCode")]))
    {
        None => None,
        Some(s) => Some(parse_sex(&s).ok_or_else(|| {
            ProtocolError::new("invalid_field", "PersonSexCode: expected M or F")
        })?),
    };
    let id = |ns: &str, el: &str| person.text_at(&[(ns, el), (NS_NC, "IdentificationID")]);
    let subject = Subject {
        first: name_part("PersonGivenName"),
        middle: name_part("PersonMiddleName"),
        last: name_part("PersonSurName"),
        aliases: person
            .children_named(NS_NC, "PersonAlternateName")
            .filter_map(|a| a.text_at(&[(NS_NC, "PersonSurName")]))
            .collect(),
        dob,
        sex,
        ssn: id(NS_NC, "PersonSSNIdentification"),
        fbi: id(NS_J, "PersonFBIIdentification"),
        state_id: id(NS_J, "PersonStateFingerprintIdentification"),
    };
    check_fields(&subject)?;
    let txn = doc.text_at(&[(NS_RS, "TransactionID")]);
    Ok((txn, subject))
}

fn el(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn id_el(out: &mut String, name: &str, v: &Option<String>) {
    if let Some(v) = v {
        out.push_str(&format!("<{name}>"));
        el(out, "nc:IdentificationID", v);
        out.push_str(&format!("</{name}>"));
    }
}

/// `nc:Person` for a subject (requests and answers share it).
pub fn person_xml(out: &mut String, s: &Subject) {
    out.push_str("<nc:Person><nc:PersonName>");
    for (name, v) in [
        ("nc:PersonGivenName", &s.first),
        ("nc:PersonMiddleName", &s.middle),
        ("nc:PersonSurName", &s.last),
    ] {
        if let Some(v) = v {
            el(out, name, v);
        }
    }
    out.push_str("</nc:PersonName>");
    for a in &s.aliases {
        out.push_str("<nc:PersonAlternateName>");
        el(out, "nc:PersonSurName", a);
        out.push_str("</nc:PersonAlternateName>");
    }
    if let Some(d) = s.dob {
        out.push_str("<nc:PersonBirthDate>");
        el(out, "nc:Date", &d.to_string());
        out.push_str("</nc:PersonBirthDate>");
    }
    if let Some(x) = s.sex {
        el(out, "j:PersonSexCode", sex_code(x));
    }
    id_el(out, "nc:PersonSSNIdentification", &s.ssn);
    id_el(out, "j:PersonFBIIdentification", &s.fbi);
    id_el(out, "j:PersonStateFingerprintIdentification", &s.state_id);
    out.push_str("</nc:Person>");
}

fn open_doc(out: &mut String, root: &str) {
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<rs:{root} xmlns:rs=\"{NS_RS}\" xmlns:nc=\"{NS_NC}\" xmlns:j=\"{NS_J}\">"
    ));
}

/// A request document, as a client writes it.
pub fn request_xml(txn: &str, s: &Subject) -> String {
    let mut out = String::new();
    open_doc(&mut out, "RecordSearchRequest");
    el(&mut out, "rs:TransactionID", txn);
    person_xml(&mut out, s);
    out.push_str("</rs:RecordSearchRequest>\n");
    out
}

/// `offence_class` → `OffenceClass`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

pub fn answer_xml(source: &str, txn: Option<&str>, hits: &[Hit]) -> String {
    let mut out = String::new();
    open_doc(&mut out, "RecordSearchResponse");
    if let Some(t) = txn {
        el(&mut out, "rs:TransactionID", t);
    }
    el(&mut out, "rs:SourceID", source);
    el(&mut out, "rs:HitCount", &hits.len().to_string());
    for h in hits {
        let r = &h.record;
        out.push_str("<rs:Hit>");
        el(&mut out, "rs:RecordID", &r.record_id);
        el(&mut out, "rs:ControlNumber", &r.control_number);
        el(&mut out, "rs:RecordKind", r.detail.kind().as_str());
        el(&mut out, "rs:MatchedOn", h.matched_on.as_str());
        person_xml(&mut out, &r.subject);
        let kind = format!("rs:{}", pascal(r.detail.kind().as_str()));
        out.push_str(&format!("<{kind}>"));
        for (name, v) in r.detail.fields() {
            let text = match v {
                model::Value::Text(t) => t,
                model::Value::Code(c) => c.to_owned(),
                model::Value::Bool(b) => b.to_string(),
                model::Value::Date(d) => d.to_string(),
                model::Value::Number(n) => n.to_string(),
                model::Value::Missing => continue,
            };
            el(&mut out, &format!("rs:{}", pascal(name)), &text);
        }
        out.push_str(&format!("</{kind}>"));
        out.push_str("</rs:Hit>");
    }
    out.push_str("</rs:RecordSearchResponse>\n");
    out
}

pub fn error_xml(e: &ProtocolError) -> String {
    let mut out = String::new();
    open_doc(&mut out, "RecordSearchError");
    el(&mut out, "rs:ErrorCode", e.code);
    el(&mut out, "rs:ErrorMessage", &e.message);
    out.push_str("</rs:RecordSearchError>\n");
    out
}

fn xml_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn error_response(e: &ProtocolError) -> Response {
    xml_response(e.http_status(), error_xml(e))
}

pub(super) async fn search(
    State(records): State<Records>,
    Path(source): Path<String>,
    body: Bytes,
) -> Response {
    let s = match records.resolve(&source, WireFormat::NiemXml) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    if body.len() > super::http::MAX_REQUEST {
        return error_response(&ProtocolError::new(
            "payload_too_large",
            format!("A request is at most {} bytes.", super::http::MAX_REQUEST),
        ));
    }
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => {
            return error_response(&ProtocolError::new(
                "malformed_request",
                "The document is not UTF-8.",
            ));
        }
    };
    let doc = match parse(text) {
        Ok(d) => d,
        Err(e) => {
            return error_response(&ProtocolError::new(
                "malformed_request",
                format!("Malformed XML {e}."),
            ));
        }
    };
    let (txn, subject) = match request_from(&doc) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let plan = records.plan(s);
    match records.answer(s, plan, subject).await {
        Ok(hits) => xml_response(200, answer_xml(&source, txn.as_deref(), &hits)),
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::Date;

    #[test]
    fn a_request_round_trips_with_escaping() {
        let s = Subject {
            first: Some("Mary & <Ann>".into()),
            last: Some("O'Brien".into()),
            aliases: vec!["Smith \"Jr\"".into()],
            dob: Date::new(1970, 2, 3),
            sex: Some(crate::people::Sex::Female),
            ssn: Some("900-12-3456".into()),
            fbi: Some("123456AB7".into()),
            ..Subject::default()
        };
        let doc = parse(&request_xml("T&1", &s)).unwrap();
        let (txn, back) = request_from(&doc).unwrap();
        assert_eq!(txn.as_deref(), Some("T&1"));
        assert_eq!(back, s);
    }

    #[test]
    fn prefixes_are_resolved_not_matched() {
        let doc = format!(
            "<x:RecordSearchRequest xmlns:x='{NS_RS}' xmlns='{NS_NC}'><Person><PersonName>\
             <PersonSurName>Lee</PersonSurName><PersonGivenName>Ann</PersonGivenName></PersonName>\
             <PersonBirthDate><Date>1980-05-06</Date></PersonBirthDate></Person></x:RecordSearchRequest>"
        );
        let (_, s) = request_from(&parse(&doc).unwrap()).unwrap();
        assert_eq!(s.last.as_deref(), Some("Lee"));
        assert_eq!(s.dob, Date::new(1980, 5, 6));
        let wrong_ns = doc.replace(NS_RS, "urn:other");
        assert_eq!(
            request_from(&parse(&wrong_ns).unwrap()).unwrap_err().code,
            "malformed_request"
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a><b></a></b>",
            "<a x='1' x='2'/>",
            "<p:a/>",
            "<a>&bogus;</a>",
            "<a>&#0;</a>",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
            "<a/><b/>",
            "<a b=c/>",
            "<a>&</a>",
            "<a b='<'/>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} refused");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 2) + &"</a>".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).is_err());
        assert!(parse("<?xml version='1.0'?><!-- c --><a><![CDATA[<x>]]>&lt;&#x41;</a>").is_ok());
        assert_eq!(
            parse("<a><![CDATA[<x>]]>&lt;&#x41;</a>").unwrap().text,
            "<x><A"
        );
    }
}
