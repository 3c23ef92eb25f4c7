//! Fixed-width records over raw TCP, the way older criminal-justice
//! systems talk: one request line in, a header line, one line per hit and
//! a trailer line out. Every line ends with LF (a CR before it is
//! ignored); the layouts are in PROTOCOLS.md and in the `REQUEST`,
//! `HEADER`, `HIT` and `TRAILER` tables below.
//!
//! A connection carries any number of requests, one after the other. A
//! line longer than [`MAX_LINE`] bytes is answered with status 30 and the
//! connection closed; an idle connection is closed after [`IDLE`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::people::{Date, Sex};

use super::model::{Detail, Subject};
use super::{Hit, Plan, ProtocolError, RecordKind, Records, WireFormat};

/// (field, width) of a request line.
pub const REQUEST: [(&str, usize); 12] = [
    ("message_type", 2),
    ("transaction_id", 8),
    ("source", 16),
    ("surname", 25),
    ("given_name", 15),
    ("middle_name", 15),
    ("dob", 8),
    ("sex", 1),
    ("ssn", 9),
    ("fbi", 9),
    ("state_id", 10),
    ("alias", 25),
];
pub const HEADER: [(&str, usize); 6] = [
    ("line_type", 2),
    ("transaction_id", 8),
    ("source", 16),
    ("status", 2),
    ("hit_count", 4),
    ("message", 60),
];
pub const HIT: [(&str, usize); 16] = [
    ("line_type", 2),
    ("sequence", 4),
    ("record_id", 28),
    ("control_number", 16),
    ("kind", 2),
    ("matched_on", 1),
    ("surname", 25),
    ("given_name", 15),
    ("middle_name", 15),
    ("dob", 8),
    ("sex", 1),
    ("ssn", 9),
    ("fbi", 9),
    ("state_id", 10),
    ("alias", 25),
    ("detail", 100),
];
pub const TRAILER: [(&str, usize); 3] = [("line_type", 2), ("transaction_id", 8), ("hit_count", 4)];

pub const fn width(layout: &[(&str, usize)]) -> usize {
    let mut w = 0;
    let mut i = 0;
    while i < layout.len() {
        w += layout[i].1;
        i += 1;
    }
    w
}

pub const REQUEST_LEN: usize = width(&REQUEST);
pub const HIT_LEN: usize = width(&HIT);
/// Longest line read before the connection is refused.
pub const MAX_LINE: usize = 1024;
/// How long a connection may sit idle.
pub const IDLE: Duration = Duration::from_secs(60);

/// `s` as exactly `w` printable ASCII characters: cut, padded with
/// spaces, anything else shown as `?`.
pub fn fit(s: &str, w: usize) -> String {
    let mut out: String = s
        .chars()
        .take(w)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    while out.len() < w {
        out.push(' ');
    }
    out
}

fn date8(d: Option<Date>) -> String {
    d.map_or_else(
        || " ".repeat(8),
        |d| format!("{:04}{:02}{:02}", d.year, d.month, d.day),
    )
}

fn parse_date8(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::new(
        s[..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..].parse().ok()?,
    )
}

fn yn(b: bool) -> &'static str {
    if b { "Y" } else { "N" }
}

fn digits(s: &Option<String>) -> String {
    s.as_deref()
        .map(|v| v.chars().filter(char::is_ascii_digit).collect())
        .unwrap_or_default()
}

/// Splits a line by a layout (the line must be exactly as wide).
fn split<'a>(line: &'a str, layout: &[(&str, usize)]) -> Vec<&'a str> {
    let mut at = 0;
    layout
        .iter()
        .map(|&(_, w)| {
            let f = &line[at..at + w];
            at += w;
            f
        })
        .collect()
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub transaction_id: String,
    pub source: String,
    pub subject: Subject,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Parses one request line (without its LF). On failure: the transaction
