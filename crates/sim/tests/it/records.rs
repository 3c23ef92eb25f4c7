//! The record sources over their three wire formats, against a small
//! seeded population: known subjects are found under noisy queries, clean
//! ones are not, bad requests get the documented errors, faults bite.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plaza_sim::people::{self, Rng, names};
use plaza_sim::records::{
    self, Faults, KnownSubject, LocalRecords, Profile, Shape, Subject, fixed, known_subjects_with,
    niem,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SEED: u64 = 4242;
/// About 20,000 records.
const SCALE: f64 = 0.002;

/// One seeded folder for the whole test binary.
fn data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = plaza_kernel::testing::temp_dir("sim-records");
        let m = records::seed(&dir, &Shape::new(SEED, SCALE), |_| {}).expect("seed");
        assert!((20_000..21_000).contains(&m.total()), "{}", m.total());
        dir
    })
}

async fn start() -> LocalRecords {
    // The tests' HTTP clients need the process's TLS crypto (the workspace
    // builds reqwest without a default provider).
    plaza_kernel::install_crypto_provider();
    records::start_local(data()).await.expect("records start")
}

fn subject_of(k: &KnownSubject) -> Subject {
    let p = &k.person;
    Subject {
        first: Some(p.first.clone()),
        middle: p.middle.clone(),
        last: Some(p.last.clone()),
        aliases: Vec::new(),
        dob: Some(p.dob),
        sex: Some(p.sex),
        ssn: None,
        fbi: None,
        state_id: None,
    }
}

/// What an applicant's form says, with a nickname and a typo in the
/// surname, and no identifiers.
fn noisy(k: &KnownSubject) -> Subject {
    let mut s = subject_of(k);
    let nicks = names::nicknames_of(&k.person.first);
    s.first = Some(nicks[0].to_owned());
    let mut rng = Rng::new(k.index);
    s.last = Some(people::typo(&mut rng, &k.person.last));
    s
}

fn first_with(profile: Profile) -> KnownSubject {
    known_subjects_with(SEED, profile).remove(0)
}

fn clean() -> Vec<KnownSubject> {
    known_subjects_with(SEED, Profile::Clean)
}

fn subject_json(s: &Subject) -> Value {
    json!({
        "first": s.first, "middle": s.middle, "last": s.last, "aliases": s.aliases,
        "dob": s.dob.map(|d| d.to_string()),
        "sex": s.sex.map(|x| if x == people::Sex::Male { "M" } else { "F" }),
        "ssn": s.ssn, "fbi": s.fbi, "state_id": s.state_id,
    })
}

async fn json_search(base: &str, source: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/records/v1/{source}/search"))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn xml_search(base: &str, source: &str, body: String) -> (u16, niem::Element) {
    let r = reqwest::Client::new()
        .post(format!("{base}/records/niem/v1/{source}/search"))
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        niem::parse(&text).unwrap_or_else(|e| panic!("answer is XML: {e}: {text}")),
    )
}

fn xml_hits(doc: &niem::Element) -> Vec<String> {
    doc.children_named(niem::NS_RS, "Hit")
        .map(|h| h.child(niem::NS_RS, "RecordID").unwrap().text.clone())
        .collect()
}

fn xml_error_code(doc: &niem::Element) -> String {
    assert_eq!(doc.name, "RecordSearchError");
    doc.child(niem::NS_RS, "ErrorCode").unwrap().text.clone()
}

/// Sends `bytes` (in pieces when `split`) and reads one answer.
async fn fixed_exchange(conn: &mut TcpStream, bytes: &[u8], split: bool) -> String {
    if split {
        let (a, b) = bytes.split_at(bytes.len() / 3);
        conn.write_all(a).await.unwrap();
        conn.flush().await.unwrap();
        conn.write_all(b).await.unwrap();
    } else {
        conn.write_all(bytes).await.unwrap();
    }
    read_answer(conn).await
}

