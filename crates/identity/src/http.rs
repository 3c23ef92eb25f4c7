//! The OpenID Connect endpoints and the sign-in pages, mounted at `/oidc`.
//!
//! Pages are plain server-rendered HTML with labelled fields, no script,
//! and errors announced to screen readers (`role="alert"`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::app::{AuthRequest, Client, Identity, LoginError, OAuthError, User};

/// The router, to be nested at `/oidc`.
pub fn router(identity: Identity) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/login", post(login))
        .route("/second-factor", post(second_factor))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/logout", get(logout))
        .route("/register", get(register_page).post(register))
        .route("/verify-email", get(verify_email))
        .route("/style.css", get(style))
        .with_state(identity)
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://");
    match rest {
        Some((scheme, r)) => {
            let host = r.split(['/', '?']).next().unwrap_or("");
            format!("{scheme}://{host}")
        }
        None => String::new(),
    }
}

/// A page, with a policy that lets its form lead on to `form_target`.
fn page(status: StatusCode, title: &str, body: &str, form_target: Option<&str>) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} – Plaza</title><link rel=\"stylesheet\" href=\"style.css\"></head>\
         <body><main><h1>{}</h1>{body}</main></body></html>\n",
        esc(title),
        esc(title)
    );
    let mut resp = (status, Html(html)).into_response();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {}; \
         frame-ancestors 'none'; base-uri 'none'",
        form_target.map(origin).unwrap_or_default()
    );
    if let Ok(v) = HeaderValue::from_str(csp.trim()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn alert(msg: &str) -> String {
    format!(
        "<p class=\"error\" role=\"alert\" id=\"form-error\">{}</p>",
        esc(msg)
    )
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
        .into_response()
}

async fn discovery(State(id): State<Identity>) -> Json<serde_json::Value> {
    let iss = &id.settings().issuer;
    Json(serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "end_session_endpoint": format!("{iss}/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        "userinfo_signing_alg_values_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp",
                             "email", "email_verified", "roles", "jurisdiction"],
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{}/docs", origin(iss)),
    }))
}

async fn jwks(State(id): State<Identity>) -> Response {
    let mut r = Json(id.keys().jwks()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct AuthParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

enum AuthFailure {
    /// The client or redirect is unknown: show a page, never redirect.
    Page(String),
    /// Tell the client, at its redirect URI.
    Redirect(String),
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        match self {
            AuthFailure::Page(msg) => page(
                StatusCode::BAD_REQUEST,
                "Cannot sign in",
                &alert(&msg),
                None,
            ),
            AuthFailure::Redirect(url) => Redirect::to(&url).into_response(),
        }
    }
}

/// The page for a failure on Plaza's side (logged with its cause).
fn unavailable(what: &str, e: &crate::Error) -> Response {
    tracing::error!(error = %e, "{what}");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Cannot sign in",
        &alert("Sign-in is not available right now. Please try again later."),
        None,
    )
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in pairs {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&pct(v));
        sep = '&';
    }
    url
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn validate(id: &Identity, p: &AuthParams) -> Result<(Client, AuthRequest), AuthFailure> {
    let client_id = p.client_id.clone().unwrap_or_default();
    let client = match id.client(&client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(AuthFailure::Page(
                "This application is not registered with Plaza.".into(),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a client");
            return Err(AuthFailure::Page(
                "Sign-in is not available right now. Please try again later.".into(),
            ));
        }
    };
    let redirect_uri = p.redirect_uri.clone().unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(AuthFailure::Page(
            "This application asked to return to an address it has not registered.".into(),
        ));
    }
    let fail = |error: &str, desc: &str| {
        let mut pairs = vec![
            ("error", error),
            ("error_description", desc),
            ("iss", id.settings().issuer.as_str()),
        ];
        if let Some(s) = &p.state {
            pairs.push(("state", s));
        }
        AuthFailure::Redirect(with_query(&redirect_uri, &pairs))
    };
    if p.response_type.as_deref() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let scope = p.scope.clone().unwrap_or_default();
    if !scope.split_whitespace().any(|s| s == "openid") {
        return Err(fail("invalid_scope", "scope must include openid"));
    }
    let challenge = p.code_challenge.clone().unwrap_or_default();
    if p.code_challenge_method.as_deref() != Some("S256") || challenge.len() != 43 {
        return Err(fail(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        ));
    }
    for (name, v) in [("state", &p.state), ("nonce", &p.nonce)] {
        if v.as_ref().is_some_and(|v| v.len() > 512) {
            return Err(fail(
                "invalid_request",
                &format!("{name} is longer than 512 characters"),
            ));
        }
    }
    Ok((
        client,
        AuthRequest {
            client_id,
            redirect_uri,
            scope,
            state: p.state.clone(),
            nonce: p.nonce.clone(),
            code_challenge: challenge,
        },
    ))
}

