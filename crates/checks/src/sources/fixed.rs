//! The fixed-width-over-TCP adapter: one 143-character request line, an
//! answer of a header, one line per hit and a trailer. Connections are kept
//! in a small pool and reused; a pooled connection the source has closed
//! meanwhile (idle) is replaced by a fresh one once, and a fresh
//! connection closed without an answer is an unavailable source.

use std::sync::Mutex;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{
    Content, Corrections, Criminal, Day, Discharge, DrugUse, Immigration, Indictment, MatchedOn,
    MentalHealth, ProtectionOrder, Renounced, Source, SourceError, SourceRecord, Subject, Wanted,
    day,
};
use crate::matching::{Date, Descriptors, Sex};

pub const REQUEST_LEN: usize = 143;
pub const HEADER_LEN: usize = 92;
pub const HIT_LEN: usize = 270;
pub const TRAILER_LEN: usize = 14;
/// Longest line read before the answer is taken as malformed.
const MAX_LINE: u64 = 1024;
/// Idle connections kept per source by default.
pub const DEFAULT_POOL: usize = 256;

type Conn = BufReader<TcpStream>;

/// A source that speaks fixed-width lines over TCP.
#[derive(Debug)]
pub struct FixedSource {
    id: String,
    address: String,
    idle: Mutex<Vec<Conn>>,
    /// Idle connections kept; 0: one connection per request.
    pool: usize,
}

impl FixedSource {
    pub fn new(id: &str, address: &str) -> FixedSource {
        FixedSource::with_pool(id, address, DEFAULT_POOL)
    }

    /// Keeping at most `pool` idle connections (0: a connection per
    /// request, closed after its answer).
    pub fn with_pool(id: &str, address: &str, pool: usize) -> FixedSource {
        FixedSource {
            id: id.to_owned(),
            address: address.to_owned(),
            idle: Mutex::new(Vec::new()),
            pool,
        }
    }

    fn take(&self) -> Option<Conn> {
        self.idle.lock().ok().and_then(|mut v| v.pop())
    }

    fn put(&self, c: Conn) {
        if let Ok(mut v) = self.idle.lock()
            && v.len() < self.pool
        {
            v.push(c);
        }
    }

    async fn exchange(
        &self,
        conn: &mut Conn,
        line: &[u8],
        txn: &str,
    ) -> Result<(Vec<SourceRecord>, bool), Failure> {
        conn.get_mut()
            .write_all(line)
            .await
            .map_err(|e| Failure::Closed(e.to_string()))?;
        let mut header = read_line(conn, true).await?;
        while header.is_empty() {
            header = read_line(conn, false).await?;
        }
        let mut answer = Answer::start(&self.id, txn, &header).map_err(Failure::Error)?;
        loop {
            let l = read_line(conn, false).await?;
            if l.is_empty() {
                continue;
            }
            if answer.line(&l).map_err(Failure::Error)? {
                break;
            }
        }
        answer.finish().map_err(Failure::Error)
    }
}

/// One line without its end; `first`: the answer's first line, where a
/// closed connection means no answer at all.
async fn read_line(conn: &mut Conn, first: bool) -> Result<String, Failure> {
    let mut buf = Vec::with_capacity(300);
    let n = conn
        .take(MAX_LINE + 1)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| Failure::Closed(e.to_string()))?;
    if n == 0 {
        return Err(if first {
            Failure::Closed("closed without an answer".into())
        } else {
            Failure::Error(SourceError::Unavailable(
                "the connection closed in the middle of an answer".into(),
            ))
        });
    }
    if buf.last() != Some(&b'\n') {
        return Err(Failure::Error(SourceError::malformed(
            "a line too long or cut off",
        )));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .ok()
        .filter(|s| s.bytes().all(|b| (b' '..=b'~').contains(&b)))
        .ok_or_else(|| Failure::Error(SourceError::malformed("a line is not ASCII")))
}

/// Why an exchange failed: a closed connection before any answer (which a
/// pooled connection may simply be) or anything else.
enum Failure {
    Closed(String),
    Error(SourceError),
}

