//! Accounts, clients, authorization codes and tokens.

use std::path::PathBuf;
use std::sync::Arc;

use plaza_audit::trail::{self, Record};
use plaza_kernel::auth::Role;
use plaza_kernel::clock::Clock;
use plaza_kernel::db::{Db, Tx};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::Error;
use crate::keys::SigningKeys;
use crate::mail::{Mail, Mailer};
use crate::secrets;

/// The identity service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer URL, e.g. `https://id.dmv.example.gov/oidc`.
    pub issuer: String,
    /// The audience of access tokens.
    pub audience: String,
    pub access_ttl_s: i64,
    pub id_ttl_s: i64,
    pub refresh_ttl_s: i64,
    pub code_ttl_s: i64,
    pub verification_ttl_s: i64,
    /// Consecutive failures before an account locks.
    pub lock_after: i64,
    /// The first lock's length; each further failure doubles it.
    pub lock_base_s: i64,
    pub lock_max_s: i64,
}

impl Settings {
    pub fn new(issuer: &str, audience: &str) -> Settings {
        Settings {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.to_owned(),
            access_ttl_s: 600,
            id_ttl_s: 600,
            refresh_ttl_s: 30 * 86_400,
            code_ttl_s: 60,
            verification_ttl_s: 2 * 86_400,
            lock_after: 5,
            lock_base_s: 30,
            lock_max_s: 3_600,
        }
    }

    /// How long a retired signing key must stay published.
    pub fn longest_token_s(&self) -> i64 {
        self.access_ttl_s.max(self.id_ttl_s)
    }
}

/// An account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    password_hash: String,
    pub roles: Vec<Role>,
    pub jurisdiction: Option<String>,
    totp_secret: Option<String>,
    totp_last_step: i64,
    pub email_verified: bool,
    failed_logins: i64,
    locked_until_ms: i64,
}

impl User {
    pub fn needs_second_factor(&self) -> bool {
        self.roles.iter().any(|r| r.is_staff())
    }
}

const USER_COLUMNS: &str = "id, email, password_hash, roles, jurisdiction, totp_secret, totp_last_step, email_verified, failed_logins, locked_until_ms";

fn user_from(r: &sqlx::any::AnyRow) -> Result<User, Error> {
    let roles: String = r.try_get(3)?;
    Ok(User {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        roles: roles.split(',').filter_map(Role::parse).collect(),
        jurisdiction: r.try_get(4)?,
        totp_secret: r.try_get(5)?,
        totp_last_step: r.try_get(6)?,
        email_verified: r.try_get::<i64, _>(7)? != 0,
        failed_logins: r.try_get(8)?,
        locked_until_ms: r.try_get(9)?,
    })
}

/// A registered relying party.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Checks the secret a confidential client presented (public clients
    /// have none and must present none).
    pub fn authenticate(&self, secret: Option<&str>) -> bool {
        match (&self.secret_hash, secret) {
            (None, None) => true,
            // Hashes are compared, not secrets: timing reveals nothing an
            // attacker can steer towards the stored value.
            (Some(h), Some(s)) => secrets::token_hash(s) == *h,
            _ => false,
        }
    }
}

/// Why a sign-in was refused. The page shows the same words for a wrong
/// e-mail address and a wrong password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    BadCredentials,
    Locked { until_ms: i64 },
    Unverified,
    BadCode,
}

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    pub error: &'static str,
    pub error_description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            error,
            error_description: description.into(),
        }
    }
}

/// What the token endpoint answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub id_token: String,
    pub refresh_token: String,
    pub scope: String,
}

/// The claims of Plaza's access tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    pub amr: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    azp: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    amr: Vec<String>,
    email: String,
    email_verified: bool,
    roles: Vec<Role>,
}

/// What an authorization request asked for, validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

/// What a code or refresh token grants, on its way to becoming tokens.
struct Grant {
    family: String,
    user_id: String,
    scope: String,
    amr: String,
    auth_time: i64,
    nonce: Option<String>,
}

/// The identity service.
#[derive(Clone)]
pub struct Identity {
    db: Db,
    keys: Arc<SigningKeys>,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.settings.issuer)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A normalised e-mail address, or why it is not one.
pub fn normalise_email(email: &str) -> Result<String, Error> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e)
    } else {
        Err(invalid("email", "is not an e-mail address"))
    }
}

