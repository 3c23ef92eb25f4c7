//! Shared machinery of every Plaza service, and nothing of any one service:
//! configuration, storage and migrations, the transactional outbox and the
//! event bus, the saga engine, client resilience, the cache, telemetry,
//! errors and idempotency.

pub mod auth;
pub mod bus;
pub mod cache;
pub mod clock;
pub mod config;
pub mod crypt;
pub mod db;
pub mod error;
pub mod files;
pub mod grpc;
pub mod hex;
pub mod idempotency;
pub mod jwt;
pub mod migrate;
pub mod mtls;
pub mod outbox;
pub mod resilience;
pub mod saga;
pub mod shutdown;
pub mod telemetry;
pub mod testing;
pub mod webhook;

pub use error::Error;

/// Makes ring the process's TLS crypto provider (the one every TLS client
/// of Plaza uses: NATS, and HTTPS to identity providers). Safe to call any
/// number of times; call it before building an HTTP client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
