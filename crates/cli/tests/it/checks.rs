//! Firearm permits with real background checks, through the `plaza`
//! binary: applicants apply over REST, the permits service asks for a
//! check with the applicant's identifiers as vault tokens, the checks
//! service reads them back from the vault and asks the 27 simulated record
//! sources over HTTP and TCP, and the answer comes back into the
//! application. A Delayed check waits for an examiner, who sees the
//! evidence and resolves it; every step is in the audit log.

use std::time::{Duration, Instant};

use base64::Engine as _;
use plaza_kernel::testing::{temp_dir, unique};
use plaza_sim::records::{self, Expected, KnownSubject, Profile, Shape};
use serde_json::{Value, json};

use super::{Server, public_client, user_token};

const SEED: u64 = 2026;

/// Record sources seeded small (about ten thousand records) and served on
/// free ports by this test process, as `plaza-sim --records` would.
async fn sources(dir: &std::path::Path) -> records::LocalRecords {
    records::seed(dir, &Shape::new(SEED, 0.001), |_| {}).expect("seeding the sources");
    records::start_local(dir)
        .await
        .expect("serving the sources")
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        plaza_kernel::install_crypto_provider();
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", unique("k"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Applies for an Illinois FOID as the known subject writes themself
    /// on the form, and has the clerk record the documents: the
    /// application's id, its check requested.
    async fn apply(&self, citizen: &str, clerk: &str, k: &KnownSubject) -> String {
        let p = &k.person;
        let (status, a) = self
            .post(
                citizen,
                "/v1/permit-applications",
                json!({"permit_type": "il-foid", "resident": true, "applicant": {
                    "given_name": p.first, "family_name": p.last,
                    "birth_date": format!("{:04}-{:02}-{:02}", p.dob.year, p.dob.month, p.dob.day),
                    "address": "1 Main St, Springfield IL 62701"}}),
            )
            .await;
        assert_eq!(status, 201, "{a}");
        let id = a["id"].as_str().unwrap().to_owned();
        let (status, a) = self
            .post(
                clerk,
                &format!("/v1/permit-applications/{id}/events"),
                json!({"event": "documents_received"}),
            )
            .await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["state"], "check_pending");
        id
    }

    /// The application once its check has answered, and the check's NTN
    /// (from the timeline line that records it).
    async fn checked(&self, citizen: &str, id: &str) -> (Value, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, a) = self
                .get(citizen, &format!("/v1/permit-applications/{id}"))
                .await;
            assert_eq!(status, 200, "{a}");
            if a["state"] != "check_pending" {
                let line = a["timeline"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["note"].as_str())
                    .find(|n| n.starts_with("Background check"))
                    .expect("the check's line")
                    .to_owned();
                let ntn = line
                    .split("(NTN ")
                    .nth(1)
                    .and_then(|r| r.split(')').next())
                    .expect("the NTN")
                    .to_owned();
                return (a, ntn);
            }
            assert!(Instant::now() < deadline, "no answer: {a}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The audit log's entries (as an auditor exports them), once at least
    /// `want` match `pred`.
    async fn audit_entries(
        &self,
        auditor: &str,
        want: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, head) = self.get(auditor, "/v1/audit/tree-head").await;
            let size = head["tree_size"].as_u64().unwrap_or(0);
            let mut all = Vec::new();
            let mut first = 0;
            while first < size {
                let last = (first + 1000).min(size);
                let (status, page) = self
                    .get(
                        auditor,
                        &format!("/v1/audit/entries?first={first}&last={last}"),
                    )
                    .await;
                assert_eq!(status, 200, "{page}");
                for e in page["entries"].as_array().unwrap() {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(e["entry"].as_str().unwrap())
                        .unwrap();
                    all.push(serde_json::from_slice::<Value>(&bytes).unwrap());
                }
                first = last;
            }
            let found: Vec<Value> = all.into_iter().filter(|e| pred(e)).collect();
            if found.len() >= want {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "only {} audit entries: {found:?}",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn subject(profile: Profile) -> KnownSubject {
    records::known_subjects_with(SEED, profile)
        .into_iter()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applicants_get_permits_through_real_background_checks_and_examiners_resolve_delays() {
    let dir = temp_dir("checks-e2e");
    let local = sources(&dir.join("records")).await;
    let env = [
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_CHECKS_SOURCES_URL", local.base.clone()),
        ("PLAZA_SHUTDOWN_DRAIN_MS", "1500".to_owned()),
    ];
    let mut server = Server::start(
        &["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
        &env,
    );
    let base = server.http.clone().unwrap();
    let api = Api::new(&base);
    let client = public_client(&env);
    let token = |role: &'static str, j: Option<&'static str>| {
        let (base, env, client) = (base.clone(), env.clone(), client.clone());
        async move { user_token(&base, &env, &client, role, j).await }
    };
    let clerk = token("clerk", Some("IL")).await;
    let officer = token("licensing_officer", Some("IL")).await;
    let ny_officer = token("licensing_officer", Some("NY")).await;
    let examiner = token("examiner", None).await;
    let auditor = token("auditor", None).await;

    // A person without a record: Proceed, then the officer issues.
    let clean = subject(Profile::Clean);
    let ann = token("citizen", None).await;
    let id = api.apply(&ann, &clerk, &clean).await;
    let (a, clean_ntn) = api.checked(&ann, &id).await;
    assert_eq!(a["state"], "officer_review", "{a}");
    let (status, issued) = api
        .post(
            &officer,
            &format!("/v1/permit-applications/{id}/decision"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["state"], "issued");
    // The officer sees the check's outcome and sources, not the records.
    let (status, c) = api.get(&officer, &format!("/v1/checks/{clean_ntn}")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["final_outcome"], "proceed");
    assert_eq!(c["sources"].as_array().unwrap().len(), 27);
    assert!(
        c["sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "answered"),
        "{c}"
    );
    assert!(c.get("evidence").is_none(), "{c}");
    // The applicant and another state's officer do not see it at all.
    assert_eq!(
        api.get(&ann, &format!("/v1/checks/{clean_ntn}")).await.0,
        404
    );
    assert_eq!(
        api.get(&ny_officer, &format!("/v1/checks/{clean_ntn}"))
            .await
            .0,
        404
    );

    // Continuous evaluation: the FBI's file reports a new felony
    // conviction of the holder (Rap Back); the permit goes to review.
    let sim = reqwest::Client::new();
    let r = sim
        .post(format!("{}/records/v1/admin/rapback", local.base))
        .json(&json!({"url": format!("{base}/v1/records/notices"), "secret": "whsec_plaza_sim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let p = &clean.person;
    let notice: Value = sim
        .post(format!("{}/records/v1/admin/rapback/notify", local.base))
        .json(
            &json!({"source": "fbi-iii", "first": p.first, "last": p.last,
            "dob": format!("{:04}-{:02}-{:02}", p.dob.year, p.dob.month, p.dob.day)}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notice["delivery_status"], 200, "{notice}");
    let ack: Value = serde_json::from_str(notice["delivery_answer"].as_str().unwrap()).unwrap();
    assert_eq!(ack["prohibitors"], json!(["922g1"]), "{ack}");
    assert_eq!(ack["moved"], json!([id]), "{ack}");
    let (_, held) = api
        .get(&ann, &format!("/v1/permit-applications/{id}"))
        .await;
    assert_eq!(held["state"], "under_review", "{held}");
    let (_, queue) = api.get(&officer, "/v1/permit-queue").await;
    assert!(
        queue["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["application_id"] == id.as_str()),
        "{queue}"
    );
    // The same notice again (a redelivery) moves nothing more; a notice
    // without the source's signature is refused.
    let r = api
        .http
        .post(format!("{base}/v1/records/notices"))
        .json(&notice["notice"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "checks.notice_signature_invalid");
    let again = notice["notice"].to_string();
    let t = plaza_kernel::clock::now_ms() / 1000;
    let r = api
        .http
        .post(format!("{base}/v1/records/notices"))
        .header(
            "Plaza-Sim-Signature",
            plaza_kernel::webhook::sign("whsec_plaza_sim", t, again.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(again)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ack: Value = r.json().await.unwrap();
    assert_eq!(ack["moved"], json!([]), "acted on once: {ack}");

    // A felon: Denied citing 922(g)(1) and the record; the officer denies.
    let felon = subject(Profile::FelonyConviction);
    let bob = token("citizen", None).await;
    let id = api.apply(&bob, &clerk, &felon).await;
    let (a, felon_ntn) = api.checked(&bob, &id).await;
    assert_eq!(a["state"], "officer_review", "{a}");
    let (_, c) = api.get(&officer, &format!("/v1/checks/{felon_ntn}")).await;
    assert_eq!(c["outcome"], "denied", "{c}");
    assert_eq!(c["prohibitors"], json!(["922g1"]));
    assert!(
        c["denials"].as_array().unwrap().iter().any(|d| felon
            .record_ids
            .contains(&d["record_id"].as_str().unwrap().to_owned())),
        "{c}"
    );
    let (status, denied) = api
        .post(
            &officer,
            &format!("/v1/permit-applications/{id}/decision"),
            json!({"decision": "deny", "reasons": ["922g1"]}),
        )
        .await;
    assert_eq!(status, 200, "{denied}");
    assert_eq!(denied["state"], "denied");

    // A pending felony charge with no disposition: Delayed, never Proceed;
    // the examiner sees the evidence and denies.
    let open = records::known_subjects_with(SEED, Profile::PendingFelonyCharge)
        .into_iter()
        .find(|k| k.profile.expected() == Expected::Delayed)
        .unwrap();
    let cy = token("citizen", None).await;
    let id = api.apply(&cy, &clerk, &open).await;
    let (a, open_ntn) = api.checked(&cy, &id).await;
    assert_eq!(a["state"], "check_delayed", "{a}");
    let (status, queue) = api.get(&examiner, "/v1/check-queue").await;
    assert_eq!(status, 200, "{queue}");
    let line = queue["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ntn"] == open_ntn.as_str())
        .unwrap_or_else(|| panic!("in the queue: {queue}"))
        .clone();
    assert_eq!(line["application_id"], id.as_str());
    assert!(!line["delays"].as_array().unwrap().is_empty(), "{line}");
    assert_eq!(api.get(&officer, "/v1/check-queue").await.0, 403);
    let (_, c) = api.get(&examiner, &format!("/v1/checks/{open_ntn}")).await;
    assert_eq!(c["status"], "review", "{c}");
    let evidence = &c["evidence"];
    assert_eq!(
        evidence["subject"]["family_name"]
            .as_str()
            .unwrap()
            .to_uppercase(),
        open.person.last.to_uppercase()
    );
    let matched: Vec<&str> = evidence["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["record_id"].as_str().unwrap())
        .collect();
    assert!(
        open.record_ids
            .iter()
            .any(|r| matched.contains(&r.as_str())),
        "{evidence}"
    );
    // Bad resolutions change nothing.
    let path = format!("/v1/checks/{open_ntn}/resolution");
    let (status, p) = api
        .post(&examiner, &path, json!({"decision": "maybe", "note": "x"}))
        .await;
    assert_eq!((status, p["code"].as_str()), (400, Some("checks.invalid")));
    let (status, p) = api
        .post(
            &examiner,
            &path,
            json!({"decision": "deny", "prohibitors": ["ny-nothing"], "note": "x"}),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (400, Some("checks.unknown_prohibitor")),
        "{p}"
    );
    let (status, p) = api
        .post(&officer, &path, json!({"decision": "proceed", "note": "x"}))
        .await;
    assert_eq!(status, 404, "an officer does not resolve: {p}");
    let (status, p) = api
        .post(
            &examiner,
            &format!("/v1/checks/{clean_ntn}/resolution"),
            json!({"decision": "deny", "prohibitors": ["922g1"], "note": "x"}),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("checks.not_in_review")),
        "{p}"
    );
    let resolution = json!({"decision": "deny", "prohibitors": ["922(n)"],
        "note": "Court record: felony indictment pending in Cook County."});
    let (status, r) = api.post(&examiner, &path, resolution.clone()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "resolved");
    assert_eq!(r["final_outcome"], "denied");
    assert_eq!(r["prohibitors"], json!(["922n"]));
    // The same decision again answers the same; another is refused.
    let (status, again) = api.post(&examiner, &path, resolution).await;
    assert_eq!(status, 200, "{again}");
    let (status, p) = api
        .post(
            &examiner,
            &path,
            json!({"decision": "proceed", "note": "changed my mind"}),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (409, Some("checks.already_resolved"))
    );
    // The final answer reaches the application.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, a) = api.get(&cy, &format!("/v1/permit-applications/{id}")).await;
        if a["state"] == "officer_review" {
            break;
        }
        assert!(Instant::now() < deadline, "not told: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every check, every record it matched, every read of the evidence and
    // the examiner's decision are in the audit log; the identifiers were
    // read from the vault for the check's purpose.
    let ours = |e: &Value| {
        e["service"] == "checks"
            && [&clean_ntn, &felon_ntn, &open_ntn]
                .iter()
                .any(|n| e["resource"] == format!("check/{n}").as_str())
    };
    // Entries arrive as the relays publish them: wait for each kind.
    for want in [
        "checks.run",
        "checks.read",
        "checks.evidence_read",
        "checks.resolve",
    ] {
        api.audit_entries(&auditor, 1, |e| ours(e) && e["action"] == want)
            .await;
    }
    let entries = api.audit_entries(&auditor, 3 + 1 + 1 + 1, ours).await;
    assert!(
        entries.iter().all(|e| {
            let s = e["subject"].as_str().unwrap_or("");
            s.starts_with("tok_") && !s.to_uppercase().contains(&open.person.last.to_uppercase())
        }),
        "{entries:?}"
    );
    let matched = api
        .audit_entries(&auditor, 1, |e| {
            e["action"] == "checks.record_matched"
                && felon
                    .record_ids
                    .iter()
                    .any(|r| e["resource"].as_str().unwrap_or("").ends_with(r.as_str()))
        })
        .await;
    assert_eq!(matched[0]["actor"], "system:checks");
    let reads = api
        .audit_entries(&auditor, 9, |e| {
            e["action"] == "vault.detokenise" && e["actor"] == "plaza:service|checks"
        })
        .await;
    assert!(reads.iter().all(|e| e["purpose"] == "background_check"));
    assert_eq!(server.interrupt(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, NATS and Redis: set PLAZA_TEST_DATABASE_URL, PLAZA_TEST_NATS_URL, PLAZA_TEST_REDIS_URL (.ci/run does)"]
async fn distributed_permits_checks_and_sources_in_separate_processes_lose_nothing() {
    use plaza_kernel::testing::{NATS_ENV, PG_ENV, REDIS_ENV, require};

    let dir = temp_dir("checks-split");
    let local = sources(&dir.join("records")).await;
    let prefix = format!("{}_", unique("ck"));
    let common = vec![
        ("PLAZA_DATA_DIR", dir.join("data").display().to_string()),
        ("PLAZA_DATABASE_URL", require(PG_ENV)),
        ("PLAZA_DATABASE_SCHEMA_PREFIX", prefix.clone()),
        ("PLAZA_NATS_URL", require(NATS_ENV)),
        ("PLAZA_EVENTS_NAMESPACE", unique("t")),
        ("PLAZA_REDIS_URL", require(REDIS_ENV)),
        ("PLAZA_CHECKS_SOURCES_URL", local.base.clone()),
    ];
    let start = |services: &str, extra: &[(&'static str, String)], grpc: &str| {
        let mut env = common.clone();
        env.extend_from_slice(extra);
        Server::start(&["serve", "--services", services, "--grpc", grpc], &env)
    };
    let grpc = |s: &Server| s.grpc.clone().unwrap();
    let trust = start("vault,audit", &[], "127.0.0.1:0");
    let vault = [("PLAZA_ENDPOINT_VAULT", grpc(&trust))];
    let permits = start("permits", &vault, "127.0.0.1:0");
    let permits_addr = grpc(&permits).trim_start_matches("http://").to_owned();
    let checks_env = [
        ("PLAZA_ENDPOINT_VAULT", grpc(&trust)),
        ("PLAZA_ENDPOINT_PERMITS", grpc(&permits)),
        ("PLAZA_CHECKS_SOURCE_TIMEOUT_MS", "5000".to_owned()),
    ];
    let checks = start("checks", &checks_env, "127.0.0.1:0");
    let checks_addr = grpc(&checks).trim_start_matches("http://").to_owned();
    let mut edge_env = common.clone();
    edge_env.extend_from_slice(&[
        ("PLAZA_ENDPOINT_PERMITS", grpc(&permits)),
        ("PLAZA_ENDPOINT_CHECKS", grpc(&checks)),
        ("PLAZA_ENDPOINT_AUDIT", grpc(&trust)),
        ("PLAZA_ENDPOINT_VAULT", grpc(&trust)),
    ]);
    let edge = Server::start(
        &[
            "serve",
            "--services",
            "gateway,identity,offices",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ],
        &edge_env,
    );
    let base = edge.http.clone().unwrap();
    let api = Api::new(&base);
    let client = public_client(&edge_env);
    let clerk = user_token(&base, &edge_env, &client, "clerk", Some("IL")).await;
    let officer = user_token(&base, &edge_env, &client, "licensing_officer", Some("IL")).await;

    // Through every process: a clean applicant's check proceeds and the
    // permit is issued; a felon's is denied.
    let ann = user_token(&base, &edge_env, &client, "citizen", None).await;
    let id = api.apply(&ann, &clerk, &subject(Profile::Clean)).await;
    let (a, ntn) = api.checked(&ann, &id).await;
    assert_eq!(a["state"], "officer_review", "{a}");
    let (status, c) = api.get(&officer, &format!("/v1/checks/{ntn}")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["final_outcome"], "proceed");
    let (status, issued) = api
        .post(
            &officer,
            &format!("/v1/permit-applications/{id}/decision"),
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(
        (status, issued["state"].as_str()),
        (200, Some("issued")),
        "{issued}"
    );

    // The checks process is down when the check is asked for: the request
    // waits in the broker and is answered once checks is back.
    drop(checks);
    let felon = subject(Profile::FelonyConviction);
    let bob = user_token(&base, &edge_env, &client, "citizen", None).await;
    let id = api.apply(&bob, &clerk, &felon).await;
    let checks = start("checks", &checks_env, &checks_addr);
    let (a, ntn) = api.checked(&bob, &id).await;
    assert_eq!(a["state"], "officer_review", "{a}");
    let answers: Vec<&Value> = a["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["note"]
                .as_str()
                .unwrap_or("")
                .starts_with("Background check")
        })
        .collect();
    assert_eq!(answers.len(), 1, "answered once: {a}");
    assert!(
        answers[0]["note"].as_str().unwrap().contains("Denied"),
        "{a}"
    );

    // The permits process is down when the answer is ready (the sources
    // take a second, permits dies meanwhile): checks keeps the answer and
    // tells permits once it is back on the same address.
    let cy = user_token(&base, &edge_env, &client, "citizen", None).await;
    local.records.set_faults(
        None,
        records::Faults {
            latency_ms: [1000, 1200],
            ..records::Faults::default()
        },
    );
    let clean2 = records::known_subjects_with(SEED, Profile::Clean)
        .into_iter()
        .nth(1)
        .unwrap();
    let id = api.apply(&cy, &clerk, &clean2).await;
    // Once a worker has taken the check, permits goes.
    let checks_db = plaza_kernel::db::Db::open(
        &plaza_kernel::db::StorageTarget::Postgres {
            url: require(PG_ENV),
            schema_prefix: prefix.clone(),
        },
        "checks",
    )
    .await
    .unwrap();
    plaza_kernel::testing::wait_until(Duration::from_secs(30), "the check taken", || async {
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT attempts FROM checks WHERE application_id = $1 AND status = 'pending'",
        )
        .bind(&id)
        .fetch_optional(checks_db.reader())
        .await
        .unwrap();
        taken.is_some_and(|n| n > 0)
    })
    .await;
    drop(permits);
    // The answer is ready and could not be told.
    plaza_kernel::testing::wait_until(Duration::from_secs(30), "a failed telling", || async {
        let waiting: Option<i64> = sqlx::query_scalar(
            "SELECT notify_after_ms - decided_ms FROM checks WHERE application_id = $1 AND notify IS NOT NULL",
        )
        .bind(&id)
        .fetch_optional(checks_db.reader())
        .await
        .unwrap();
        // Past the first retry time: the telling after the answer failed.
        waiting.is_some_and(|after| after > 5_000)
    })
    .await;
    let permits = start("permits", &vault, &permits_addr);
    let (a, late) = api.checked(&cy, &id).await;
    assert_eq!(a["state"], "officer_review", "{a}");
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT status, notify_error FROM checks WHERE ntn = $1")
            .bind(&late)
            .fetch_one(checks_db.reader())
            .await
            .unwrap();
    assert_eq!(row, ("decided".to_owned(), None));
    let (_, c) = api.get(&officer, &format!("/v1/checks/{ntn}")).await;
    assert_eq!(c["final_outcome"], "denied", "{c}");
    drop((checks, permits, edge, trust));
}