/// id when it could be read, and the error.
pub fn parse_request(line: &[u8]) -> Result<Request, (String, ProtocolError)> {
    let malformed = |txn: String, m: String| Err((txn, ProtocolError::new("malformed_request", m)));
    if line.iter().any(|&b| !(0x20..=0x7E).contains(&b)) {
        return malformed(
            String::new(),
            "The line holds bytes other than printable ASCII.".into(),
        );
    }
    // Printable ASCII only, so every byte is a char boundary.
    let line = std::str::from_utf8(line).unwrap_or_default();
    let txn = line
        .get(2..10)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    if line.len() != REQUEST_LEN {
        return malformed(
            txn,
            format!(
                "The line is {} characters; a request is {REQUEST_LEN}.",
                line.len()
            ),
        );
    }
    let f = split(line, &REQUEST);
    if f[0] != "QR" {
        return malformed(
            txn,
            format!("Unknown message type {:?}; expected QR.", f[0]),
        );
    }
    let invalid = |m: &str| {
        Err((
            txn.clone(),
            ProtocolError::new("invalid_field", m.to_owned()),
        ))
    };
    let dob = match f[6].trim() {
        "" => None,
        d => match parse_date8(d) {
            Some(d) => Some(d),
            None => return invalid("dob: expected CCYYMMDD or spaces"),
        },
    };
    let sex = match f[7] {
        "M" => Some(Sex::Male),
        "F" => Some(Sex::Female),
        " " => None,
        _ => return invalid("sex: expected M, F or a space"),
    };
    let ssn = match f[8].trim() {
        "" => None,
        s if s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit()) => Some(s.to_owned()),
        _ => return invalid("ssn: expected nine digits or spaces"),
    };
    Ok(Request {
        transaction_id: txn.clone(),
        source: f[2].trim().to_owned(),
        subject: Subject {
            last: opt(f[3]),
            first: opt(f[4]),
            middle: opt(f[5]),
            dob,
            sex,
            ssn,
            fbi: opt(f[9]),
            state_id: opt(f[10]),
            aliases: opt(f[11]).into_iter().collect(),
        },
    })
}

/// A request line for `subject` (without LF), as a client writes it.
pub fn request_line(txn: &str, source: &str, s: &Subject) -> String {
    let sex = match s.sex {
        Some(Sex::Male) => "M",
        Some(Sex::Female) => "F",
        None => " ",
    };
    let ssn = digits(&s.ssn);
    [
        fit("QR", 2),
        fit(txn, 8),
        fit(source, 16),
        fit(s.last.as_deref().unwrap_or(""), 25),
        fit(s.first.as_deref().unwrap_or(""), 15),
        fit(s.middle.as_deref().unwrap_or(""), 15),
        date8(s.dob),
        sex.to_owned(),
        fit(&ssn, 9),
        fit(s.fbi.as_deref().unwrap_or(""), 9),
        fit(s.state_id.as_deref().unwrap_or(""), 10),
        fit(s.aliases.first().map_or("", String::as_str), 25),
    ]
    .concat()
}

fn detail(d: &Detail) -> String {
    let text = match d {
        Detail::Criminal(c) => [
            if c.class == super::model::OffenceClass::Felony {
                "F"
            } else {
                "M"
            }
            .to_owned(),
            yn(c.domestic_violence).to_owned(),
            date8(Some(c.arrest_date)),
            c.disposition.as_str()[..1].to_ascii_uppercase(),
            date8(c.disposition_date),
            c.sentence_max_months
                .map_or_else(|| " ".repeat(4), |m| format!("{:04}", m.min(9999))),
            fit(&c.offence, 60),
        ]
        .concat(),
        Detail::Wanted(w) => [
            match w.warrant_type {
                super::model::WarrantType::Arrest => "A",
                super::model::WarrantType::Bench => "B",
                super::model::WarrantType::ProbationViolation => "P",
                super::model::WarrantType::ParoleViolation => "R",
            }
            .to_owned(),
            yn(w.felony).to_owned(),
            date8(Some(w.date)),
            fit(&w.issuing_agency, 9),
            fit(&w.offence, 60),
        ]
        .concat(),
        Detail::ProtectionOrder(p) => [
            date8(Some(p.issued)),
            date8(p.expires),
            yn(p.intimate_partner).to_owned(),
            yn(p.hearing_with_notice).to_owned(),
            yn(p.credible_threat).to_owned(),
            fit(&p.court, 60),
        ]
        .concat(),
        Detail::MentalHealth(m) => [
            match m.adjudication {
                super::model::Adjudication::Committed => "C",
                super::model::Adjudication::Adjudicated => "A",
            }
            .to_owned(),
            date8(Some(m.date)),
            yn(m.relief_granted).to_owned(),
            fit(&m.authority, 60),
        ]
        .concat(),
        Detail::DrugUse(u) => [
            match u.basis {
                super::model::DrugBasis::Conviction => "C",
                super::model::DrugBasis::MultipleArrests => "M",
                super::model::DrugBasis::Admission => "A",
                super::model::DrugBasis::PositiveTest => "T",
            }
            .to_owned(),
            date8(Some(u.date)),
        ]
        .concat(),
        Detail::Discharge(x) => [
            match x.discharge {
                super::model::DischargeType::Dishonourable => "D",
                super::model::DischargeType::BadConduct => "B",
            }
            .to_owned(),
            date8(Some(x.date)),
            fit(&x.branch, 20),
        ]
        .concat(),
        Detail::Renounced(r) => date8(Some(r.date)),
        Detail::Immigration(i) => [
            match i.status {
                super::model::ImmigrationStatus::Illegal => "I",
                super::model::ImmigrationStatus::NonimmigrantVisa => "N",
                super::model::ImmigrationStatus::LawfulPermanentResident => "L",
                super::model::ImmigrationStatus::Citizen => "C",
            }
            .to_owned(),
            fit(&i.alien_number, 10),
            date8(Some(i.as_of)),
            fit(i.visa_class.as_deref().unwrap_or(""), 6),
        ]
        .concat(),
        Detail::Indictment(i) => [
            yn(i.felony).to_owned(),
            date8(Some(i.date)),
            fit(&i.court, 40),
            fit(&i.charge, 51),
        ]
        .concat(),
        Detail::Corrections(c) => [
            match c.custody {
                super::model::Custody::Incarcerated => "I",
                super::model::Custody::Parole => "P",
                super::model::Custody::Probation => "B",
                super::model::Custody::Released => "R",
            }
            .to_owned(),
            date8(Some(c.since)),
            fit(&c.facility, 40),
            fit(&c.offence, 51),
        ]
        .concat(),
    };
    fit(&text, 100)
}