impl Source for FixedSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn search<'a>(
        &'a self,
        subject: &'a Subject,
        ntn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SourceRecord>, SourceError>> {
        Box::pin(async move {
            let txn = short_txn(ntn);
            let line = request(&txn, &self.id, subject);
            if let Some(mut conn) = self.take() {
                match self.exchange(&mut conn, line.as_bytes(), &txn).await {
                    Ok((hits, keep)) => {
                        if keep {
                            self.put(conn);
                        }
                        return Ok(hits);
                    }
                    Err(Failure::Error(e)) => return Err(e),
                    Err(Failure::Closed(_)) => {}
                }
            }
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|e| SourceError::Unavailable(format!("connecting: {e}")))?;
            let _ = stream.set_nodelay(true);
            let mut conn = BufReader::new(stream);
            match self.exchange(&mut conn, line.as_bytes(), &txn).await {
                Ok((hits, keep)) => {
                    if keep {
                        self.put(conn);
                    }
                    Ok(hits)
                }
                Err(Failure::Error(e)) => Err(e),
                Err(Failure::Closed(why)) => Err(SourceError::Unavailable(why)),
            }
        })
    }
}

/// The eight-character transaction id the format carries: the last eight
/// letters and digits of the NTN.
pub fn short_txn(ntn: &str) -> String {
    let an: Vec<char> = ntn.chars().filter(char::is_ascii_alphanumeric).collect();
    let tail: String = an[an.len().saturating_sub(8)..].iter().collect();
    fit(&tail, 8).trim_end().to_owned()
}

/// `s` as exactly `w` printable ASCII characters.
fn fit(s: &str, w: usize) -> String {
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

/// The request line, with its LF.
pub fn request(txn: &str, source: &str, s: &Subject) -> String {
    let ssn: String = s
        .ssn
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let line = [
        "QR".to_owned(),
        fit(txn, 8),
        fit(source, 16),
        fit(s.last.as_deref().unwrap_or(""), 25),
        fit(s.first.as_deref().unwrap_or(""), 15),
        fit(s.middle.as_deref().unwrap_or(""), 15),
        date8(s.dob),
        match s.sex {
            Some(Sex::Male) => "M",
            Some(Sex::Female) => "F",
            None => " ",
        }
        .to_owned(),
        fit(if ssn.len() == 9 { &ssn } else { "" }, 9),
        fit(s.fbi.as_deref().unwrap_or(""), 9),
        fit(s.state_id.as_deref().unwrap_or(""), 10),
        fit(s.aliases.first().map_or("", String::as_str), 25),
        "\n".to_owned(),
    ]
    .concat();
    debug_assert_eq!(line.len(), REQUEST_LEN + 1);
    line
}

/// An answer being read line by line.
#[derive(Debug)]
pub struct Answer {
    txn: String,
    expected: usize,
    hits: Vec<SourceRecord>,
    /// The error the header announced.
    error: Option<SourceError>,
    /// Whether the connection may be reused.
    keep: bool,
}

fn status_error(status: &str, message: &str) -> SourceError {
    let code = match status {
        "10" => "malformed_request",
        "11" => "invalid_field",
        "12" => "insufficient_descriptors",
        "20" => "unknown_source",
        "21" => "wrong_protocol",
        "30" => "payload_too_large",
        "90" => "source_error",
        _ => "internal",
    };
    SourceError::from_code(code, message)
}

impl Answer {
    /// Starts from the header line.
    pub fn start(source: &str, txn: &str, header: &str) -> Result<Answer, SourceError> {
        if header.len() != HEADER_LEN || !header.starts_with("HD") {
            return Err(SourceError::malformed("no header line"));
        }
        if header[2..10].trim_end() != txn {
            return Err(SourceError::malformed(
                "the answer is for another transaction",
            ));
        }
        let status = &header[26..28];
        let count: usize = number(&header[28..32])
            .ok_or_else(|| SourceError::malformed("a bad hit count"))?
            as usize;
        let message = header[32..92].trim_end();
        let error = if status == "00" {
            if header[10..26].trim_end() != source {
                return Err(SourceError::malformed("the answer is for another source"));
            }
            None
        } else {
            if count != 0 {
                return Err(SourceError::malformed("an error answer with hits"));
            }
            Some(status_error(status, message))
        };
        Ok(Answer {
            txn: txn.to_owned(),
            expected: count,
            hits: Vec::with_capacity(count),
            keep: status != "30",
            error,
        })
    }

    /// Reads a hit or the trailer; true once the trailer is read.
    pub fn line(&mut self, l: &str) -> Result<bool, SourceError> {
        if l.starts_with("TR") {
            if l.len() != TRAILER_LEN || l[2..10].trim_end() != self.txn {
                return Err(SourceError::malformed("a bad trailer"));
            }
            if number(&l[10..14]) != Some(self.expected as u32) || self.hits.len() != self.expected
            {
                return Err(SourceError::malformed(
                    "the hit count differs from the hits",
                ));
            }
            return Ok(true);
        }
        if self.error.is_some() || self.hits.len() >= self.expected {
            return Err(SourceError::malformed("more hits than the header counts"));
        }
        self.hits.push(hit(l)?);
        Ok(false)
    }

    /// The hits, and whether the connection may be reused.
    pub fn finish(self) -> Result<(Vec<SourceRecord>, bool), SourceError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.hits, self.keep)),
        }
    }
}

