//! The offices service against real storage: SQLite always, PostgreSQL
//! (and Redis for the cache) when `.ci/run` provides them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use plaza_kernel::bus::{Bus, InProcessBus};
use plaza_kernel::cache::Cache;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::db::StorageTarget;
use plaza_kernel::outbox::{Relay, RelayConfig};
use plaza_kernel::shutdown::Shutdown;
use plaza_kernel::testing::{REDIS_ENV, postgres_target, require, sqlite_target, unique};
use plaza_offices::app::{Idempotency, Offices, parse_csv};
use plaza_offices::domain::{OfficeFields, OfficeKind, haversine_km};
use plaza_offices::{Error, generate, open_db, subscribe_invalidation};

async fn app(target: &StorageTarget, cache: Cache) -> Offices {
    let db = open_db(target).await.expect("offices db");
    Offices::new(db, cache, Arc::new(SystemClock))
}

/// Events of one type waiting in the outbox.
async fn events(db: &plaza_kernel::db::Db, event_type: &str) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(db.reader())
        .await
        .unwrap();
    row.0
}

fn local() -> Cache {
    Cache::local("offices", 10_000, Duration::from_secs(300))
}

fn sample(n: usize, seed: u64) -> Vec<(u64, OfficeFields)> {
    let mut csv = Vec::new();
    generate::generate(n, seed, &mut csv).unwrap();
    parse_csv(csv.as_slice()).unwrap()
}

fn idem(key: &str, fp: &str) -> Idempotency {
    Idempotency {
        key: key.into(),
        fingerprint: fp.into(),
    }
}

fn fields(code: &str, lat: f64, lon: f64) -> OfficeFields {
    OfficeFields::parse(
        code,
        "Test Office",
        Some(OfficeKind::DmvOffice),
        "1 Main St",
        "York",
        "York",
        "PA",
        "17401",
        lat,
        lon,
        "",
        "Mo-Fr 08:00-16:00",
        true,
    )
    .unwrap()
}