fn header(txn: &str, source: &str, status: &str, hits: usize, message: &str) -> String {
    [
        "HD".to_owned(),
        fit(txn, 8),
        fit(source, 16),
        status.to_owned(),
        format!("{:04}", hits.min(9999)),
        fit(message, 60),
    ]
    .concat()
}

fn trailer(txn: &str, hits: usize) -> String {
    format!("TR{}{:04}", fit(txn, 8), hits.min(9999))
}

/// The answer to a request: header, hits, trailer, each ending in LF.
pub fn answer_text(txn: &str, source: &str, hits: &[Hit]) -> String {
    let mut out = header(txn, source, "00", hits.len(), "OK");
    out.push('\n');
    for (i, h) in hits.iter().enumerate() {
        let r = &h.record;
        let s = &r.subject;
        let sex = match s.sex {
            Some(Sex::Male) => "M",
            Some(Sex::Female) => "F",
            None => " ",
        };
        let line = [
            "HT".to_owned(),
            format!("{:04}", (i + 1).min(9999)),
            fit(&r.record_id, 28),
            fit(&r.control_number, 16),
            r.detail.kind().code().to_owned(),
            h.matched_on.letter().to_string(),
            fit(s.last.as_deref().unwrap_or(""), 25),
            fit(s.first.as_deref().unwrap_or(""), 15),
            fit(s.middle.as_deref().unwrap_or(""), 15),
            date8(s.dob),
            sex.to_owned(),
            fit(&digits(&s.ssn), 9),
            fit(s.fbi.as_deref().unwrap_or(""), 9),
            fit(s.state_id.as_deref().unwrap_or(""), 10),
            fit(s.aliases.first().map_or("", String::as_str), 25),
            detail(&r.detail),
        ]
        .concat();
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&trailer(txn, hits.len()));
    out.push('\n');
    out
}

/// An error answer: a header with the status and message, no hits, a
/// trailer.
pub fn error_text(txn: &str, source: &str, e: &ProtocolError) -> String {
    format!(
        "{}\n{}\n",
        header(txn, source, e.fixed_status(), 0, &e.message),
        trailer(txn, 0)
    )
}

/// A parsed answer (for clients and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub transaction_id: String,
    pub source: String,
    pub status: String,
    pub message: String,
    pub hits: Vec<AnswerHit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerHit {
    pub record_id: String,
    pub control_number: String,
    pub kind: RecordKind,
    pub matched_on: char,
    pub surname: String,
    pub given_name: String,
    pub dob: Option<Date>,
    /// The kind's detail block, as sent (see PROTOCOLS.md).
    pub detail: String,
}