fn hidden(p: &AuthParams) -> String {
    let v = serde_json::to_value(p).expect("params serialise");
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s)))
        .map(|(k, s)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(s)
            )
        })
        .collect()
}

fn login_page(client: &Client, p: &AuthParams, error: Option<&str>, email: &str) -> Response {
    let described = if error.is_some() {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    let body = format!(
        "<p>to continue to <strong>{}</strong></p>{}\
         <form method=\"post\" action=\"login\">{}\
         <label for=\"email\">E-mail address</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\"{described}>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{described}>\
         <button type=\"submit\">Sign in</button></form>\
         <p>No account yet? <a href=\"register\">Create one</a>.</p>",
        esc(&client.name),
        error.map(alert).unwrap_or_default(),
        hidden(p),
        esc(email),
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    page(status, "Sign in", &body, p.redirect_uri.as_deref())
}

async fn authorize(State(id): State<Identity>, Query(p): Query<AuthParams>) -> Response {
    match validate(&id, &p).await {
        Ok((client, _)) => login_page(&client, &p, None, ""),
        Err(failure) => failure.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(flatten)]
    params: AuthParams,
}

fn login_error_text(e: &LoginError, now_ms: i64) -> String {
    match e {
        LoginError::BadCredentials => "The e-mail address or password is not right.".into(),
        LoginError::Locked { until_ms } => format!(
            "Too many failed attempts: this account is locked for {} more seconds.",
            ((until_ms - now_ms) / 1000).max(1)
        ),
        LoginError::Unverified => {
            "Confirm your e-mail address first: open the link we sent you.".into()
        }
        LoginError::BadCode => {
            "That code is not right, or was already used. Enter the current code.".into()
        }
    }
}

async fn finish(id: &Identity, req: &AuthRequest, user: &User, amr: &[&str]) -> Response {
    match id.issue_code(req, user, amr).await {
        Ok(code) => {
            let mut pairs = vec![
                ("code", code.as_str()),
                ("iss", id.settings().issuer.as_str()),
            ];
            if let Some(s) = &req.state {
                pairs.push(("state", s));
            }
            Redirect::to(&with_query(&req.redirect_uri, &pairs)).into_response()
        }
        Err(e) => unavailable("issuing an authorization code", &e),
    }
}

#[derive(Serialize, Deserialize)]
struct Ticket {
    uid: String,
    req: AuthParams,
    exp: i64,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn ticket_mac(id: &Identity, payload: &str) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(&id.keys().ticket_key()).expect("any key length");
    mac.update(payload.as_bytes());
    mac
}

fn seal_ticket(id: &Identity, t: &Ticket) -> String {
    let payload = B64.encode(serde_json::to_vec(t).expect("ticket serialises"));
    let tag = B64.encode(ticket_mac(id, &payload).finalize().into_bytes());
    format!("{payload}.{tag}")
}

fn open_ticket(id: &Identity, s: &str) -> Option<Ticket> {
    let (payload, tag) = s.split_once('.')?;
    ticket_mac(id, payload)
        .verify_slice(&B64.decode(tag).ok()?)
        .ok()?;
    let t: Ticket = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (t.exp >= plaza_kernel::clock::now_ms()).then_some(t)
}

fn second_factor_page(ticket: &str, error: Option<&str>, target: Option<&str>) -> Response {
    let described = if error.is_some() {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    let body = format!(
        "<p>Staff accounts need a second factor. Enter the 6-digit code your authenticator app shows for Plaza.</p>{}\
         <form method=\"post\" action=\"second-factor\"><input type=\"hidden\" name=\"ticket\" value=\"{}\">\
         <label for=\"code\">Code</label>\
         <input id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" autocomplete=\"one-time-code\" required{described}>\
         <button type=\"submit\">Continue</button></form>",
        error.map(alert).unwrap_or_default(),
        esc(ticket)
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    page(status, "Second factor", &body, target)
}

async fn login(State(id): State<Identity>, Form(f): Form<LoginForm>) -> Response {
    let (client, req) = match validate(&id, &f.params).await {
        Ok(v) => v,
        Err(failure) => return failure.into_response(),
    };
    match id.check_password(&f.email, &f.password).await {
        Err(e) => unavailable("checking a password", &e),
        Ok(Err(e)) => login_page(
            &client,
            &f.params,
            Some(&login_error_text(&e, plaza_kernel::clock::now_ms())),
            &f.email,
        ),
        Ok(Ok(user)) if user.needs_second_factor() => {
            let ticket = seal_ticket(
                &id,
                &Ticket {
                    uid: user.id.clone(),
                    req: f.params.clone(),
                    exp: plaza_kernel::clock::now_ms() + 300_000,
                },
            );
            second_factor_page(&ticket, None, f.params.redirect_uri.as_deref())
        }
        Ok(Ok(user)) => finish(&id, &req, &user, &["pwd"]).await,
    }
}

#[derive(Debug, Deserialize)]
struct SecondFactorForm {
    ticket: String,
    code: String,
}

async fn second_factor(State(id): State<Identity>, Form(f): Form<SecondFactorForm>) -> Response {
    let Some(ticket) = open_ticket(&id, &f.ticket) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            &alert("This sign-in took too long or was altered. Start again from the application."),
            None,
        );
    };
    let (_, req) = match validate(&id, &ticket.req).await {
        Ok(v) => v,
        Err(failure) => return failure.into_response(),
    };
    match id.check_second_factor(&ticket.uid, &f.code).await {
        Err(e) => unavailable("checking a second factor", &e),
        Ok(Err(e)) => second_factor_page(
            &f.ticket,
            Some(&login_error_text(&e, plaza_kernel::clock::now_ms())),
            ticket.req.redirect_uri.as_deref(),
        ),
        Ok(Ok(user)) => finish(&id, &req, &user, &["pwd", "otp"]).await,
    }
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, e: OAuthError) -> Response {
    let mut r = (status, Json(e)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"plaza\""),
        );
    }
    r
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'%' => return None,
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The client's id and secret, from HTTP Basic (RFC 6749 §2.3.1) or the form.
fn client_credentials(headers: &HeaderMap, f: &TokenForm) -> Option<(String, Option<String>)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(b) = v.strip_prefix("Basic ")
    {
        let text = String::from_utf8(STANDARD.decode(b.trim()).ok()?).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((percent_decode(id)?, Some(percent_decode(secret)?)));
    }
    Some((f.client_id.clone()?, f.client_secret.clone()))
}