fn number(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn text(s: &str) -> Option<String> {
    let t = s.trim_end();
    (!t.is_empty()).then(|| t.to_owned())
}

fn date(s: &str) -> Result<Option<Date>, SourceError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let n = |r: std::ops::Range<usize>| number(&s[r]);
    match (n(0..4), n(4..6), n(6..8)) {
        (Some(y), Some(m), Some(d)) => Date::new(y as u16, m as u8, d as u8)
            .map(Some)
            .ok_or_else(|| SourceError::malformed("a date that does not exist")),
        _ => Err(SourceError::malformed("a bad date")),
    }
}

fn day8(s: &str) -> Result<Option<Day>, SourceError> {
    Ok(date(s)?.map(day))
}

fn flag(s: &str) -> Result<Option<bool>, SourceError> {
    match s {
        "Y" => Ok(Some(true)),
        "N" => Ok(Some(false)),
        " " => Ok(None),
        _ => Err(SourceError::malformed("a bad flag")),
    }
}

fn code(s: &str, table: &[(&str, &str)]) -> Result<Option<String>, SourceError> {
    if s == " " {
        return Ok(None);
    }
    table
        .iter()
        .find(|(c, _)| *c == s)
        .map(|(_, v)| Some((*v).to_owned()))
        .ok_or_else(|| SourceError::malformed("an unknown code"))
}

