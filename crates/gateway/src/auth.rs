//! Bearer-token verification at the edge.
//!
//! The gateway trusts Plaza's own identity provider and any issuer an
//! agency lists in `auth.issuers_file`. For each it learns the JWKS from
//! OpenID discovery, keeps the keys in memory and fetches them again when a
//! token names a key id it does not know (a rotation), at most once every
//! few seconds per issuer. A token is accepted only with a known issuer, a
//! signature by one of that issuer's keys, the issuer's audience, and times
//! (`exp`, `nbf`, `iat`) within the configured clock skew. The caller it
//! names is sealed into every gRPC call the request makes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use plaza_kernel::auth::{Caller, CallerSeal, Role, with_sealed_caller};
use plaza_kernel::error::ErrorKind;
use plaza_kernel::jwt::{self, JwkSet, JwtError, Registered, VerifyKey};
use serde::Deserialize;

use crate::problem::Problem;

/// How an issuer's claims become Plaza roles and a jurisdiction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The `iss` value, exactly.
    pub issuer: String,
    /// The `aud` value access tokens must carry for Plaza.
    pub audience: String,
    /// The claim holding role or group names (a string or an array).
    #[serde(default = "roles_claim")]
    pub roles_claim: String,
    /// The issuer's role or group names → Plaza roles. Empty: the claim
    /// already holds Plaza role names.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// The claim holding the jurisdiction (e.g. `PA` or `PA/Dauphin`).
    #[serde(default = "jurisdiction_claim")]
    pub jurisdiction_claim: String,
    /// Roles everyone signed in through this issuer has.
    #[serde(default)]
    pub default_roles: Vec<Role>,
    /// Keys given here instead of discovered (for an air-gapped issuer).
    #[serde(default)]
    pub jwks: Option<JwkSet>,
    /// Where discovery lives, when not at `issuer` (e.g. the identity
    /// service's internal address).
    #[serde(default)]
    pub discovery_url: Option<String>,
}

fn roles_claim() -> String {
    "roles".into()
}
fn jurisdiction_claim() -> String {
    "jurisdiction".into()
}

impl TrustedIssuer {
    /// An issuer whose tokens carry Plaza's own claims.
    pub fn plaza(issuer: &str, audience: &str) -> TrustedIssuer {
        TrustedIssuer {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            roles_claim: roles_claim(),
            roles: BTreeMap::new(),
            jurisdiction_claim: jurisdiction_claim(),
            default_roles: Vec::new(),
            jwks: None,
            discovery_url: None,
        }
    }
}

#[derive(Deserialize)]
struct IssuersFile {
    #[serde(default)]
    issuer: Vec<TrustedIssuer>,
}

/// Reads an issuers file (TOML, `[[issuer]]` tables).
pub fn read_issuers_file(path: &Path) -> Result<Vec<TrustedIssuer>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: IssuersFile =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    for i in &file.issuer {
        if !(i.issuer.starts_with("https://") || i.issuer.starts_with("http://")) {
            return Err(format!(
                "{}: issuer {:?} is not a URL",
                path.display(),
                i.issuer
            ));
        }
    }
    Ok(file.issuer)
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Token(JwtError),
    /// The issuer's keys could not be fetched.
    KeysUnavailable(String),
}

impl AuthError {
    fn problem(&self) -> Problem {
        match self {
            AuthError::Token(e) => Problem::new(
                ErrorKind::Unauthenticated,
                e.code(),
                format!("{e}; sign in again."),
            ),
            AuthError::KeysUnavailable(issuer) => Problem::new(
                ErrorKind::Unavailable,
                "identity_provider_unavailable",
                format!(
                    "The sign-in provider {issuer} cannot be reached to check the token; try again shortly."
                ),
            ),
        }
    }
}

