//! The vault on real storage: tokens, blind indexes, what is stored, the
//! audit trail of every detokenisation, and online key rotation.

use std::sync::Arc;

use plaza_kernel::clock::SystemClock;
use plaza_kernel::db::StorageTarget;
use plaza_kernel::testing::{postgres_target, sqlite_target, temp_dir};
use plaza_vault::{Access, FileKeyring, Kind, Vault, open_db};
use sqlx::Row;

const WHO: Access<'static> = Access {
    actor: "staff-7",
    purpose: "renewal case review",
};

async fn vault(target: &StorageTarget, keyring: &std::path::Path) -> Vault {
    let db = open_db(target).await.unwrap();
    Vault::new(
        db,
        Arc::new(FileKeyring::load_or_create(keyring).unwrap()),
        Arc::new(SystemClock),
    )
}

async fn tokens_round_trip_and_nothing_is_stored_in_clear(target: StorageTarget) {
    let keyring = temp_dir("vault").join("keyring");
    let v = vault(&target, &keyring).await;
    let cases = [
        (Kind::Ssn, "123-45-6789", "123456789"),
        (Kind::BirthDate, "1984-03-07", "1984-03-07"),
        (Kind::LicenceNumber, "pa 1234-5678", "PA12345678"),
        (Kind::Name, "  Ana   María Kowalski ", "ANA MARÍA KOWALSKI"),
        (
            Kind::Address,
            "12 n front st, harrisburg pa 17101",
            "12 N FRONT ST, HARRISBURG PA 17101",
        ),
    ];
    let mut tokens = Vec::new();
    for (kind, raw, normalised) in cases {
        let token = v.tokenise(kind, raw).await.unwrap();
        assert!(token.starts_with("tok_") && token.len() == 28);
        assert_eq!(*v.detokenise(&token, &WHO).await.unwrap(), normalised);
        assert_eq!(
            v.find(kind, normalised).await.unwrap().as_deref(),
            Some(token.as_str()),
            "equality search"
        );
        tokens.push(token);
    }
    assert_eq!(
        v.tokenise(Kind::Ssn, "123 45 6789").await.unwrap(),
        tokens[0],
        "same SSN, same token"
    );
    assert_eq!(v.find(Kind::Ssn, "219-09-9999").await.unwrap(), None);
    assert_ne!(
        v.tokenise(Kind::Name, "123456789").await.unwrap(),
        tokens[0],
        "kinds do not mix"
    );

    // Nothing in the database holds the values in clear.
    let rows = sqlx::query("SELECT token, kind, blind_index, nonce, ciphertext, dek_nonce, wrapped_dek, kek_id FROM vault_records")
        .fetch_all(v.db().reader())
        .await
        .unwrap();
    for r in &rows {
        let mut bytes = Vec::new();
        for i in 0..8 {
            match r.try_get::<Vec<u8>, _>(i) {
                Ok(b) => bytes.extend(b),
                Err(_) => bytes.extend(r.get::<String, _>(i).into_bytes()),
            }
        }
        let hay = String::from_utf8_lossy(&bytes).to_uppercase();
        for needle in [
            "123456789",
            "1984-03-07",
            "KOWALSKI",
            "HARRISBURG",
            "PA12345678",
        ] {
            assert!(!hay.contains(needle), "{needle} stored in clear");
        }
    }
    v.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_tokens_round_trip_and_nothing_is_stored_in_clear() {
    tokens_round_trip_and_nothing_is_stored_in_clear(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_tokens_round_trip_and_nothing_is_stored_in_clear() {
    tokens_round_trip_and_nothing_is_stored_in_clear(postgres_target()).await;
}

#[tokio::test]
async fn bad_values_are_refused_without_echoing_them() {
    let v = vault(&sqlite_target(), &temp_dir("vault").join("keyring")).await;
    for (kind, raw) in [
        (Kind::Ssn, "123-45-678"),
        (Kind::Ssn, "666-12-3456"),
        (Kind::Ssn, "123-00-4567"),
        (Kind::BirthDate, "1984-02-30"),
        (Kind::BirthDate, "07/03/1984"),
        (Kind::LicenceNumber, "PA#123"),
        (Kind::Name, "  "),
    ] {
        let e = v.tokenise(kind, raw).await.unwrap_err();
        let public = e.public();
        assert_eq!(public.code, "vault.invalid_value", "{raw}");
        assert!(
            !public.message.contains(raw.trim()) || raw.trim().is_empty(),
            "the value is not echoed: {}",
            public.message
        );
    }
}

#[tokio::test]
async fn altered_or_moved_ciphertexts_do_not_decrypt() {
    let v = vault(&sqlite_target(), &temp_dir("vault").join("keyring")).await;
    let a = v.tokenise(Kind::Name, "Ana Kowalski").await.unwrap();
    let b = v.tokenise(Kind::Name, "Ben Okafor").await.unwrap();
    // Move b's encrypted value and data key onto a's row.
    sqlx::query(
        "UPDATE vault_records SET nonce = (SELECT nonce FROM vault_records WHERE token = $2),
           ciphertext = (SELECT ciphertext FROM vault_records WHERE token = $2),
           dek_nonce = (SELECT dek_nonce FROM vault_records WHERE token = $2),
           wrapped_dek = (SELECT wrapped_dek FROM vault_records WHERE token = $2)
         WHERE token = $1",
    )
    .bind(&a)
    .bind(&b)
    .execute(v.db().reader())
    .await
    .unwrap();
    assert!(
        matches!(
            v.detokenise(&a, &WHO).await,
            Err(plaza_vault::Error::Crypto(_))
        ),
        "bound to its token"
    );
    assert_eq!(*v.detokenise(&b, &WHO).await.unwrap(), "BEN OKAFOR");
    assert!(matches!(
        v.detokenise("tok_nope", &WHO).await,
        Err(plaza_vault::Error::NoSuchToken)
    ));
}

#[tokio::test]
async fn detokenising_needs_a_purpose_and_is_always_audited() {
    let v = vault(&sqlite_target(), &temp_dir("vault").join("keyring")).await;
    let t = v.tokenise(Kind::Ssn, "219-09-9999").await.unwrap();
    let no_reason = Access {
        actor: "staff-7",
        purpose: " ",
    };
    assert!(matches!(
        v.detokenise(&t, &no_reason).await,
        Err(plaza_vault::Error::PurposeRequired)
    ));
    v.detokenise(&t, &WHO).await.unwrap();
    let rows = sqlx::query("SELECT payload FROM outbox WHERE event_type = 'vault.AuditRecorded'")
        .fetch_all(v.db().reader())
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "one access, one audit event; the refused one has none"
    );
    let payload: Vec<u8> = rows[0].get(0);
    let text = String::from_utf8_lossy(&payload);
    for part in [
        "staff-7",
        "vault.detokenise",
        "renewal case review",
        t.as_str(),
    ] {
        assert!(text.contains(part), "audit event names {part}");
    }
    assert!(
        !text.contains("219099999"),
        "the audit event holds the token, not the value"
    );
}

async fn rotation_is_online_and_loses_nothing(target: StorageTarget) {
    let keyring = temp_dir("vault").join("keyring");
    // Two handles on the same keyring file: the running service and the
    // operator's `plaza keys rotate`.
    let service = vault(&target, &keyring).await;
    let operator_ring = Arc::new(FileKeyring::load_or_create(&keyring).unwrap());
    let operator = Vault::new(
        service.db().clone(),
        operator_ring.clone(),
        Arc::new(SystemClock),
    );
    let mut before = Vec::new();
    for i in 0..300 {
        let name = format!("Person Number {i}");
        before.push((
            service.tokenise(Kind::Name, &name).await.unwrap(),
            name.to_uppercase(),
        ));
    }
    let old = operator_ring.kek_ids();
    let new_id = operator_ring.add_kek().unwrap();

    // The service keeps tokenising and reading while the operator re-wraps.
    let writer = {
        let s = service.clone();
        tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..100 {
                let name = format!("Newcomer {i}");
                made.push((
                    s.tokenise(Kind::Name, &name).await.unwrap(),
                    name.to_uppercase(),
                ));
            }
            made
        })
    };
    let reader = {
        let s = service.clone();
        let sample: Vec<_> = before.iter().step_by(7).cloned().collect();
        tokio::spawn(async move {
            for (t, v) in sample {
                assert_eq!(
                    *s.detokenise(&t, &WHO).await.unwrap(),
                    v,
                    "readable throughout the rotation"
                );
            }
        })
    };
    let mut rewrapped = 0;
    loop {
        let (n, failed) = operator.rewrap_all(64, &|_| {}).await.unwrap();
        assert!(failed.is_empty());
        rewrapped += n;
        // Done once the writer has stopped and a last pass finds nothing.
        if writer.is_finished() && operator.rewrap_all(64, &|_| {}).await.unwrap().0 == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let made = writer.await.unwrap();
    reader.await.unwrap();
    assert!(
        rewrapped >= 300,
        "every old data key re-wrapped ({rewrapped})"
    );
    assert_eq!(
        service.keys_in_use().await.unwrap(),
        vec![(new_id.clone(), 400)],
        "only the new key is in use"
    );

    // The old keys can now be retired: every value still opens without them.
    let text = std::fs::read_to_string(&keyring).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !old.iter().any(|o| l.contains(o.as_str())))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&keyring, kept).unwrap();
    let fresh = vault(&target, &keyring).await;
    for (t, v) in before.iter().chain(made.iter()) {
        assert_eq!(*fresh.detokenise(t, &WHO).await.unwrap(), *v);
    }
    fresh.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_rotation_is_online_and_loses_nothing() {
    rotation_is_online_and_loses_nothing(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_rotation_is_online_and_loses_nothing() {
    rotation_is_online_and_loses_nothing(postgres_target()).await;
}

#[tokio::test]
async fn a_redirected_blind_index_is_caught() {
    let v = vault(&sqlite_target(), &temp_dir("vault").join("keyring")).await;
    let a = v.tokenise(Kind::Ssn, "219-09-9999").await.unwrap();
    let b = v.tokenise(Kind::Ssn, "078-05-1120").await.unwrap();
    // Someone with write access swaps the two blind indexes, so that a
    // search for one person's SSN finds the other person's token.
    sqlx::query("UPDATE vault_records SET blind_index = 'x' || blind_index WHERE token = $1")
        .bind(&a)
        .execute(v.db().reader())
        .await
        .unwrap();
    sqlx::query("UPDATE vault_records SET blind_index = (SELECT substr(blind_index, 2) FROM vault_records WHERE token = $1) WHERE token = $2")
        .bind(&a)
        .bind(&b)
        .execute(v.db().reader())
        .await
        .unwrap();
    assert_eq!(
        v.find(Kind::Ssn, "219-09-9999").await.unwrap().as_deref(),
        Some(b.as_str()),
        "the index now misleads"
    );
    assert!(
        matches!(
            v.detokenise(&b, &WHO).await,
            Err(plaza_vault::Error::Crypto(_))
        ),
        "but the value refuses to open"
    );
}

#[tokio::test]
async fn one_damaged_data_key_does_not_stall_a_rotation() {
    let keyring = temp_dir("vault").join("keyring");
    let v = vault(&sqlite_target(), &keyring).await;
    let mut tokens = Vec::new();
    for i in 0..50 {
        tokens.push(v.tokenise(Kind::Name, &format!("Name {i}")).await.unwrap());
    }
    let damaged = tokens[0].clone();
    sqlx::query("UPDATE vault_records SET wrapped_dek = ciphertext WHERE token = $1")
        .bind(&damaged)
        .execute(v.db().reader())
        .await
        .unwrap();
    let ring = FileKeyring::load_or_create(&keyring).unwrap();
    let new_id = ring.add_kek().unwrap();
    let (n, failed) = v.rewrap_all(7, &|_| {}).await.unwrap();
    assert_eq!(n, 49);
    assert_eq!(failed, vec![damaged]);
    let in_use = v.keys_in_use().await.unwrap();
    assert!(in_use.contains(&(new_id, 49)), "{in_use:?}");
}

#[tokio::test]
async fn over_grpc_reading_a_value_needs_a_permit_and_a_purpose_and_every_attempt_is_audited() {
    use plaza_contracts::vault::v1 as pb;
    use plaza_contracts::vault::v1::vault_service_client::VaultServiceClient;
    use plaza_contracts::vault::v1::vault_service_server::VaultServiceServer;
    use plaza_kernel::auth::{CALLER_METADATA, Caller, CallerSeal, Role};

    let keyring = temp_dir("vault-grpc").join("keyring");
    let v = vault(&sqlite_target(), &keyring).await;
    let seal = CallerSeal::from_key([4; 32]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        VaultServiceServer::new(plaza_vault::grpc::GrpcVault::new(v.clone(), seal.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap()
    });
    let mut client = VaultServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let person = |roles: &[Role]| Caller {
        subject: format!("{roles:?}"),
        issuer: "http://plaza.test/oidc".into(),
        roles: roles.to_vec(),
        jurisdiction: Some("PA".into()),
    };
    fn sealed<T>(seal: &CallerSeal, caller: Option<&Caller>, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(c) = caller {
            let text = seal.seal(c, plaza_kernel::clock::now_ms());
            req.metadata_mut()
                .insert(CALLER_METADATA, text.parse().unwrap());
        }
        req
    }
    let as_caller = |caller, msg| sealed(&seal, caller, msg);
    let code = |s: &tonic::Status| {
        s.metadata()
            .get("plaza-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let clerk = person(&[Role::Clerk]);
    let officer = person(&[Role::LicensingOfficer]);
    let auditor = person(&[Role::Auditor]);

    // Nobody signed in cannot even seal a value.
    let err = client
        .tokenise(as_caller(
            None,
            pb::TokeniseRequest {
                kind: "ssn".into(),
                value: "123-45-6789".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "sign_in_required");
    let token = client
        .tokenise(as_caller(
            Some(&clerk),
            pb::TokeniseRequest {
                kind: "ssn".into(),
                value: "123-45-6789".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    let read = |who: &Caller, purpose: &str| {
        sealed(
            &seal,
            Some(who),
            pb::DetokeniseRequest {
                token: token.clone(),
                purpose: purpose.into(),
            },
        )
    };
    // An officer with a purpose their work has: the value.
    let got = client
        .detokenise(read(&officer, "licence_decision"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.kind.as_str(), got.value.as_str()),
        ("ssn", "123456789")
    );
    // The same officer out of curiosity, an auditor, no purpose: refused.
    let err = client
        .detokenise(read(&officer, "curiosity"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "forbidden");
    let err = client
        .detokenise(read(&auditor, "licence_decision"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "forbidden");
    let err = client.detokenise(read(&officer, "")).await.unwrap_err();
    assert_eq!(code(&err), "vault.purpose_required");
    // A caller the gateway did not seal is not believed.
    let mut forged = tonic::Request::new(pb::DetokeniseRequest {
        token: token.clone(),
        purpose: "licence_decision".into(),
    });
    let other_key = CallerSeal::from_key([5; 32]).seal(&officer, plaza_kernel::clock::now_ms());
    forged
        .metadata_mut()
        .insert(CALLER_METADATA, other_key.parse().unwrap());
    let err = client.detokenise(forged).await.unwrap_err();
    assert_eq!(code(&err), "caller_seal_invalid");

    // The read and both refusals are in the outbox as audit events.
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT payload FROM outbox ORDER BY id")
        .fetch_all(v.db().reader())
        .await
        .unwrap();
    let events: Vec<plaza_audit::AuditEvent> = rows
        .iter()
        .map(|(p,)| {
            <plaza_contracts::audit::v1::AuditEvent as prost::Message>::decode(p.as_slice())
                .unwrap()
                .into()
        })
        .collect();
    let outcomes: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.purpose.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("vault.detokenise", "licence_decision", "ok"),
            ("vault.detokenise", "curiosity", "denied"),
            ("vault.detokenise", "licence_decision", "denied"),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.subject.as_deref() == Some(token.as_str()))
    );
    // The detection rules raise an alert for the refused reads.
    let detector = plaza_audit::detect::Detector::new(Default::default());
    let alerts: Vec<_> = events.iter().flat_map(|e| detector.observe(e)).collect();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| a.rule == "detokenise_denied"));
}

#[tokio::test]
async fn several_values_read_at_once_are_each_decided_and_audited() {
    use plaza_kernel::auth::{Caller, Role};
    let v = vault(&sqlite_target(), &temp_dir("vault").join("keyring")).await;
    let given = v.tokenise(Kind::Name, "Ann").await.unwrap();
    let family = v.tokenise(Kind::Name, "Roe").await.unwrap();
    let born = v.tokenise(Kind::BirthDate, "1980-05-17").await.unwrap();
    let tokens = vec![given.clone(), family.clone(), born.clone()];
    let checks = Caller::service("checks");
    let values = v
        .detokenise_many_as(&checks, &tokens, "background_check")
        .await
        .unwrap();
    let plain: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(plain, ["ANN", "ROE", "1980-05-17"]);
    assert_eq!(values[2].0, Kind::BirthDate);
    let audited = |outcome: &'static str| {
        let db = v.db().clone();
        async move {
            let rows =
                sqlx::query("SELECT payload FROM outbox WHERE event_type = 'vault.AuditRecorded'")
                    .fetch_all(db.reader())
                    .await
                    .unwrap();
            rows.iter()
                .map(|r| String::from_utf8_lossy(&r.get::<Vec<u8>, _>(0)).into_owned())
                .filter(|t| t.contains(outcome))
                .count()
        }
    };
    assert_eq!(audited("background_check").await, 3, "one record per value");
    // Another purpose is refused for all, and each refusal is audited.
    assert!(matches!(
        v.detokenise_many_as(&checks, &tokens, "curiosity").await,
        Err(plaza_vault::Error::Denied(_))
    ));
    assert_eq!(audited("denied").await, 3);
    // A clerk may not read for a background check either.
    let clerk = Caller {
        subject: "clerk-1".into(),
        issuer: "https://idp.example".into(),
        roles: vec![Role::Clerk],
        jurisdiction: Some("IL".into()),
    };
    assert!(
        v.detokenise_many_as(&clerk, &tokens, "background_check")
            .await
            .is_err()
    );
    // An unknown token refuses the lot, and so do too many.
    let mut unknown = tokens.clone();
    unknown.push("tok_nope".into());
    assert!(
        v.detokenise_many_as(&checks, &unknown, "background_check")
            .await
            .is_err()
    );
    let many = vec![given; plaza_vault::MAX_BATCH + 1];
    assert!(
        v.detokenise_many_as(&checks, &many, "background_check")
            .await
            .is_err()
    );
}