fn check_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < secrets::MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            format!(
                "must be at least {} characters",
                secrets::MIN_PASSWORD_CHARS
            ),
        ));
    }
    if password.len() > 1024 {
        return Err(invalid("password", "is longer than 1024 bytes"));
    }
    Ok(())
}

impl Identity {
    pub fn new(
        db: Db,
        keys: Arc<SigningKeys>,
        settings: Settings,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
    ) -> Identity {
        Identity {
            db,
            keys,
            settings: Arc::new(settings),
            clock,
            mailer,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// How the audit trail names one of this provider's accounts (the
    /// `Caller::actor` form).
    fn actor_of(&self, user_id: &str) -> String {
        format!("{}|{user_id}", self.settings.issuer)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    async fn audit(
        &self,
        tx: &mut Tx,
        actor: &str,
        action: &str,
        resource: &str,
        outcome: &str,
    ) -> Result<(), Error> {
        // Every event here concerns one account: the person can list it.
        let subject = match resource.strip_prefix("user/") {
            Some(id) => self.actor_of(id),
            None => actor.to_owned(),
        };
        trail::record(
            tx,
            crate::SERVICE,
            self.now_ms(),
            Record {
                actor,
                action,
                resource,
                subject: Some(&subject),
                purpose: "sign_in",
                outcome,
            },
        )
        .await?;
        Ok(())
    }

    /// Adds an account on behalf of `actor` (who the audit trail names).
    /// Staff accounts get a TOTP secret, returned once.
    pub async fn add_user_as(
        &self,
        actor: &str,
        email: &str,
        password: &str,
        roles: &[Role],
        jurisdiction: Option<&str>,
        email_verified: bool,
    ) -> Result<(User, Option<String>), Error> {
        let email = normalise_email(email)?;
        check_password(password)?;
        if roles.is_empty() {
            return Err(invalid("roles", "names no role"));
        }
        let jurisdiction = jurisdiction.map(str::trim).filter(|j| !j.is_empty());
        if let Some(j) = jurisdiction
            && !j
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " /-_".contains(c))
        {
            return Err(invalid("jurisdiction", "must look like PA or PA/Dauphin"));
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let staff = roles.iter().any(|r| r.is_staff());
        let totp = staff.then(secrets::new_totp_secret);
        let hash = {
            let p = password.to_owned();
            tokio::task::spawn_blocking(move || secrets::hash_password(&p))
                .await
                .expect("hashing does not panic")
        };
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.db.begin().await?;
        let taken = sqlx::query("SELECT 1 FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(Error::EmailTaken);
        }
        let roles_text = roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, roles, jurisdiction, totp_secret, totp_last_step, \
             email_verified, failed_logins, locked_until_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 0, 0, $8)",
        )
        .bind(&id)
        .bind(&email)
        .bind(&hash)
        .bind(&roles_text)
        .bind(jurisdiction)
        .bind(totp.as_deref())
        .bind(email_verified as i64)
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await?;
        let own = self.actor_of(&id);
        let actor = if actor.is_empty() {
            own.as_str()
        } else {
            actor
        };
        self.audit(
            &mut tx,
            actor,
            "identity.account_created",
            &format!("user/{id}"),
            &format!("roles={roles_text}"),
        )
        .await?;
        self.db.commit(tx).await?;
        let user = self.user(&id).await?.ok_or(Error::NoSuchUser)?;
        Ok((user, totp))
    }

    /// [`Identity::add_user_as`] by an operator of this system.
    pub async fn add_user(
        &self,
        email: &str,
        password: &str,
        roles: &[Role],
        jurisdiction: Option<&str>,
        email_verified: bool,
    ) -> Result<(User, Option<String>), Error> {
        self.add_user_as(
            "system:plaza-users",
            email,
            password,
            roles,
            jurisdiction,
            email_verified,
        )
        .await
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .map(|r| user_from(&r))
            .transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email)
            .fetch_optional(self.db.reader())
            .await?
            .map(|r| user_from(&r))
            .transpose()
    }

    /// Mails the holder of account `user_id` (a notification another
    /// service asked for); false when there is no such account.
    pub async fn notify(&self, user_id: &str, subject: &str, body: &str) -> Result<bool, Error> {
        let Some(user) = self.user(user_id).await? else {
            return Ok(false);
        };
        self.mailer
            .send(Mail {
                to: user.email,
                subject: subject.to_owned(),
                body: body.to_owned(),
            })
            .await?;
        Ok(true)
    }

