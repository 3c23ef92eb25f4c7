//! Shared machinery of every Plaza service, and nothing of any one service:
//! configuration, storage and migrations, the transactional outbox and the
//! event bus, the saga engine, client resilience, the cache, telemetry,
//! errors and idempotency.

pub mod bus;
pub mod cache;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod grpc;
pub mod hex;
pub mod idempotency;
pub mod migrate;
pub mod outbox;
pub mod resilience;
pub mod saga;
pub mod shutdown;
pub mod telemetry;
pub mod testing;

pub use error::Error;
