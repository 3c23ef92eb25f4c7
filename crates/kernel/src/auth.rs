//! Who is calling: the [`Caller`] a service decides about, and the seal that
//! lets a service trust the caller the gateway names.
//!
//! The gateway verifies a bearer token and seals the caller it found into
//! the `plaza-caller` gRPC metadata entry: the caller as base64url JSON and
//! an HMAC-SHA256 over it, with a key only Plaza's own processes hold
//! (`auth.internal_key_file`), and an expiry a minute away. A service opens
//! the seal; metadata that anyone else wrote, altered or replayed later
//! is refused, so a client that reaches a service directly is anonymous at
//! best.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::error::{ErrorKind, PublicError};

/// The metadata entry that carries the sealed caller.
pub const CALLER_METADATA: &str = "plaza-caller";

/// How long a sealed caller is accepted after the gateway sealed it.
const SEAL_TTL_MS: i64 = 60_000;

/// The roles of Plaza. Policies (in `policies/`) say what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Clerk,
    LicensingOfficer,
    Examiner,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Citizen,
        Role::Clerk,
        Role::LicensingOfficer,
        Role::Examiner,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Clerk => "clerk",
            Role::LicensingOfficer => "licensing_officer",
            Role::Examiner => "examiner",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Staff roles need a second factor at sign-in.
    pub fn is_staff(self) -> bool {
        self != Role::Citizen
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The issuer of [`Caller::service`] callers.
pub const SERVICE_ISSUER: &str = "plaza:service";

/// An authenticated person (or nobody: [`Caller::anonymous`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The subject at its issuer; empty for an anonymous caller.
    #[serde(rename = "sub")]
    pub subject: String,
    #[serde(rename = "iss")]
    pub issuer: String,
    pub roles: Vec<Role>,
    /// County or state code the caller works for (staff), e.g. `PA` or `PA-42`.
    #[serde(rename = "jur", default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            subject: String::new(),
            issuer: String::new(),
            roles: Vec::new(),
            jurisdiction: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.subject.is_empty()
    }

    /// A Plaza service acting on its own account (a saga's compensation, a
    /// background job), not for a person. Only a holder of the internal
    /// key can seal one; the gateway never makes one from a token.
    pub fn service(name: &str) -> Caller {
        Caller {
            subject: name.to_owned(),
            issuer: SERVICE_ISSUER.to_owned(),
            roles: Vec::new(),
            jurisdiction: None,
        }
    }

    pub fn is_service(&self) -> bool {
        self.issuer == SERVICE_ISSUER && !self.subject.is_empty()
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// How the audit trail names this caller: `issuer|subject`, or
    /// `anonymous`.
    pub fn actor(&self) -> String {
        if self.is_anonymous() {
            "anonymous".to_owned()
        } else {
            format!("{}|{}", self.issuer, self.subject)
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(flatten)]
    caller: Caller,
    /// Expiry, ms since the epoch.
    exp: i64,
}

/// The key that seals callers between the gateway and services.
#[derive(Clone)]
pub struct CallerSeal {
    key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for CallerSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerSeal(..)")
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl CallerSeal {
    pub fn from_key(key: [u8; 32]) -> CallerSeal {
        CallerSeal { key: Arc::new(key) }
    }

    /// The key in `path` (64 hex digits), created (owner-only) if missing.
    /// Every process of one deployment must be given the same file.
    pub fn load_or_create(path: &Path) -> Result<CallerSeal, crate::Error> {
        let io = |what: String| move |source| crate::Error::Io { what, source };
        match std::fs::read_to_string(path) {
            Ok(text) => crate::hex::decode32(text.trim())
                .map(CallerSeal::from_key)
                .ok_or_else(|| {
                    crate::Error::Invalid(format!(
                        "{} must hold 64 hex digits (the internal caller key)",
                        path.display()
                    ))
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(io(format!("creating {}", dir.display())))?;
                }
                crate::files::write_private(path, &crate::hex::encode(&key))
                    .map_err(io(format!("writing {}", path.display())))?;
                Ok(CallerSeal::from_key(key))
            }
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key[..])
            .expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// `caller`, sealed until a minute after `now_ms`.
    pub fn seal(&self, caller: &Caller, now_ms: i64) -> String {
        let body = Sealed {
            caller: caller.clone(),
            exp: now_ms + SEAL_TTL_MS,
        };
        let payload = B64.encode(serde_json::to_vec(&body).expect("a caller serialises"));
        let tag = B64.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The caller sealed in `sealed`, if this key sealed it and it has not
    /// expired.
    pub fn open(&self, sealed: &str, now_ms: i64) -> Result<Caller, PublicError> {
        let bad = || {
            PublicError::new(
                ErrorKind::Unauthenticated,
                "caller_seal_invalid",
                "The caller could not be established; call Plaza through its gateway.",
            )
        };
        let (payload, tag) = sealed.split_once('.').ok_or_else(bad)?;
        let tag = B64.decode(tag).map_err(|_| bad())?;
        self.mac(payload).verify_slice(&tag).map_err(|_| bad())?;
        let body: Sealed = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad)?;
        if body.exp < now_ms {
            return Err(bad());
        }
        Ok(body.caller)
    }

    /// The caller of a gRPC request: anonymous when the request carries no
    /// sealed caller, an error when it carries one that does not open.
    pub fn caller<T>(&self, req: &tonic::Request<T>) -> Result<Caller, Status> {
        match req.metadata().get(CALLER_METADATA) {
            None => Ok(Caller::anonymous()),
            Some(v) => {
                let text = v.to_str().map_err(|_| {
                    PublicError::new(
                        ErrorKind::Unauthenticated,
                        "caller_seal_invalid",
                        "The caller could not be established.",
                    )
                    .to_status()
                })?;
                self.open(text, crate::clock::now_ms())
                    .map_err(|e| e.to_status())
            }
        }
    }
}

tokio::task_local! {
    static SEALED_CALLER: Arc<str>;
}

/// Runs `f` with `sealed` as the caller every outgoing gRPC call carries
/// (the gateway wraps each request it has authenticated).
pub async fn with_sealed_caller<F: Future>(sealed: Arc<str>, f: F) -> F::Output {
    SEALED_CALLER.scope(sealed, f).await
}

/// The sealed caller of the current task, if any.
pub fn sealed_caller() -> Option<Arc<str>> {
    SEALED_CALLER.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clerk() -> Caller {
        Caller {
            subject: "u-1".into(),
            issuer: "https://id.example".into(),
            roles: vec![Role::Clerk],
            jurisdiction: Some("PA-42".into()),
        }
    }

    #[test]
    fn a_sealed_caller_opens_only_with_its_key_and_before_expiry() {
        let seal = CallerSeal::from_key([7; 32]);
        let sealed = seal.seal(&clerk(), 1_000);
        assert_eq!(seal.open(&sealed, 1_000).unwrap(), clerk());
        assert!(seal.open(&sealed, 1_000 + SEAL_TTL_MS + 1).is_err());
        assert!(CallerSeal::from_key([8; 32]).open(&sealed, 1_000).is_err());
        // Promote the clerk to admin without the key: refused.
        let (payload, tag) = sealed.split_once('.').unwrap();
        let mut body: serde_json::Value =
            serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        body["roles"] = serde_json::json!(["admin"]);
        let forged = format!("{}.{tag}", B64.encode(serde_json::to_vec(&body).unwrap()));
        let err = seal.open(&forged, 1_000).unwrap_err();
        assert_eq!(err.code, "caller_seal_invalid");
    }
}