    /// A citizen registers: the account waits for its e-mail address to be
    /// confirmed through the link mailed to it.
    pub async fn register_citizen(&self, email: &str, password: &str) -> Result<(), Error> {
        let (user, _) = self
            .add_user(email, password, &[Role::Citizen], None, false)
            .await?;
        let token = secrets::random_token();
        sqlx::query("INSERT INTO email_verifications (token_hash, user_id, expires_at_ms, used) VALUES ($1, $2, $3, 0)")
            .bind(secrets::token_hash(&token))
            .bind(&user.id)
            .bind(self.now_ms() + self.settings.verification_ttl_s * 1000)
            .execute(self.db.reader())
            .await?;
        let link = format!("{}/verify-email?token={token}", self.settings.issuer);
        self.mailer
            .send(Mail {
                to: user.email.clone(),
                subject: "Confirm your e-mail address for Plaza".into(),
                body: format!(
                    "Someone (we hope you) made a Plaza account with this address.\r\n\r\n\
                     To confirm it, open this link within two days:\r\n\r\n{link}\r\n\r\n\
                     If it was not you, ignore this message: the account stays unusable.\r\n"
                ),
            })
            .await
    }

    /// Confirms an e-mail address; `false` for an unknown, used or expired link.
    pub async fn verify_email(&self, token: &str) -> Result<bool, Error> {
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "SELECT user_id, expires_at_ms, used FROM email_verifications WHERE token_hash = $1",
        )
        .bind(secrets::token_hash(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let (user_id, expires, used): (String, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if used != 0 || expires < self.now_ms() {
            return Ok(false);
        }
        sqlx::query("UPDATE email_verifications SET used = 1 WHERE token_hash = $1")
            .bind(secrets::token_hash(token))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        let actor = self.actor_of(&user_id);
        self.audit(
            &mut tx,
            &actor,
            "identity.email_verified",
            &format!("user/{user_id}"),
            "ok",
        )
        .await?;
        self.db.commit(tx).await?;
        Ok(true)
    }

    /// Registers a client. Confidential clients get a secret, returned once.
    pub async fn add_client(
        &self,
        name: &str,
        redirect_uris: &[String],
        post_logout_redirect_uris: &[String],
        public: bool,
    ) -> Result<(Client, Option<String>), Error> {
        if redirect_uris.is_empty() {
            return Err(invalid("redirect_uri", "at least one is required"));
        }
        for u in redirect_uris.iter().chain(post_logout_redirect_uris) {
            let ok = (u.starts_with("https://")
                || u.starts_with("http://127.0.0.1")
                || u.starts_with("http://localhost"))
                && !u.contains('#')
                && !u.chars().any(|c| c.is_whitespace());
            if !ok {
                return Err(invalid(
                    "redirect_uri",
                    format!("{u:?} must be https:// (or http:// on localhost) without a fragment"),
                ));
            }
        }
        let id = format!("plaza-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let secret = (!public).then(secrets::random_token);
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name.trim())
        .bind(secret.as_deref().map(secrets::token_hash))
        .bind(redirect_uris.join("\n"))
        .bind(post_logout_redirect_uris.join("\n"))
        .bind(self.now_ms())
        .execute(self.db.reader())
        .await?;
        let client = self.client(&id).await?.ok_or(Error::ClientExists)?;
        Ok((client, secret))
    }

    pub async fn client(&self, id: &str) -> Result<Option<Client>, Error> {
        let row = sqlx::query(
            "SELECT id, name, secret_hash, redirect_uris, post_logout_redirect_uris FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let lines = |s: String| {
            s.lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect()
        };
        Ok(Some(Client {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            secret_hash: r.try_get(2)?,
            redirect_uris: lines(r.try_get(3)?),
            post_logout_redirect_uris: lines(r.try_get(4)?),
        }))
    }

    async fn record_failure(&self, user: &User) -> Result<LoginError, Error> {
        let failures = user.failed_logins + 1;
        let now = self.now_ms();
        let locked_until = if failures >= self.settings.lock_after {
            let doublings = (failures - self.settings.lock_after).min(20) as u32;
            let secs = (self.settings.lock_base_s << doublings).min(self.settings.lock_max_s);
            now + secs * 1000
        } else {
            0
        };
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE users SET failed_logins = $1, locked_until_ms = $2 WHERE id = $3")
            .bind(failures)
            .bind(locked_until)
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let actor = self.actor_of(&user.id);
        let resource = format!("user/{}", user.id);
        self.audit(
            &mut tx,
            &actor,
            "identity.sign_in_failed",
            &resource,
            &format!("failures={failures}"),
        )
        .await?;
        if locked_until > 0 {
            self.audit(
                &mut tx,
                &actor,
                "identity.account_locked",
                &resource,
                &format!("until_ms={locked_until}"),
            )
            .await?;
            metrics::counter!("plaza_identity_lockouts_total").increment(1);
        }
        self.db.commit(tx).await?;
        metrics::counter!("plaza_identity_sign_in_failures_total").increment(1);
        Ok(if locked_until > 0 {
            LoginError::Locked {
                until_ms: locked_until,
            }
        } else {
            LoginError::BadCredentials
        })
    }

    /// Checks an e-mail address and password. Repeated failures lock the
    /// account for longer and longer.
    pub async fn check_password(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Result<User, LoginError>, Error> {
        let user = match normalise_email(email) {
            Ok(e) => self.user_by_email(&e).await?,
            Err(_) => None,
        };
        let stored = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| secrets::decoy_hash().to_owned());
        if let Some(u) = &user
            && u.locked_until_ms > self.now_ms()
        {
            return Ok(Err(LoginError::Locked {
                until_ms: u.locked_until_ms,
            }));
        }
        let given = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&given, &stored))
            .await
            .expect("verifying does not panic");
        match user {
            None => Ok(Err(LoginError::BadCredentials)),
            Some(u) if !ok => Ok(Err(self.record_failure(&u).await?)),
            Some(u) if !u.email_verified => Ok(Err(LoginError::Unverified)),
            Some(u) => Ok(Ok(u)),
        }
    }

