//! The cache: local and Redis, both emptied by invalidation.

use std::time::Duration;

use bytes::Bytes;
use plaza_kernel::cache::Cache;
use plaza_kernel::testing::{REDIS_ENV, require, unique};

async fn get_put_invalidate(cache: Cache) {
    assert_eq!(cache.get("a").await, None);
    cache.put("a", Bytes::from_static(b"1")).await;
    cache.put("b", Bytes::from_static(b"2")).await;
    assert_eq!(cache.get("a").await, Some(Bytes::from_static(b"1")));
    cache.invalidate_all().await.unwrap();
    assert_eq!(cache.get("a").await, None, "invalidation drops every entry");
    assert_eq!(cache.get("b").await, None);
    cache.put("a", Bytes::from_static(b"3")).await;
    assert_eq!(
        cache.get("a").await,
        Some(Bytes::from_static(b"3")),
        "the cache works again after invalidation"
    );
}

#[tokio::test]
async fn local_cache_invalidates() {
    get_put_invalidate(Cache::local("t", 100, Duration::from_secs(60))).await;
}

#[tokio::test]
#[ignore = "needs Redis: set PLAZA_TEST_REDIS_URL (.ci/run does)"]
async fn redis_cache_invalidates_and_is_shared() {
    let url = require(REDIS_ENV);
    let ns = unique("ns");
    let a = Cache::redis(&url, &ns, Duration::from_secs(60))
        .await
        .unwrap();
    get_put_invalidate(a.clone()).await;
    let b = Cache::redis(&url, &ns, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        b.get("a").await,
        Some(Bytes::from_static(b"3")),
        "a second process sees the same entries"
    );
    b.invalidate_all().await.unwrap();
    assert_eq!(
        a.get("a").await,
        None,
        "and its invalidation reaches the first"
    );
}

#[tokio::test]
async fn unreachable_redis_is_reported_at_start() {
    // Port 1 on loopback: nothing listens there.
    let err = Cache::redis("redis://127.0.0.1:1", "x", Duration::from_secs(1))
        .await
        .err();
    assert!(
        err.is_some(),
        "connecting to a dead Redis must fail clearly"
    );
}