async fn list_paginates_and_filters(target: StorageTarget) {
    let app = app(&target, local()).await;
    let report = app.import("test", sample(240, 3), &|_| {}).await.unwrap();
    assert_eq!(report.created, 240);
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (page, next) = app
            .list(None, None, cursor.as_deref(), Some(50))
            .await
            .unwrap();
        pages += 1;
        for o in &page {
            assert!(seen.insert(o.id.clone()), "office {} on two pages", o.id);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 240);
    assert_eq!(pages, 5);
    let (dmv, _) = app
        .list(
            Some(OfficeKind::DmvOffice),
            Some("Philadelphia".into()),
            None,
            Some(500),
        )
        .await
        .unwrap();
    assert!(!dmv.is_empty());
    assert!(
        dmv.iter()
            .all(|o| o.fields.kind == OfficeKind::DmvOffice && o.fields.county == "Philadelphia")
    );
    assert!(matches!(
        app.list(None, None, Some("garbage!"), None).await,
        Err(Error::BadCursor)
    ));
    assert!(matches!(
        app.list(None, None, None, Some(0)).await,
        Err(Error::Invalid { field: "limit", .. })
    ));
    app.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_list_paginates_and_filters() {
    list_paginates_and_filters(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_list_paginates_and_filters() {
    list_paginates_and_filters(postgres_target()).await;
}

fn admin() -> plaza_kernel::auth::Caller {
    plaza_kernel::auth::Caller {
        subject: "admin-1".into(),
        issuer: "http://plaza.test/oidc".into(),
        roles: vec![plaza_kernel::auth::Role::Admin],
        jurisdiction: None,
    }
}

async fn create_is_idempotent_and_checked(target: StorageTarget) {
    let app = app(&target, local()).await;
    let a = app
        .create(&admin(), &idem("k1", "f1"), fields("DMV-9001", 40.0, -76.0))
        .await
        .unwrap();
    let again = app
        .create(&admin(), &idem("k1", "f1"), fields("DMV-9001", 40.0, -76.0))
        .await
        .unwrap();
    assert_eq!(a, again, "a repeated request gets the first answer");
    assert_eq!(
        events(app.db(), "offices.OfficeChanged").await,
        1,
        "and publishes no second event"
    );
    assert!(matches!(
        app.create(&admin(), &idem("k1", "f2"), fields("DMV-9002", 40.0, -76.0))
            .await,
        Err(Error::Kernel(
            plaza_kernel::Error::IdempotencyMismatch { .. }
        ))
    ));
    assert!(matches!(
        app.create(&admin(), &idem("k2", "f3"), fields("DMV-9001", 41.0, -76.0))
            .await,
        Err(Error::DuplicateCode(_))
    ));
    let updated = app
        .update(
            &admin(),
            &idem("k3", "f4"),
            &a.id,
            fields("DMV-9001", 40.5, -76.0),
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert!(matches!(
        app.update(
            &admin(),
            &idem("k4", "f5"),
            &a.id,
            fields("DMV-9001", 40.6, -76.0),
            Some(1)
        )
        .await,
        Err(Error::VersionConflict { actual: 2, .. })
    ));
    assert!(matches!(
        app.update(
            &admin(),
            &idem("k5", "f6"),
            "no-such-id",
            fields("DMV-9001", 40.6, -76.0),
            None
        )
        .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(app.get(&a.id).await.unwrap().fields.latitude, 40.5);
    assert_eq!(
        events(app.db(), "offices.OfficeChanged").await,
        2,
        "one event per change"
    );
    assert_eq!(
        events(app.db(), "offices.AuditRecorded").await,
        2,
        "each committed change is audited in the same transaction; refused ones are not"
    );
    app.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_create_is_idempotent_and_checked() {
    create_is_idempotent_and_checked(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_create_is_idempotent_and_checked() {
    create_is_idempotent_and_checked(postgres_target()).await;
}

async fn import_is_all_or_nothing(target: StorageTarget) {
    let app = app(&target, local()).await;
    let mut csv = Vec::new();
    generate::generate(3000, 11, &mut csv).unwrap();
    let rows = parse_csv(csv.as_slice()).unwrap();
    let r = app.import("test", rows, &|_| {}).await.unwrap();
    assert_eq!((r.created, r.updated, r.unchanged), (3000, 0, 0));
    assert_eq!(app.count().await.unwrap(), 3000);
    assert_eq!(
        events(app.db(), "offices.OfficeChanged").await,
        3000,
        "one OfficeChanged per new office"
    );

    // The same file again changes nothing and publishes nothing.
    let r = app
        .import("test", parse_csv(csv.as_slice()).unwrap(), &|_| {})
        .await
        .unwrap();
    assert_eq!((r.created, r.updated, r.unchanged), (0, 0, 3000));
    assert_eq!(events(app.db(), "offices.OfficeChanged").await, 3000);

    // One bad row among good ones (one of them changed): nothing is imported.
    let text = String::from_utf8(csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[5] = lines[5].replace(",PA,", ",Pennsylvania,");
    lines[9] = lines[9].replacen("Mo", "Sa", 1);
    let bad = lines.join("\n");
    match parse_csv(bad.as_bytes()) {
        Err(Error::Import(errors)) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].line, 6);
            assert!(
                errors[0].reason.starts_with("state"),
                "{}",
                errors[0].reason
            );
        }
        other => panic!("bad file accepted: {other:?}"),
    }
    assert_eq!(
        events(app.db(), "offices.OfficeChanged").await,
        3000,
        "nothing written"
    );
    app.db().drop_schema().await.unwrap();
}

#[tokio::test]
async fn sqlite_import_is_all_or_nothing() {
    import_is_all_or_nothing(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set PLAZA_TEST_DATABASE_URL (.ci/run does)"]
async fn postgres_import_is_all_or_nothing() {
    import_is_all_or_nothing(postgres_target()).await;
}

#[tokio::test]
async fn nearest_matches_brute_force() {
    let app = app(&sqlite_target(), local()).await;
    let rows = sample(800, 5);
    app.import("test", rows.clone(), &|_| {}).await.unwrap();
    let active: Vec<&OfficeFields> = rows.iter().map(|(_, f)| f).filter(|f| f.active).collect();
    for (lat, lon, kind) in [
        (40.27, -76.88, None),
        (39.95, -75.16, Some(OfficeKind::PoliceLicensingUnit)),
        (41.9, -80.0, Some(OfficeKind::CardPickup)),
        (0.0, 0.0, None),
    ] {
        let got = app.nearest(lat, lon, kind, 7).await.unwrap();
        let mut expected: Vec<(String, f64)> = active
            .iter()
            .filter(|f| kind.is_none_or(|k| f.kind == k))
            .map(|f| {
                (
                    f.code.clone(),
                    haversine_km(lat, lon, f.latitude, f.longitude),
                )
            })
            .collect();
        expected.sort_by(|a, b| a.1.total_cmp(&b.1));
        let got_codes: Vec<&str> = got.iter().map(|(o, _)| o.fields.code.as_str()).collect();
        let exp_codes: Vec<&str> = expected.iter().take(7).map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            got_codes, exp_codes,
            "nearest to ({lat}, {lon}) of kind {kind:?}"
        );
        assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "nearest first");
        // The cached answer is the same.
        let again = app.nearest(lat, lon, kind, 7).await.unwrap();
        assert_eq!(
            again.iter().map(|(o, _)| o.id.clone()).collect::<Vec<_>>(),
            got.iter().map(|(o, _)| o.id.clone()).collect::<Vec<_>>()
        );
    }
    assert!(matches!(
        app.nearest(91.0, 0.0, None, 5).await,
        Err(Error::Invalid {
            field: "latitude",
            ..
        })
    ));
    assert!(matches!(
        app.nearest(0.0, 0.0, None, 51).await,
        Err(Error::Invalid { field: "limit", .. })
    ));
}

/// A change becomes visible to `nearest` through the service's own event,
/// not before: the answer is cached until the event invalidates it.
async fn cache_is_invalidated_by_office_events(cache: Cache) {
    let app = app(&sqlite_target(), cache).await;
    app.import("test", sample(200, 9), &|_| {}).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    subscribe_invalidation(&app, &bus, &unique("i"), Shutdown::never())
        .await
        .unwrap();
    let relay = Relay::new(app.db().clone(), bus.clone(), RelayConfig::default());
    while relay.pass().await.unwrap().claimed > 0 {}

    let point = (40.0, -77.5);
    let before = app.nearest(point.0, point.1, None, 1).await.unwrap();
    let first = app
        .list(None, None, None, Some(1))
        .await
        .unwrap()
        .0
        .remove(0);
    let moved = app
        .update(
            &admin(),
            &idem("move", "m"),
            &first.id,
            fields(&first.fields.code, 40.0, -77.5),
            None,
        )
        .await
        .unwrap();
    assert_ne!(
        before[0].0.id, moved.id,
        "the moved office was not the nearest before"
    );
    let stale = app.nearest(point.0, point.1, None, 1).await.unwrap();
    assert_eq!(
        stale[0].0.id, before[0].0.id,
        "until its event arrives, the cached answer stands"
    );
    assert!(relay.pass().await.unwrap().published >= 1);
    let fresh = app.nearest(point.0, point.1, None, 1).await.unwrap();
    assert_eq!(
        fresh[0].0.id, moved.id,
        "after the OfficeChanged event, the moved office is nearest"
    );
    assert!(fresh[0].1 < 0.01);
}

#[tokio::test]
async fn local_cache_is_invalidated_by_office_events() {
    cache_is_invalidated_by_office_events(local()).await;
}

#[tokio::test]
#[ignore = "needs Redis: set PLAZA_TEST_REDIS_URL (.ci/run does)"]
async fn redis_cache_is_invalidated_by_office_events() {
    let cache = Cache::redis(
        &require(REDIS_ENV),
        &unique("offices"),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    cache_is_invalidated_by_office_events(cache).await;
}

#[tokio::test]
async fn the_app_decides_who_may_change_which_office() {
    use plaza_kernel::auth::{Caller, Role};
    let app = app(&sqlite_target(), local()).await;
    let person = |roles: &[Role], j: Option<&str>| Caller {
        subject: format!("{roles:?}{j:?}"),
        issuer: "http://plaza.test/oidc".into(),
        roles: roles.to_vec(),
        jurisdiction: j.map(str::to_owned),
    };
    let code = |e: plaza_offices::Error| e.public().code.to_string();
    // Nobody signed in, a citizen and a clerk cannot create.
    let err = app
        .create(
            &Caller::anonymous(),
            &idem("a1", "f"),
            fields("DMV-1", 40.0, -76.0),
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), "sign_in_required");
    for who in [
        person(&[Role::Citizen], None),
        person(&[Role::Clerk], Some("PA/York")),
    ] {
        let err = app
            .create(&who, &idem("a2", "f"), fields("DMV-1", 40.0, -76.0))
            .await
            .unwrap_err();
        assert_eq!(code(err), "forbidden");
    }
    let office = app
        .create(&admin(), &idem("a3", "f"), fields("DMV-1", 40.0, -76.0))
        .await
        .unwrap();
    // A York clerk may rename the York office, an Erie clerk may not.
    let mut renamed = office.fields.clone();
    renamed.name = "York Licensing Center".into();
    let york = person(&[Role::Clerk], Some("PA/York"));
    let erie = person(&[Role::Clerk], Some("PA/Erie"));
    let err = app
        .update(&erie, &idem("u1", "f"), &office.id, renamed.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(code(err), "forbidden");
    let updated = app
        .update(&york, &idem("u2", "f"), &office.id, renamed.clone(), None)
        .await
        .unwrap();
    assert_eq!(updated.fields.name, "York Licensing Center");
    // Nor may the York clerk move it into Erie County.
    let mut moved = renamed;
    moved.county = "Erie".into();
    let err = app
        .update(&york, &idem("u3", "f"), &office.id, moved, None)
        .await
        .unwrap_err();
    assert_eq!(code(err), "forbidden");
    assert_eq!(app.get(&office.id).await.unwrap().fields.county, "York");
}
