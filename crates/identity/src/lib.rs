//! `identity`: Plaza's own OpenID Connect provider for the embedded shape
//! (and for agencies without one): accounts with argon2id passwords, TOTP
//! second factors for every staff role, citizen self-registration with
//! e-mail confirmation, the authorization code flow with PKCE (S256 only),
//! RS256-signed ID and access tokens, rotating refresh tokens with reuse
//! detection, userinfo and logout. Sign-in failures lock an account for
//! longer and longer.
//!
//! An agency that has its own provider points the gateway at it instead
//! (`auth.issuers_file`); this service is then only needed for citizens.

pub mod app;
pub mod error;
pub mod grpc;
pub mod http;
pub mod keys;
pub mod mail;
pub mod notify;
pub mod secrets;
pub mod testing;

use plaza_kernel::db::{Db, StorageTarget};
use plaza_kernel::migrate::{self, Migration};

pub use app::{Identity, Settings};
pub use error::Error;
pub use keys::SigningKeys;

/// The service's name: its database, its events' prefix, its config key.
pub const SERVICE: &str = "identity";

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "identity",
    sql: include_str!("../migrations/0001_identity.sql"),
}];

/// Opens the service's database and applies pending migrations.
pub async fn open_db(target: &StorageTarget) -> Result<Db, plaza_kernel::Error> {
    let db = Db::open(target, SERVICE).await?;
    migrate::apply(&db, &[("kernel", migrate::KERNEL), (SERVICE, MIGRATIONS)]).await?;
    Ok(db)
}