    /// Checks a second-factor code of a user whose password was right.
    pub async fn check_second_factor(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<Result<User, LoginError>, Error> {
        let Some(user) = self.user(user_id).await? else {
            return Ok(Err(LoginError::BadCredentials));
        };
        if user.locked_until_ms > self.now_ms() {
            return Ok(Err(LoginError::Locked {
                until_ms: user.locked_until_ms,
            }));
        }
        let Some(secret) = &user.totp_secret else {
            return Ok(Err(LoginError::BadCode));
        };
        let now_s = self.now_ms() / 1000;
        match secrets::totp_match(secret, code, now_s, user.totp_last_step) {
            None => {
                self.record_failure(&user).await?;
                Ok(Err(LoginError::BadCode))
            }
            Some(step) => {
                // Conditional update: two requests racing with one code
                // cannot both pass.
                let done = sqlx::query(
                    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
                )
                .bind(step)
                .bind(&user.id)
                .execute(self.db.reader())
                .await?
                .rows_affected();
                if done == 1 {
                    Ok(Ok(user))
                } else {
                    Ok(Err(LoginError::BadCode))
                }
            }
        }
    }

    /// Issues an authorization code for a user who signed in.
    pub async fn issue_code(
        &self,
        req: &AuthRequest,
        user: &User,
        amr: &[&str],
    ) -> Result<String, Error> {
        let code = secrets::random_token();
        let now = self.now_ms();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, nonce, scope, amr, \
             auth_time_s, expires_at_ms, used, family_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, NULL)",
        )
        .bind(secrets::token_hash(&code))
        .bind(&req.client_id)
        .bind(&user.id)
        .bind(&req.redirect_uri)
        .bind(&req.code_challenge)
        .bind(req.nonce.as_deref())
        .bind(&req.scope)
        .bind(amr.join(" "))
        .bind(now / 1000)
        .bind(now + self.settings.code_ttl_s * 1000)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until_ms = 0 WHERE id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        let actor = self.actor_of(&user.id);
        self.audit(
            &mut tx,
            &actor,
            "identity.signed_in",
            &format!("client/{}", req.client_id),
            &amr.join("+"),
        )
        .await?;
        self.db.commit(tx).await?;
        metrics::counter!("plaza_identity_sign_ins_total").increment(1);
        Ok(code)
    }

    async fn revoke_family(&self, tx: &mut Tx, family: &str) -> Result<(), Error> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1")
            .bind(family)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Result<TokenResponse, OAuthError>, Error> {
        let grant = |d: &str| Ok(Err(OAuthError::new("invalid_grant", d)));
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "SELECT client_id, user_id, redirect_uri, code_challenge, nonce, scope, amr, auth_time_s, expires_at_ms, used, family_id \
             FROM auth_codes WHERE code_hash = $1",
        )
        .bind(secrets::token_hash(code))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            return grant("The authorization code is not valid.");
        };
        let (client_id, user_id, redirect, challenge): (String, String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let (nonce, scope, amr, auth_time): (Option<String>, String, String, i64) =
            (r.try_get(4)?, r.try_get(5)?, r.try_get(6)?, r.try_get(7)?);
        let (expires, used, family): (i64, i64, Option<String>) =
            (r.try_get(8)?, r.try_get(9)?, r.try_get(10)?);
        if used != 0 {
            // A replayed code: whoever holds it may have stolen it, so the
            // tokens issued for it stop working too (RFC 9700 §4.5).
            if let Some(f) = &family {
                self.revoke_family(&mut tx, f).await?;
            }
            let actor = self.actor_of(&user_id);
            self.audit(
                &mut tx,
                &actor,
                "identity.code_replayed",
                &format!("client/{client_id}"),
                "tokens_revoked",
            )
            .await?;
            self.db.commit(tx).await?;
            metrics::counter!("plaza_identity_code_replays_total").increment(1);
            return grant("The authorization code was already used.");
        }
        if expires < self.now_ms() {
            return grant("The authorization code has expired.");
        }
        if client_id != client.id {
            return grant("The authorization code was issued to another client.");
        }
        if redirect != redirect_uri {
            return grant("redirect_uri differs from the authorization request's.");
        }
        if verifier.len() < 43
            || verifier.len() > 128
            || secrets::pkce_challenge(verifier) != challenge
        {
            return grant("The code_verifier does not match the code_challenge.");
        }
        let family = uuid::Uuid::now_v7().to_string();
        sqlx::query("UPDATE auth_codes SET used = 1, family_id = $1 WHERE code_hash = $2")
            .bind(&family)
            .bind(secrets::token_hash(code))
            .execute(&mut *tx)
            .await?;
        let grant = Grant {
            family,
            user_id,
            scope,
            amr,
            auth_time,
            nonce,
        };
        self.issue(tx, client, grant).await
    }

    /// Commits a grant with a new refresh token of its family, and the
    /// tokens for it.
    async fn issue(
        &self,
        mut tx: Tx,
        client: &Client,
        g: Grant,
    ) -> Result<Result<TokenResponse, OAuthError>, Error> {
        let Some(user) = self.user(&g.user_id).await? else {
            return Ok(Err(OAuthError::new(
                "invalid_grant",
                "The account no longer exists.",
            )));
        };
        let refresh = self
            .insert_refresh(
                &mut tx,
                &g.family,
                &client.id,
                &user.id,
                &g.scope,
                &g.amr,
                g.auth_time,
            )
            .await?;
        self.db.commit(tx).await?;
        Ok(Ok(self.tokens(
            client,
            &user,
            &g.scope,
            &g.amr,
            g.auth_time,
            g.nonce,
            refresh,
        )))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_refresh(
        &self,
        tx: &mut Tx,
        family: &str,
        client_id: &str,
        user_id: &str,
        scope: &str,
        amr: &str,
        auth_time: i64,
    ) -> Result<String, Error> {
        let token = secrets::random_token();
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, amr, auth_time_s, expires_at_ms, used, revoked, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9)",
        )
        .bind(secrets::token_hash(&token))
        .bind(family)
        .bind(client_id)
        .bind(user_id)
        .bind(scope)
        .bind(amr)
        .bind(auth_time)
        .bind(now + self.settings.refresh_ttl_s * 1000)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(token)
    }

    /// Exchanges a refresh token for new tokens and a new refresh token.
    /// A refresh token works once: presenting it again revokes every token
    /// descended from the same sign-in.
    pub async fn refresh(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Result<TokenResponse, OAuthError>, Error> {
        let grant = |d: &str| Ok(Err(OAuthError::new("invalid_grant", d)));
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "SELECT family_id, client_id, user_id, scope, amr, auth_time_s, expires_at_ms, used, revoked \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(secrets::token_hash(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            return grant("The refresh token is not valid.");
        };
        let (family, client_id, user_id, scope, amr): (String, String, String, String, String) = (
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
        );
        let (auth_time, expires, used, revoked): (i64, i64, i64, i64) =
            (r.try_get(5)?, r.try_get(6)?, r.try_get(7)?, r.try_get(8)?);
        if client_id != client.id {
            return grant("The refresh token was issued to another client.");
        }
        if revoked != 0 {
            return grant("The refresh token was revoked.");
        }
        if used != 0 {
            self.revoke_family(&mut tx, &family).await?;
            let actor = self.actor_of(&user_id);
            self.audit(
                &mut tx,
                &actor,
                "identity.refresh_token_reused",
                &format!("client/{client_id}"),
                "family_revoked",
            )
            .await?;
            self.db.commit(tx).await?;
            metrics::counter!("plaza_identity_refresh_reuse_total").increment(1);
            return grant(
                "The refresh token was already used; every token of this sign-in is now revoked.",
            );
        }
        if expires < self.now_ms() {
            return grant("The refresh token has expired.");
        }
        let marked =
            sqlx::query("UPDATE refresh_tokens SET used = 1 WHERE token_hash = $1 AND used = 0")
                .bind(secrets::token_hash(token))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if marked != 1 {
            return grant("The refresh token was already used.");
        }
        let grant = Grant {
            family,
            user_id,
            scope,
            amr,
            auth_time,
            nonce: None,
        };
        self.issue(tx, client, grant).await
    }

    #[allow(clippy::too_many_arguments)]
    fn tokens(
        &self,
        client: &Client,
        user: &User,
        scope: &str,
        amr: &str,
        auth_time: i64,
        nonce: Option<String>,
        refresh_token: String,
    ) -> TokenResponse {
        let now = self.now_ms() / 1000;
        let amr: Vec<String> = amr.split_whitespace().map(str::to_owned).collect();
        let access = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.clone(),
            aud: self.settings.audience.clone(),
            exp: now + self.settings.access_ttl_s,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: client.id.clone(),
            scope: scope.to_owned(),
            roles: user.roles.clone(),
            jurisdiction: user.jurisdiction.clone(),
            amr: amr.clone(),
        };
        let id = IdClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.clone(),
            aud: client.id.clone(),
            azp: client.id.clone(),
            exp: now + self.settings.id_ttl_s,
            iat: now,
            auth_time,
            nonce,
            amr,
            email: user.email.clone(),
            email_verified: user.email_verified,
            roles: user.roles.clone(),
        };
        TokenResponse {
            access_token: self.keys.sign("at+jwt", &access),
            token_type: "Bearer".into(),
            expires_in: self.settings.access_ttl_s,
            id_token: self.keys.sign("JWT", &id),
            refresh_token,
            scope: scope.to_owned(),
        }
    }

    /// The claims of one of Plaza's own access tokens, if it is valid now.
    pub fn verify_access_token(&self, token: &str) -> Option<AccessClaims> {
        let claims: AccessClaims = self.verify_own(token, &self.settings.audience, false)?;
        Some(claims)
    }

    /// Verifies a token this provider signed, for `audience`; with
    /// `allow_expired`, an expired one too (an `id_token_hint`).
    pub fn verify_own<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
        allow_expired: bool,
    ) -> Option<T> {
        let u = plaza_kernel::jwt::parse(token).ok()?;
        u.verify(&self.keys.verify_key(u.header.kid.as_deref()?)?)
            .ok()?;
        let reg: plaza_kernel::jwt::Registered = u.claims().ok()?;
        if reg.iss != self.settings.issuer {
            return None;
        }
        let now = self.now_ms() / 1000;
        match reg.check(audience, now, 0) {
            Ok(()) => {}
            Err(plaza_kernel::jwt::JwtError::Expired) if allow_expired => {}
            Err(_) => return None,
        }
        u.claims().ok()
    }

    /// Signs a user out of a client: every refresh token of theirs for it
    /// stops working.
    pub async fn logout(&self, user_id: &str, client_id: &str) -> Result<(), Error> {
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let actor = self.actor_of(user_id);
        self.audit(
            &mut tx,
            &actor,
            "identity.signed_out",
            &format!("client/{client_id}"),
            "ok",
        )
        .await?;
        self.db.commit(tx).await?;
        Ok(())
    }

    /// Where the service's mail goes, for the start-up summary.
    pub fn mail_description(&self) -> String {
        self.mailer.describe()
    }
}

/// The data folder's mail spool.
pub fn mail_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("mail")
}