/// Reads until a trailer line is complete.
async fn read_answer(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(tr) = text.find("\nTR")
            && text[tr + 1..].contains('\n')
        {
            return text;
        }
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed mid-answer: {text:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

async fn fixed_search(addr: std::net::SocketAddr, source: &str, s: &Subject) -> fixed::Answer {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let line = fixed::request_line("T0000042", source, s) + "\r\n";
    fixed::parse_answer(&fixed_exchange(&mut conn, line.as_bytes(), true).await).unwrap()
}

#[tokio::test]
async fn json_finds_a_felony_conviction_under_a_nickname_and_a_typo_and_not_a_clean_person() {
    let sim = start().await;
    let felon = first_with(Profile::FelonyConviction);
    let body = json!({"transaction_id": "NTN-1", "subject": subject_json(&noisy(&felon))});
    let (status, answer) = json_search(&sim.base, "fbi-iii", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["transaction_id"], "NTN-1");
    let hit = answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["record_id"] == felon.record_ids[0].as_str())
        .unwrap_or_else(|| panic!("{} among {answer}", felon.record_ids[0]));
    assert_eq!(hit["kind"], "criminal");
    assert_eq!(hit["matched_on"], "name_and_dob");
    assert_eq!(hit["criminal"]["offence_class"], "felony");
    assert_eq!(hit["criminal"]["disposition"], "convicted");
    assert!(hit["criminal"]["sentence_max_months"].as_u64().unwrap() > 12);
    assert_eq!(hit["subject"]["dob"], felon.person.dob.to_string());

    for c in clean() {
        for source in ["fbi-iii", "ice-status", "tx-criminal", "ma-courts"] {
            let body = json!({"subject": subject_json(&subject_of(&c))});
            let (status, answer) = json_search(&sim.base, source, &body).await;
            assert_eq!(status, 200);
            assert_eq!(answer["hit_count"], 0, "{source}: {answer}");
        }
    }

    // An identifier alone finds the record too.
    let by_ssn = json!({"subject": {"ssn": felon.person.ssn}});
    let (_, answer) = json_search(&sim.base, "fbi-iii", &by_ssn).await;
    assert!(
        answer["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["matched_on"] == "identifier"
                && h["record_id"] == felon.record_ids[0].as_str())
    );
}

#[tokio::test]
async fn json_refuses_bad_requests_with_documented_codes() {
    let sim = start().await;
    let ok = json!({"subject": {"first": "A", "last": "B", "dob": "1970-01-01"}});
    let cases = [
        ("nope", ok.clone(), 404, "unknown_source"),
        ("nics-mental", ok.clone(), 404, "wrong_protocol"),
        (
            "fbi-iii",
            json!({"subject": {"first": "A", "last": "B", "dob": "1970-13-01"}}),
            400,
            "invalid_field",
        ),
        (
            "fbi-iii",
            json!({"subject": {"last": "B", "sex": "X", "dob": "1970-01-01"}}),
            400,
            "invalid_field",
        ),
        (
            "fbi-iii",
            json!({"subject": {"first": "A", "last": "B"}}),
            422,
            "insufficient_descriptors",
        ),
        (
            "fbi-iii",
            json!({"subject": {"first": "A", "surname": "B"}}),
            400,
            "malformed_request",
        ),
        (
            "fbi-iii",
            json!({"subject": {"first": "A", "last": "B".repeat(65), "dob": "1970-01-01"}}),
            400,
            "invalid_field",
        ),
    ];
    for (source, body, status, code) in cases {
        let (s, answer) = json_search(&sim.base, source, &body).await;
        assert_eq!(
            (s, answer["error"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let r = reqwest::Client::new()
        .post(format!("{}/records/v1/fbi-iii/search", sim.base))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "malformed_request");

    let cat: Value = reqwest::get(format!("{}/records/v1/catalogue", sim.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sources = cat["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 27);
    assert_eq!(cat["fixed_width_address"], sim.fixed.to_string());
    let total: u64 = sources.iter().map(|s| s["records"].as_u64().unwrap()).sum();
    assert_eq!(cat["total_records"], total);
}

#[tokio::test]
async fn xml_finds_a_commitment_under_swapped_names_and_refuses_malformed_documents() {
    let sim = start().await;
    let committed = first_with(Profile::MentalCommitment);
    let mut s = subject_of(&committed);
    std::mem::swap(&mut s.first, &mut s.last);
    let (status, doc) = xml_search(&sim.base, "nics-mental", niem::request_xml("X-7", &s)).await;
    assert_eq!(status, 200);
    assert_eq!(doc.name, "RecordSearchResponse");
    assert_eq!(doc.child(niem::NS_RS, "TransactionID").unwrap().text, "X-7");
    assert!(xml_hits(&doc).contains(&committed.record_ids[0]), "{doc:?}");
    let hit = doc
        .children_named(niem::NS_RS, "Hit")
        .find(|h| h.child(niem::NS_RS, "RecordID").unwrap().text == committed.record_ids[0])
        .unwrap();
    let mh = hit.child(niem::NS_RS, "MentalHealth").unwrap();
    assert_eq!(
        mh.child(niem::NS_RS, "Adjudication").unwrap().text,
        "committed"
    );
    assert_eq!(
        mh.child(niem::NS_RS, "ReliefGranted").unwrap().text,
        "false"
    );

    for c in clean() {
        let (status, doc) = xml_search(
            &sim.base,
            "nics-mental",
            niem::request_xml("X-8", &subject_of(&c)),
        )
        .await;
        assert_eq!(status, 200);
        assert!(xml_hits(&doc).is_empty());
    }

    for (body, status, code) in [
        (
            "<rs:RecordSearchRequest xmlns:rs='urn:plaza:sim:records:1'><nc:Person>".to_owned(),
            400,
            "malformed_request",
        ),
        ("not xml at all".to_owned(), 400, "malformed_request"),
        (
            "<!DOCTYPE x [<!ENTITY a 'b'>]><x/>".to_owned(),
            400,
            "malformed_request",
        ),
        (
            "<a xmlns='urn:other'/>".to_owned(),
            400,
            "malformed_request",
        ),
        (
            niem::request_xml(
                "X",
                &Subject {
                    last: Some("Lee".into()),
                    ..Subject::default()
                },
            ),
            422,
            "insufficient_descriptors",
        ),
        (
            niem::request_xml("X", &subject_of(&committed))
                .replace(&committed.person.dob.to_string(), "31/12/1970"),
            400,
            "invalid_field",
        ),
        ("<x>".repeat(40_000), 413, "payload_too_large"),
    ] {
        let (s, doc) = xml_search(&sim.base, "nics-mental", body.clone()).await;
        assert_eq!(
            (s, xml_error_code(&doc).as_str()),
            (status, code),
            "{}",
            &body[..body.len().min(80)]
        );
    }
    let (s, doc) = xml_search(
        &sim.base,
        "fbi-iii",
        niem::request_xml("X", &subject_of(&committed)),
    )
    .await;
    assert_eq!((s, xml_error_code(&doc).as_str()), (404, "wrong_protocol"));
}

#[tokio::test]
async fn fixed_width_finds_a_warrant_handles_partial_reads_and_garbage() {
    let sim = start().await;
    let wanted = first_with(Profile::FelonyWarrant);
    let answer = fixed_search(sim.fixed, "ncic-wanted", &noisy(&wanted)).await;
    assert_eq!(answer.status, "00", "{answer:?}");
    assert_eq!(answer.transaction_id, "T0000042");
    let hit = answer
        .hits
        .iter()
        .find(|h| h.record_id == wanted.record_ids[0])
        .unwrap_or_else(|| panic!("{answer:?}"));
    assert_eq!(hit.kind, records::RecordKind::Wanted);
    assert_eq!(hit.dob, Some(wanted.person.dob));
    assert_eq!(&hit.detail[..2], "AY", "arrest warrant, felony");

    for c in clean() {
        let a = fixed_search(sim.fixed, "ncic-wanted", &subject_of(&c)).await;
        assert_eq!((a.status.as_str(), a.hits.len()), ("00", 0));
    }

    // Several requests on one connection, some of them bad.
    let mut conn = TcpStream::connect(sim.fixed).await.unwrap();
    let good = fixed::request_line(
        "T1",
        "ma-protection",
        &subject_of(&first_with(Profile::ExpiredProtectionOrder)),
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"hello\n".to_vec(), "10"),
        (b"QR\x00\x01\xfe garbage\n".to_vec(), "10"),
        (format!("{}\n", &good[..good.len() - 1]).into_bytes(), "10"),
        (
            format!(
                "{}\n",
                good.replacen("ma-protection   ", "nowhere         ", 1)
            )
            .into_bytes(),
            "20",
        ),
        (
            format!(
                "{}\n",
                good.replacen("ma-protection   ", "fbi-iii         ", 1)
            )
            .into_bytes(),
            "21",
        ),
        (
            format!(
                "{}\n",
                fixed::request_line(
                    "T2",
                    "ma-protection",
                    &Subject {
                        last: Some("X".into()),
                        ..Subject::default()
                    }
                )
            )
            .into_bytes(),
            "12",
        ),
        (format!("{good}\n").into_bytes(), "00"),
    ];
    for (bytes, status) in cases {
        let a = fixed::parse_answer(&fixed_exchange(&mut conn, &bytes, false).await).unwrap();
        assert_eq!(
            a.status,
            status,
            "{:?}: {a:?}",
            String::from_utf8_lossy(&bytes)
        );
        if status == "00" {
            assert_eq!(a.hits.len(), 1);
            assert_eq!(a.hits[0].kind, records::RecordKind::ProtectionOrder);
        } else {
            assert!(a.hits.is_empty() && !a.message.is_empty());
        }
    }

    // An oversize line is answered with status 30 and the connection closed.
    let mut conn = TcpStream::connect(sim.fixed).await.unwrap();
    conn.write_all(&[b'A'; fixed::MAX_LINE + 10]).await.unwrap();
    let mut rest = String::new();
    conn.read_to_string(&mut rest).await.unwrap();
    assert_eq!(fixed::parse_answer(&rest).unwrap().status, "30");
}

async fn set_faults(base: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/records/v1/admin/faults"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn faults_give_errors_and_outages_on_every_format() {
    let sim = start().await;
    let felon = first_with(Profile::FelonyConviction);
    let body = json!({"subject": subject_json(&subject_of(&felon))});
    let s = subject_of(&felon);

    let (status, _) = set_faults(
        &sim.base,
        json!({"source": "*", "faults": {"latency_ms": [0, 0], "error_rate": 1.0}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = json_search(&sim.base, "fbi-iii", &body).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("source_error"))
    );
    let (status, doc) = xml_search(&sim.base, "nics-mental", niem::request_xml("F", &s)).await;
    assert_eq!(
        (status, xml_error_code(&doc).as_str()),
        (503, "source_error")
    );
    assert_eq!(
        fixed_search(sim.fixed, "ncic-wanted", &s).await.status,
        "90"
    );

    // Outage of some sources: their connections close unanswered, the
    // others still answer.
    let (status, _) = set_faults(
        &sim.base,
        json!([
            {"source": "*", "faults": {"latency_ms": [0, 0]}},
            {"source": "fbi-iii", "faults": {"outage": true}},
            {"source": "nics-mental", "faults": {"outage": true}},
            {"source": "ncic-wanted", "faults": {"outage": true}},
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let fresh = reqwest::Client::new();
    let err = fresh
        .post(format!("{}/records/v1/fbi-iii/search", sim.base))
        .json(&body)
        .send()
        .await;
    assert!(err.is_err(), "an outage closes the connection: {err:?}");
    let err = fresh
        .post(format!("{}/records/niem/v1/nics-mental/search", sim.base))
        .body(niem::request_xml("F", &s))
        .send()
        .await;
    assert!(err.is_err());
    let mut conn = TcpStream::connect(sim.fixed).await.unwrap();
    conn.write_all(format!("{}\n", fixed::request_line("T", "ncic-wanted", &s)).as_bytes())
        .await
        .unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "closed without an answer");
    let (status, _) = json_search(&sim.base, "tx-criminal", &body).await;
    assert_eq!(status, 200, "other sources still answer");
    assert_eq!(
        fixed_search(sim.fixed, "ma-protection", &s).await.status,
        "00"
    );

    // Back up.
    set_faults(
        &sim.base,
        json!({"source": "fbi-iii", "faults": {"latency_ms": [0, 0]}}),
    )
    .await;
    let (status, answer) = json_search(&sim.base, "fbi-iii", &body).await;
    assert_eq!(status, 200);
    assert!(answer["hit_count"].as_u64().unwrap() >= 1);

    // Bad settings are refused whole.
    for bad in [
        json!({"source": "nowhere", "faults": {}}),
        json!({"source": "*", "faults": {"error_rate": 2.0}}),
        json!({"source": "*", "faults": {"latency_ms": [9, 1]}}),
        json!({"source": "*", "faults": {"typo": 1}}),
    ] {
        let (status, answer) = set_faults(&sim.base, bad.clone()).await;
        assert!(status == 400 || status == 404, "{bad}: {status}");
        assert!(answer["error"].is_string());
    }
    let current: Value = reqwest::get(format!("{}/records/v1/admin/faults", sim.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["faults"]["nics-mental"]["outage"], true);
    assert_eq!(current["faults"]["fbi-iii"]["outage"], false);
}

#[test]
fn known_subjects_are_found_in_process_in_every_source_they_are_planted_in() {
    let recs = records::Records::open(data(), Faults::none()).unwrap();
    for i in 0..records::KNOWN_SUBJECTS {
        let k = records::known_subject(SEED, i);
        for id in &k.record_ids {
            let source = id.split_once(':').unwrap().0;
            let (s, _) = records::catalogue::source(source).unwrap();
            let hits = recs.search(s, &noisy(&k)).unwrap();
            assert!(
                hits.iter().any(|h| &h.record.record_id == id),
                "{:?} {id}",
                k.profile
            );
            assert!(
                hits.iter()
                    .all(|h| h.record.person_id == i
                        || h.matched_on != records::MatchedOn::Identifier)
            );
        }
        if k.profile == Profile::Clean {
            for s in 0..records::CATALOGUE.len() {
                assert!(recs.search(s, &subject_of(&k)).unwrap().is_empty());
            }
        }
    }
    assert!(recs.resident_bytes() < 1 << 20);
}

proptest! {
    #[test]
    fn fixed_width_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = fixed::parse_request(&bytes);
        let _ = fixed::parse_answer(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn fixed_width_requests_of_the_right_length_never_panic(s in "[ -~]{143}") {
        let _ = fixed::parse_request(s.as_bytes());
    }

    #[test]
    fn xml_parser_never_panics(s in "\\PC{0,300}") {
        let _ = niem::parse(&s);
    }

    #[test]
    fn xml_parser_never_panics_on_xml_like_input(parts in proptest::collection::vec(
        prop_oneof![
            Just("<"), Just(">"), Just("</"), Just("/>"), Just("a"), Just("nc:"), Just("x:y"),
            Just(" xmlns:nc='u'"), Just("='"), Just("'"), Just("&amp;"), Just("&#x"), Just(";"),
            Just("<!--"), Just("-->"), Just("<![CDATA["), Just("]]>"), Just("<?"), Just("?>"), Just("é"),
        ], 0..60)) {
        let doc = parts.concat();
        let _ = niem::parse(&doc);
        if let Ok(el) = niem::parse(&doc) {
            let _ = niem::request_from(&el);
        }
    }
}