struct IssuerState {
    cfg: TrustedIssuer,
    keys: RwLock<HashMap<String, VerifyKey>>,
    /// Serialises fetches; holds when the last one happened.
    fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// The least time between two JWKS fetches of one issuer.
const REFETCH_EVERY: Duration = Duration::from_secs(5);

/// Verifies bearer tokens.
pub struct Authenticator {
    issuers: HashMap<String, Arc<IssuerState>>,
    http: reqwest::Client,
    leeway_s: i64,
    /// Tokens verified already (the exact bytes), with their caller: a
    /// client's later requests with the same token skip the signature
    /// check.
    verified: VerifiedTokens,
}

/// Verified tokens, sharded maps of the exact token to its caller and
/// until when the entry may answer (the token's expiry, at most five
/// minutes after it was verified). A full shard first drops what expired,
/// then everything: the cache only ever saves work. (A general-purpose
/// cache with an eviction policy cost more per insert than the RS256
/// signature check it saves.)
struct VerifiedTokens {
    shards: Vec<Shard>,
    per_shard: usize,
}

type Shard = std::sync::Mutex<HashMap<Arc<str>, (Caller, i64)>>;

/// How long a verified token is answered from the cache at most.
const VERIFIED_FOR_S: i64 = 300;

impl VerifiedTokens {
    fn new(capacity: usize) -> VerifiedTokens {
        let n = 16;
        VerifiedTokens {
            shards: (0..n).map(|_| Default::default()).collect(),
            per_shard: capacity / n,
        }
    }

    fn shard(&self, token: &str) -> &Shard {
        use std::hash::BuildHasher;
        static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let h = SEED.get_or_init(Default::default).hash_one(token);
        &self.shards[(h as usize) % self.shards.len()]
    }

    /// The caller of `token` if it was verified and its entry has not
    /// lapsed at `now` (seconds).
    fn get(&self, token: &str, now: i64) -> Option<Caller> {
        let shard = self.shard(token).lock().expect("token cache lock");
        shard
            .get(token)
            .filter(|(_, until)| now <= *until)
            .map(|(c, _)| c.clone())
    }