/// One hit line.
pub fn hit(l: &str) -> Result<SourceRecord, SourceError> {
    if l.len() != HIT_LEN || !l.starts_with("HT") {
        return Err(SourceError::malformed("a hit line of the wrong length"));
    }
    let f = |a: usize, len: usize| &l[a..a + len];
    let record_id = text(f(6, 28)).ok_or_else(|| SourceError::malformed("no record id"))?;
    let control_number = text(f(34, 16)).unwrap_or_default();
    let kind = f(50, 2);
    let matched_on = match f(52, 1) {
        "I" => MatchedOn::Identifier,
        "D" => MatchedOn::NameAndDob,
        "N" => MatchedOn::NameOnly,
        _ => return Err(SourceError::malformed("a bad matched-on code")),
    };
    let sex = match f(116, 1) {
        "M" => Some(Sex::Male),
        "F" => Some(Sex::Female),
        " " => None,
        _ => return Err(SourceError::malformed("a bad sex code")),
    };
    let subject = Descriptors {
        last: text(f(53, 25)),
        first: text(f(78, 15)),
        middle: text(f(93, 15)),
        dob: date(f(108, 8))?,
        sex,
        ssn: text(f(117, 9)),
        fbi: text(f(126, 9)),
        state_id: text(f(135, 10)),
        aliases: text(f(145, 25)).into_iter().collect(),
    };
    let d = &l[170..270];
    let g = |a: usize, len: usize| &d[a..a + len];
    let content = match kind {
        "CR" => Content::Criminal(Criminal {
            offence_class: code(g(0, 1), &[("F", "felony"), ("M", "misdemeanour")])?,
            domestic_violence: flag(g(1, 1))?,
            arrest_date: day8(g(2, 8))?,
            disposition: code(
                g(10, 1),
                &[
                    ("C", "convicted"),
                    ("A", "acquitted"),
                    ("D", "dismissed"),
                    ("P", "pending"),
                ],
            )?,
            disposition_date: day8(g(11, 8))?,
            sentence_max_months: match g(19, 4) {
                "    " => None,
                m => Some(number(m).ok_or_else(|| SourceError::malformed("bad max months"))?),
            },
            offence: text(g(23, 60)),
        }),
        "WA" => Content::Wanted(Wanted {
            warrant_type: code(
                g(0, 1),
                &[
                    ("A", "arrest"),
                    ("B", "bench"),
                    ("P", "probation_violation"),
                    ("R", "parole_violation"),
                ],
            )?,
            felony: flag(g(1, 1))?,
            date: day8(g(2, 8))?,
            issuing_agency: text(g(10, 9)),
            offence: text(g(19, 60)),
        }),
        "PO" => Content::ProtectionOrder(ProtectionOrder {
            issued: day8(g(0, 8))?,
            expires: day8(g(8, 8))?,
            intimate_partner: flag(g(16, 1))?,
            hearing_with_notice: flag(g(17, 1))?,
            credible_threat: flag(g(18, 1))?,
            court: text(g(19, 60)),
        }),
        "MH" => Content::MentalHealth(MentalHealth {
            adjudication: code(g(0, 1), &[("C", "committed"), ("A", "adjudicated")])?,
            date: day8(g(1, 8))?,
            relief_granted: flag(g(9, 1))?,
            authority: text(g(10, 60)),
        }),
        "DU" => Content::DrugUse(DrugUse {
            basis: code(
                g(0, 1),
                &[
                    ("C", "conviction"),
                    ("M", "multiple_arrests"),
                    ("A", "admission"),
                    ("T", "positive_test"),
                ],
            )?,
            date: day8(g(1, 8))?,
        }),
        "DD" => Content::Discharge(Discharge {
            discharge: code(g(0, 1), &[("D", "dishonourable"), ("B", "bad_conduct")])?,
            date: day8(g(1, 8))?,
            branch: text(g(9, 20)),
        }),
        "RC" => Content::Renounced(Renounced {
            date: day8(g(0, 8))?,
        }),
        "IM" => Content::Immigration(Immigration {
            status: code(
                g(0, 1),
                &[
                    ("I", "illegal"),
                    ("N", "nonimmigrant_visa"),
                    ("L", "lawful_permanent_resident"),
                    ("C", "citizen"),
                ],
            )?,
            alien_number: text(g(1, 10)),
            as_of: day8(g(11, 8))?,
            visa_class: text(g(19, 6)),
        }),
        "IN" => Content::Indictment(Indictment {
            felony: flag(g(0, 1))?,
            date: day8(g(1, 8))?,
            court: text(g(9, 40)),
            charge: text(g(49, 51)),
        }),
        "CO" => Content::Corrections(Corrections {
            custody: code(
                g(0, 1),
                &[
                    ("I", "incarcerated"),
                    ("P", "parole"),
                    ("B", "probation"),
                    ("R", "released"),
                ],
            )?,
            since: day8(g(1, 8))?,
            facility: text(g(9, 40)),
            offence: text(g(49, 51)),
        }),
        _ => return Err(SourceError::malformed("an unknown kind code")),
    };
    Ok(SourceRecord {
        record_id,
        control_number,
        matched_on,
        subject,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_hit() -> String {
        let detail = fit(
            &format!("FN20200101C202101010240{}", fit("BURGLARY", 60)),
            100,
        );
        [
            "HT0001".to_owned(),
            fit("fbi-iii:0000000001", 28),
            fit("III48271013", 16),
            "CR".into(),
            "D".into(),
            fit("HARRINGTON", 25),
            fit("WILLIAM", 15),
            fit("", 15),
            "19681102".into(),
            "M".into(),
            "900123456".into(),
            fit("482913KA7", 9),
            fit("", 10),
            fit("MOORE", 25),
            detail,
        ]
        .concat()
    }

    #[test]
    fn reads_an_answer() {
        let header = format!(
            "HD{}{}000001{}",
            fit("T1", 8),
            fit("fbi-iii", 16),
            fit("OK", 60)
        );
        let mut a = Answer::start("fbi-iii", "T1", &header).unwrap();
        assert!(!a.line(&sample_hit()).unwrap());
        assert!(a.line(&format!("TR{}0001", fit("T1", 8))).unwrap());
        let (hits, keep) = a.finish().unwrap();
        assert!(keep);
        let h = &hits[0];
        assert_eq!(h.subject.aliases, vec!["MOORE".to_owned()]);
        assert_eq!(h.subject.dob, Date::new(1968, 11, 2));
        let Content::Criminal(c) = &h.content else {
            panic!()
        };
        assert_eq!(c.disposition.as_deref(), Some("convicted"));
        assert_eq!(c.sentence_max_months, Some(240));
        assert_eq!(c.offence.as_deref(), Some("BURGLARY"));
    }

    #[test]
    fn refuses_malformed_answers() {
        let header = format!(
            "HD{}{}000001{}",
            fit("T1", 8),
            fit("fbi-iii", 16),
            fit("OK", 60)
        );
        assert!(Answer::start("fbi-iii", "T2", &header).is_err());
        assert!(Answer::start("fbi-iii", "T1", &header[..91]).is_err());
        assert!(Answer::start("other", "T1", &header).is_err());
        let good = sample_hit();
        for bad in [
            good[..269].to_owned(),
            good.replacen("CRD", "XXD", 1),
            good.replacen("19681102", "19681302", 1),
            good.replacen("FN2020", "QN2020", 1),
        ] {
            assert!(hit(&bad).is_err(), "{bad}");
        }
        // A trailer whose count differs from the hits read.
        let mut a = Answer::start("fbi-iii", "T1", &header).unwrap();
        assert!(a.line(&format!("TR{}0001", fit("T1", 8))).is_err());
        let err = format!(
            "HD{}{}120000{}",
            fit("T1", 8),
            fit("", 16),
            fit("need more", 60)
        );
        let a = Answer::start("fbi-iii", "T1", &err).unwrap();
        assert!(
            matches!(a.finish(), Err(SourceError::Refused { code, .. }) if code == "insufficient_descriptors")
        );
        let err = format!("HD{}{}900000{}", fit("T1", 8), fit("", 16), fit("x", 60));
        let a = Answer::start("fbi-iii", "T1", &err).unwrap();
        assert!(matches!(a.finish(), Err(SourceError::Unavailable(_))));
    }

    #[test]
    fn requests_are_143_characters() {
        let s = Descriptors {
            first: Some("Zoë".into()),
            last: Some("A very long surname that does not fit the field".into()),
            ssn: Some("900-12-3456".into()),
            ..Descriptors::default()
        };
        let r = request("T1", "ncic-wanted", &s);
        assert_eq!(r.len(), REQUEST_LEN + 1);
        assert_eq!(&r[90..99], "900123456");
        assert_eq!(short_txn("0190ABCD-1234-5678"), "12345678");
    }

    /// A tiny server that answers each request with the given bytes and
    /// then closes.
    async fn serve_once(answer: &'static [u8]) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = vec![0u8; REQUEST_LEN + 1];
                if s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(answer).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn closed_partial_and_garbage_answers() {
        let subject = Descriptors {
            first: Some("A".into()),
            last: Some("B".into()),
            dob: Date::new(1970, 1, 1),
            ..Descriptors::default()
        };
        let closed = FixedSource::new("x", &serve_once(b"").await);
        assert!(matches!(
            closed.search(&subject, "N00000001").await,
            Err(SourceError::Unavailable(_))
        ));
        let partial = FixedSource::new("x", &serve_once(b"HD0000000").await);
        assert!(matches!(
            partial.search(&subject, "N00000001").await,
            Err(SourceError::Malformed(_) | SourceError::Unavailable(_))
        ));
        let garbage = FixedSource::new("x", &serve_once(b"hello there\n").await);
        assert!(matches!(
            garbage.search(&subject, "N00000001").await,
            Err(SourceError::Malformed(_))
        ));
        let refused = FixedSource::new("x", "127.0.0.1:1");
        assert!(matches!(
            refused.search(&subject, "N00000001").await,
            Err(SourceError::Unavailable(_))
        ));
    }
}