async fn token(
    State(id): State<Identity>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let bad_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            OAuthError::new("invalid_client", "Client authentication failed."),
        )
    };
    let Some((client_id, secret)) = client_credentials(&headers, &f) else {
        return bad_client();
    };
    let client = match id.client(&client_id).await {
        Ok(Some(c)) if c.authenticate(secret.as_deref()) => c,
        Ok(_) => return bad_client(),
        Err(e) => {
            tracing::error!(error = %e, "reading a client");
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                OAuthError::new("temporarily_unavailable", "Try again shortly."),
            );
        }
    };
    let missing = |what: &str| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            OAuthError::new("invalid_request", format!("{what} is required")),
        )
    };
    let result = match f.grant_type.as_deref() {
        Some("authorization_code") => {
            let (Some(code), Some(redirect), Some(verifier)) =
                (&f.code, &f.redirect_uri, &f.code_verifier)
            else {
                return missing("code, redirect_uri and code_verifier");
            };
            id.exchange_code(&client, code, redirect, verifier).await
        }
        Some("refresh_token") => {
            let Some(rt) = &f.refresh_token else {
                return missing("refresh_token");
            };
            id.refresh(&client, rt).await
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                OAuthError::new(
                    "unsupported_grant_type",
                    "Use authorization_code or refresh_token.",
                ),
            );
        }
        None => return missing("grant_type"),
    };
    match result {
        Ok(Ok(tokens)) => {
            let mut r = Json(tokens).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Ok(Err(e)) => oauth_error(StatusCode::BAD_REQUEST, e),
        Err(e) => {
            tracing::error!(error = %e, "token endpoint");
            oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                OAuthError::new("temporarily_unavailable", "Try again shortly."),
            )
        }
    }
}

