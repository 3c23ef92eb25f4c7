//! The checks service's own guarantees, on its database: a check whose
//! worker died runs again once its lease has run out, and is answered once.

use std::sync::Arc;
use std::time::Duration;

use plaza_checks::service::{Checks, Peers, store};
use plaza_checks::sources::Registry;
use plaza_checks::{Checker, CheckerConfig};
use plaza_kernel::auth::CallerSeal;
use plaza_kernel::clock::{Clock, ManualClock};
use plaza_kernel::crypt::DataKey;
use plaza_kernel::resilience::ClientPolicy;
use plaza_kernel::testing::{sqlite_target, wait_until};

const LEASE: Duration = Duration::from_secs(30);

async fn service(clock: Arc<ManualClock>) -> Checks {
    let db = plaza_checks::service::open_db(&sqlite_target())
        .await
        .unwrap();
    // Nobody listens at port 9: permits cannot be told, and it is not
    // needed to see a check answered.
    let peers = Peers::connect(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        &ClientPolicy::default(),
        CallerSeal::from_key([3; 32]),
    )
    .unwrap();
    let checks = Checks::new(
        db,
        DataKey::random(),
        peers,
        Arc::new(plaza_permits::Catalogue::shipped()),
        clock,
        4,
    )
    .with_lease(LEASE);
    // No sources: every check is Delayed, never Proceed.
    checks.set_checker(Arc::new(Checker::new(
        Registry::from_sources(Vec::new()),
        CheckerConfig::default(),
    )));
    checks
}

#[tokio::test]
async fn a_check_whose_worker_died_runs_again_after_its_lease_and_is_answered_once() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let checks = service(clock.clone()).await;
    let db = checks.db().clone();
    let ntn = checks.request("pa_1", "IL", "il-foid", None).await.unwrap();
    // A worker took it and died.
    assert!(
        store::claim(&db, &ntn, clock.now_ms(), LEASE.as_millis() as i64)
            .await
            .unwrap()
    );
    checks.pass().await.unwrap();
    let c = store::get(&db, &ntn).await.unwrap().unwrap();
    assert_eq!(c.status, "pending", "held by the dead worker's lease");
    // The lease runs out: another worker runs it.
    clock.advance_ms(LEASE.as_millis() as i64 + 1);
    checks.pass().await.unwrap();
    wait_until(Duration::from_secs(10), "the check answered", || async {
        store::get(&db, &ntn).await.unwrap().unwrap().status != "pending"
    })
    .await;
    let c = store::get(&db, &ntn).await.unwrap().unwrap();
    assert_eq!(c.status, "review");
    assert_eq!(c.outcome.as_deref(), Some("delayed"));
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM checks WHERE ntn = $1")
        .bind(&ntn)
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(attempts, 2);
    // Later passes change nothing: answered once.
    clock.advance_ms(LEASE.as_millis() as i64 * 3);
    checks.pass().await.unwrap();
    let again = store::get(&db, &ntn).await.unwrap().unwrap();
    assert_eq!(again.decided_ms, c.decided_ms);
    assert!(
        !store::claim(&db, &ntn, clock.now_ms(), 1).await.unwrap(),
        "an answered check cannot be taken"
    );
    // Permits could not be told: the answer waits to be told, later.
    assert_eq!(again.notify.as_deref(), Some("delayed"));
}