    fn insert(&self, token: &str, caller: Caller, until: i64, now: i64) {
        let mut shard = self.shard(token).lock().expect("token cache lock");
        if shard.len() >= self.per_shard {
            shard.retain(|_, (_, u)| *u >= now);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(token.into(), (caller, until));
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The keys of a JWK set that Plaza can verify with, by key id.
fn keys_of(set: &JwkSet) -> HashMap<String, VerifyKey> {
    set.keys
        .iter()
        .filter_map(|k| Some((k.kid.clone().unwrap_or_default(), VerifyKey::from_jwk(k)?)))
        .collect()
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RoleClaims {
    sub: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Authenticator {
    pub fn new(issuers: Vec<TrustedIssuer>, leeway_s: i64) -> Authenticator {
        // reqwest is built without a default crypto provider; Plaza uses ring.
        plaza_kernel::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client builds");
        let issuers = issuers
            .into_iter()
            .map(|cfg| {
                let keys = cfg.jwks.as_ref().map(keys_of).unwrap_or_default();
                (
                    cfg.issuer.clone(),
                    Arc::new(IssuerState {
                        cfg,
                        keys: RwLock::new(keys),
                        fetch: tokio::sync::Mutex::new(None),
                    }),
                )
            })
            .collect();
        Authenticator {
            issuers,
            http,
            leeway_s,
            verified: VerifiedTokens::new(100_000),
        }
    }

    async fn fetch_keys(&self, st: &IssuerState) -> Result<(), AuthError> {
        let unavailable = |why: String| {
            tracing::warn!(issuer = %st.cfg.issuer, why, "fetching the issuer's keys failed");
            AuthError::KeysUnavailable(st.cfg.issuer.clone())
        };
        let discovery_url = st.cfg.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                st.cfg.issuer.trim_end_matches('/')
            )
        });
        let d: Discovery = self.get_json(&discovery_url).await.map_err(unavailable)?;
        if d.issuer != st.cfg.issuer {
            return Err(unavailable(format!(
                "discovery names issuer {:?}",
                d.issuer
            )));
        }
        let set: JwkSet = self.get_json(&d.jwks_uri).await.map_err(unavailable)?;
        let keys = keys_of(&set);
        metrics::counter!("plaza_auth_jwks_fetches_total").increment(1);
        *st.keys.write().expect("keys lock") = keys;
        Ok(())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        self.http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }

    /// The key `kid` of an issuer, fetching the issuer's keys when it is
    /// unknown (and they were not fetched just now).
    async fn key(&self, st: &IssuerState, kid: &str) -> Result<VerifyKey, AuthError> {
        if let Some(k) = st.keys.read().expect("keys lock").get(kid) {
            return Ok(k.clone());
        }
        if st.cfg.jwks.is_some() {
            return Err(AuthError::Token(JwtError::UnknownKey));
        }
        let mut last = st.fetch.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(k) = st.keys.read().expect("keys lock").get(kid) {
            return Ok(k.clone());
        }
        if last.is_some_and(|t| t.elapsed() < REFETCH_EVERY) {
            return Err(AuthError::Token(JwtError::UnknownKey));
        }
        *last = Some(Instant::now());
        self.fetch_keys(st).await?;
        st.keys
            .read()
            .expect("keys lock")
            .get(kid)
            .cloned()
            .ok_or(AuthError::Token(JwtError::UnknownKey))
    }

    /// The caller a bearer token names.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let now = plaza_kernel::clock::now_ms() / 1000;
        if let Some(caller) = self.verified.get(token, now) {
            return Ok(caller);
        }
        let (caller, exp) = self.verify(token, now).await?;
        let until = (exp + self.leeway_s).min(now + VERIFIED_FOR_S);
        self.verified.insert(token, caller.clone(), until, now);
        Ok(caller)
    }

    /// Full verification, without the cache.
    async fn verify(&self, token: &str, now: i64) -> Result<(Caller, i64), AuthError> {
        let tok = AuthError::Token;
        let u = jwt::parse(token).map_err(tok)?;
        let reg: Registered =
            serde_json::from_slice(&u.payload).map_err(|_| tok(JwtError::Malformed))?;
        let st = self
            .issuers
            .get(&reg.iss)
            .ok_or(tok(JwtError::UntrustedIssuer))?;
        let key = self
            .key(st, u.header.kid.as_deref().unwrap_or_default())
            .await?;
        u.verify(&key).map_err(tok)?;
        reg.check(&st.cfg.audience, now, self.leeway_s)
            .map_err(tok)?;
        let claims: RoleClaims = u.claims().map_err(tok)?;
        Ok((map_claims(&st.cfg, claims), reg.exp))
    }
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn map_claims(cfg: &TrustedIssuer, c: RoleClaims) -> Caller {
    let mut roles = cfg.default_roles.clone();
    for name in strings(c.rest.get(&cfg.roles_claim)) {
        let role = if cfg.roles.is_empty() {
            Role::parse(&name)
        } else {
            cfg.roles.get(&name).copied()
        };
        roles.extend(role);
    }
    roles.sort();
    roles.dedup();
    let jurisdiction = c
        .rest
        .get(&cfg.jurisdiction_claim)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .filter(|s| !s.is_empty());
    Caller {
        subject: c.sub,
        issuer: cfg.issuer.clone(),
        roles,
        jurisdiction,
    }
}

/// What the authentication middleware needs.
#[derive(Clone)]
pub struct AuthLayer {
    pub authenticator: Arc<Authenticator>,
    pub seal: CallerSeal,
    /// Requests per second per signed-in caller; `None` = no limit.
    pub per_principal: Option<Arc<crate::middleware::PrincipalLimiter>>,
}

/// Verifies the bearer token, if any, and runs the request with the caller
/// sealed for downstream calls. No token: the request goes on anonymous
/// (services decide what anonymous callers may do). A bad token: 401.
pub async fn authenticate(
    State(layer): State<AuthLayer>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return next.run(req).await;
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let result = match token {
        Some(t) => layer.authenticator.authenticate(t).await,
        None => Err(AuthError::Token(JwtError::Malformed)),
    };
    match result {
        Ok(caller) => {
            if let Some(limiter) = &layer.per_principal
                && let Err(not_until) = limiter.check_key(&caller.actor())
            {
                metrics::counter!("plaza_http_rate_limited_total", "by" => "principal")
                    .increment(1);
                return crate::middleware::too_many(
                    &not_until,
                    "rate_limited_principal",
                    "Too many requests from your account. Please wait a moment and try again.",
                );
            }
            let sealed: Arc<str> = layer
                .seal
                .seal(&caller, plaza_kernel::clock::now_ms())
                .into();
            req.extensions_mut().insert(caller);
            with_sealed_caller(sealed, next.run(req)).await
        }
        Err(e) => {
            if let AuthError::Token(t) = &e {
                metrics::counter!("plaza_auth_rejected_total", "code" => t.code()).increment(1);
            }
            let mut resp = e.problem().into_response();
            if matches!(e, AuthError::Token(_)) {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            resp
        }
    }
}