/// Parses an answer's lines. Never panics; says what is wrong.
pub fn parse_answer(text: &str) -> Result<Answer, String> {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let head = lines.next().ok_or("no header")?;
    if !head.is_ascii() || head.len() != width(&HEADER) || !head.starts_with("HD") {
        return Err(format!("bad header {head:?}"));
    }
    let h = split(head, &HEADER);
    let count: usize = h[4]
        .parse()
        .map_err(|_| format!("bad hit count {:?}", h[4]))?;
    let mut hits = Vec::with_capacity(count.min(100));
    for _ in 0..count {
        let l = lines.next().ok_or("fewer hits than the header says")?;
        if !l.is_ascii() || l.len() != HIT_LEN || !l.starts_with("HT") {
            return Err(format!("bad hit line {l:?}"));
        }
        let f = split(l, &HIT);
        hits.push(AnswerHit {
            record_id: f[2].trim().to_owned(),
            control_number: f[3].trim().to_owned(),
            kind: RecordKind::from_code(f[4]).ok_or_else(|| format!("unknown kind {:?}", f[4]))?,
            matched_on: f[5].chars().next().unwrap_or(' '),
            surname: f[6].trim().to_owned(),
            given_name: f[7].trim().to_owned(),
            dob: parse_date8(f[9]),
            detail: f[15].to_owned(),
        });
    }
    let tr = lines.next().ok_or("no trailer")?;
    if !tr.is_ascii()
        || tr.len() != width(&TRAILER)
        || !tr.starts_with("TR")
        || tr[10..] != h[4][..]
    {
        return Err(format!("bad trailer {tr:?}"));
    }
    Ok(Answer {
        transaction_id: h[1].trim().to_owned(),
        source: h[2].trim().to_owned(),
        status: h[3].to_owned(),
        message: h[5].trim().to_owned(),
        hits,
    })
}

/// Serves the fixed-width sources of `records` on `listener`.
pub async fn serve(listener: TcpListener, records: Records) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, records.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "fixed-width accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Binds `addr` and serves there, telling `records` the address.
pub async fn bind_and_serve(addr: &str, records: Records) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    records.set_fixed_addr(local);
    tokio::spawn(serve(listener, records));
    Ok(local)
}

async fn connection(mut stream: TcpStream, records: Records) {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        // Answer every complete line already read.
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                continue;
            }
            let answer = match parse_request(&line) {
                Err((txn, e)) => error_text(&txn, "", &e),
                Ok(req) => match records.resolve(&req.source, WireFormat::FixedWidth) {
                    Err(e) => error_text(&req.transaction_id, &req.source, &e),
                    Ok(s) => {
                        let plan = records.plan(s);
                        if plan == Plan::Close {
                            return;
                        }
                        match records.answer(s, plan, req.subject).await {
                            Ok(hits) => answer_text(&req.transaction_id, &req.source, &hits),
                            Err(e) => error_text(&req.transaction_id, &req.source, &e),
                        }
                    }
                },
            };
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
        if buf.len() > MAX_LINE {
            let e = ProtocolError::new(
                "payload_too_large",
                format!("A line is at most {MAX_LINE} bytes."),
            );
            let _ = stream.write_all(error_text("", "", &e).as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_documented_widths() {
        assert_eq!(REQUEST_LEN, 143);
        assert_eq!(width(&HEADER), 92);
        assert_eq!(HIT_LEN, 270);
        assert_eq!(width(&TRAILER), 14);
    }

    #[test]
    fn a_request_round_trips() {
        let s = Subject {
            first: Some("JOHN".into()),
            middle: Some("Q".into()),
            last: Some("O'NEIL-SMITH".into()),
            aliases: vec!["JONES".into()],
            dob: Date::new(1979, 12, 31),
            sex: Some(Sex::Male),
            ssn: Some("900123456".into()),
            fbi: Some("123456AB7".into()),
            state_id: Some("MA12345678".into()),
        };
        let line = request_line("T0000001", "ncic-wanted", &s);
        assert_eq!(line.len(), REQUEST_LEN);
        let r = parse_request(line.as_bytes()).unwrap();
        assert_eq!(r.transaction_id, "T0000001");
        assert_eq!(r.source, "ncic-wanted");
        assert_eq!(r.subject, s);
    }

    #[test]
    fn bad_lines_get_the_documented_errors() {
        let ok = request_line("T1", "ncic-wanted", &Subject::default());
        let (txn, e) = parse_request(&ok.as_bytes()[..100]).unwrap_err();
        assert_eq!((txn.as_str(), e.code), ("T1", "malformed_request"));
        let wrong_type = format!("XX{}", &ok[2..]);
        assert_eq!(
            parse_request(wrong_type.as_bytes()).unwrap_err().1.code,
            "malformed_request"
        );
        let bad_dob = format!("{}20231399{}", &ok[..81], &ok[89..]);
        assert_eq!(
            parse_request(bad_dob.as_bytes()).unwrap_err().1.code,
            "invalid_field"
        );
        assert_eq!(
            parse_request(b"QR\xff").unwrap_err().1.code,
            "malformed_request"
        );
        let e = error_text("T1", "x", &ProtocolError::new("unknown_source", "no"));
        let a = parse_answer(&e).unwrap();
        assert_eq!((a.status.as_str(), a.hits.len()), ("20", 0));
    }
}
