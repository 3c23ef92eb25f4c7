//! Signing in the way a browser does, for tests of Plaza and of the
//! applications built on it: the authorization request, the sign-in form,
//! the second-factor form, the code exchange. Everything goes over HTTP to
//! a running provider.

use crate::app::TokenResponse;
use crate::secrets;

/// Who signs in, and through which client.
#[derive(Debug, Clone)]
pub struct SignIn<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// The account's TOTP secret, for staff.
    pub totp_secret: Option<&'a str>,
}

/// The current TOTP code of a base32 secret.
pub fn current_code(secret_b32: &str) -> String {
    let secret = secrets::base32_decode(secret_b32).unwrap_or_default();
    let step = plaza_kernel::clock::now_ms() / 1000 / secrets::TOTP_STEP_S;
    format!("{:06}", secrets::hotp(&secret, step as u64))
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            v.replace("%2D", "-")
                .replace("%5F", "_")
                .replace("%2E", ".")
                .replace("%7E", "~")
        })
    })
}

/// The authorization code the flow ends with, and the PKCE verifier to
/// redeem it.
#[derive(Debug, Clone)]
pub struct Code {
    pub code: String,
    pub verifier: String,
}

/// Runs the browser part of the flow; `Err` holds the last page's status
/// and text when it did not end with a redirect carrying a code.
pub async fn authorize(s: &SignIn<'_>) -> Result<Code, (u16, String)> {
    let http = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::builder()
    }
    .redirect(reqwest::redirect::Policy::none())
    .build()
    .expect("client builds");
    let verifier = format!("{}{}", secrets::random_token(), secrets::random_token());
    let challenge = secrets::pkce_challenge(&verifier);
    let params = [
        ("response_type", "code"),
        ("client_id", s.client_id),
        ("redirect_uri", s.redirect_uri),
        ("scope", "openid email"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = http
        .get(format!("{}/authorize", s.issuer))
        .query(&params)
        .send()
        .await
        .map_err(|e| (0, e.to_string()))?;
    if page.status() != 200 {
        let st = page.status().as_u16();
        return Err((st, page.text().await.unwrap_or_default()));
    }
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("email", s.email));
    form.push(("password", s.password));
    let mut resp = http
        .post(format!("{}/login", s.issuer))
        .form(&form)
        .send()
        .await
        .map_err(|e| (0, e.to_string()))?;
    if resp.status() == 200 {
        let text = resp.text().await.unwrap_or_default();
        let marker = "name=\"ticket\" value=\"";
        let Some(start) = text.find(marker).map(|i| i + marker.len()) else {
            return Err((200, text));
        };
        let ticket = text[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned();
        let code = s.totp_secret.map(current_code).unwrap_or_default();
        resp = http
            .post(format!("{}/second-factor", s.issuer))
            .form(&[("ticket", ticket.as_str()), ("code", code.as_str())])
            .send()
            .await
            .map_err(|e| (0, e.to_string()))?;
    }
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match location.as_deref().and_then(|l| query_param(l, "code")) {
        Some(code) if status == 303 => Ok(Code { code, verifier }),
        _ => Err((
            status,
            location.unwrap_or(resp.text().await.unwrap_or_default()),
        )),
    }
}

/// Redeems a code at the token endpoint (as a public client).
pub async fn redeem(
    s: &SignIn<'_>,
    code: &Code,
) -> Result<TokenResponse, (u16, serde_json::Value)> {
    let r = {
        plaza_kernel::install_crypto_provider();
        reqwest::Client::new()
    }
    .post(format!("{}/token", s.issuer))
    .form(&[
        ("grant_type", "authorization_code"),
        ("code", code.code.as_str()),
        ("redirect_uri", s.redirect_uri),
        ("code_verifier", code.verifier.as_str()),
        ("client_id", s.client_id),
    ])
    .send()
    .await
    .map_err(|e| (0, serde_json::Value::String(e.to_string())))?;
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    if status == 200 {
        serde_json::from_value(body.clone()).map_err(|_| (status, body))
    } else {
        Err((status, body))
    }
}

/// The whole flow: tokens for the account.
pub async fn sign_in(s: &SignIn<'_>) -> TokenResponse {
    let code = authorize(s)
        .await
        .unwrap_or_else(|e| panic!("sign-in failed: {e:?}"));
    redeem(s, &code)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"))
}