async fn userinfo(State(id): State<Identity>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(OAuthError::new(
                "invalid_token",
                "A valid access token is required.",
            )),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        r
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let Some(claims) = id.verify_access_token(token.trim()) else {
        return unauthorized();
    };
    match id.user(&claims.sub).await {
        Ok(Some(u)) => Json(serde_json::json!({
            "sub": u.id,
            "email": u.email,
            "email_verified": u.email_verified,
            "roles": u.roles,
            "jurisdiction": u.jurisdiction,
        }))
        .into_response(),
        Ok(None) => unauthorized(),
        Err(e) => {
            tracing::error!(error = %e, "userinfo");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct IdHint {
    sub: String,
    aud: String,
}

async fn logout(State(id): State<Identity>, Query(q): Query<HashMap<String, String>>) -> Response {
    let hint = q.get("id_token_hint").and_then(|t| {
        let aud = plaza_kernel::jwt::parse(t)
            .ok()
            .and_then(|u| u.claims::<IdHint>().ok())
            .map(|c| c.aud)?;
        id.verify_own::<IdHint>(t, &aud, true)
    });
    let Some(hint) = hint else {
        return page(
            StatusCode::BAD_REQUEST,
            "Cannot sign out",
            &alert(
                "The sign-out request did not say who is signing out. Close the browser to end the session.",
            ),
            None,
        );
    };
    if let Err(e) = id.logout(&hint.sub, &hint.aud).await {
        tracing::error!(error = %e, "logout");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot sign out",
            &alert("Please try again."),
            None,
        );
    }
    if let Some(target) = q.get("post_logout_redirect_uri")
        && let Ok(Some(client)) = id.client(&hint.aud).await
        && client.post_logout_redirect_uris.contains(target)
    {
        let url = match q.get("state") {
            Some(s) => with_query(target, &[("state", s)]),
            None => target.clone(),
        };
        return Redirect::to(&url).into_response();
    }
    page(
        StatusCode::OK,
        "Signed out",
        "<p>You are signed out of Plaza.</p>",
        None,
    )
}

fn register_form(error: Option<&str>, email: &str) -> Response {
    let described = if error.is_some() {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    let body = format!(
        "<p>An account lets you renew a licence or apply for a permit online.</p>{}\
         <form method=\"post\" action=\"register\">\
         <label for=\"email\">E-mail address</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required value=\"{}\"{described}>\
         <label for=\"password\">Password (at least {} characters)</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{}\" required{described}>\
         <button type=\"submit\">Create account</button></form>",
        error.map(alert).unwrap_or_default(),
        esc(email),
        crate::secrets::MIN_PASSWORD_CHARS,
        crate::secrets::MIN_PASSWORD_CHARS,
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(status, "Create an account", &body, None)
}

async fn register_page() -> Response {
    register_form(None, "")
}

#[derive(Debug, Deserialize)]
struct RegisterForm {
    email: String,
    password: String,
}

async fn register(State(id): State<Identity>, Form(f): Form<RegisterForm>) -> Response {
    let sent = page(
        StatusCode::OK,
        "Check your e-mail",
        "<p>If this address can be used, we have sent it a link. Open it to confirm the address, then sign in.</p>",
        None,
    );
    match id.register_citizen(&f.email, &f.password).await {
        Ok(()) => sent,
        // The same answer as for a new address: the page does not tell
        // anyone which addresses have accounts.
        Err(crate::Error::EmailTaken) => sent,
        Err(e @ crate::Error::Invalid { .. }) => register_form(Some(&e.public().message), &f.email),
        Err(e) => {
            tracing::error!(error = %e, "registration");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot register",
                &alert("Please try again later."),
                None,
            )
        }
    }
}

async fn verify_email(
    State(id): State<Identity>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q.get("token").map(String::as_str).unwrap_or("");
    match id.verify_email(token).await {
        Ok(true) => page(
            StatusCode::OK,
            "Address confirmed",
            "<p>Your e-mail address is confirmed. Go back to the application and sign in.</p>",
            None,
        ),
        Ok(false) => page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            &alert(
                "This link is not valid, was already used, or has expired. Register again to get a new one.",
            ),
            None,
        ),
        Err(e) => {
            tracing::error!(error = %e, "verifying an e-mail address");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                &alert("Please try again later."),
                None,
            )
        }
    }
}
