//! Plaza's OpenID Connect provider over real HTTP: the code flow with PKCE,
//! second factors, refresh-token rotation and reuse detection, replayed
//! codes, lockout, registration with e-mail confirmation, userinfo, logout.

use std::sync::Arc;

use plaza_identity::testing::{SignIn, authorize, redeem, sign_in};
use plaza_identity::{Identity, Settings, SigningKeys};
use plaza_kernel::auth::Role;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::testing::{sqlite_target, temp_dir};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1/cb";
const PASSWORD: &str = "correct horse battery";

struct Provider {
    identity: Identity,
    issuer: String,
    client_id: String,
    mail: std::path::PathBuf,
    http: reqwest::Client,
}

async fn start() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/oidc", listener.local_addr().unwrap());
    let dir = temp_dir("identity");
    let identity = Identity::new(
        plaza_identity::open_db(&sqlite_target()).await.unwrap(),
        Arc::new(SigningKeys::open(&dir.join("keys.json"), 600).unwrap()),
        Settings::new(&issuer, "plaza"),
        Arc::new(SystemClock),
        Arc::new(plaza_identity::mail::FileMailer {
            dir: dir.join("mail"),
            from: "test@plaza.invalid".into(),
        }),
    );
    let app = axum::Router::new().nest("/oidc", plaza_identity::http::router(identity.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (client, _) = identity
        .add_client(
            "app",
            &[REDIRECT.to_owned()],
            &["http://127.0.0.1/bye".to_owned()],
            true,
        )
        .await
        .unwrap();
    Provider {
        identity,
        issuer,
        client_id: client.id,
        mail: dir.join("mail"),
        http: {
            plaza_kernel::install_crypto_provider();
            reqwest::Client::builder()
        }
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap(),
    }
}

impl Provider {
    fn who<'a>(&'a self, email: &'a str, totp: Option<&'a str>) -> SignIn<'a> {
        SignIn {
            issuer: &self.issuer,
            client_id: &self.client_id,
            redirect_uri: REDIRECT,
            email,
            password: PASSWORD,
            totp_secret: totp,
        }
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn discovery_and_jwks_describe_the_provider() {
    let p = start().await;
    let d: Value = p
        .http
        .get(format!("{}/.well-known/openid-configuration", p.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], p.issuer);
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let jwks: Value = p
        .http
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(jwks["keys"][0]["e"], "AQAB");
}

#[tokio::test]
async fn staff_sign_in_with_a_second_factor_and_get_verifiable_tokens() {
    let p = start().await;
    let (_, totp) = p
        .identity
        .add_user(
            "Officer@Plaza.test",
            PASSWORD,
            &[Role::LicensingOfficer],
            Some("PA"),
            true,
        )
        .await
        .unwrap();
    let totp = totp.expect("staff get a TOTP secret");
    // Without the code, no authorization code.
    let mut no_code = p.who("officer@plaza.test", None);
    no_code.totp_secret = Some("AAAAAAAAAAAAAAAA");
    let (status, _) = authorize(&no_code).await.unwrap_err();
    assert_eq!(status, 401);
    let tokens = sign_in(&p.who("officer@plaza.test", Some(&totp))).await;
    let at = claims(&tokens.access_token);
    assert_eq!(at["aud"], "plaza");
    assert_eq!(at["iss"], p.issuer);
    assert_eq!(at["roles"], serde_json::json!(["licensing_officer"]));
    assert_eq!(at["amr"], serde_json::json!(["pwd", "otp"]));
    let id = claims(&tokens.id_token);
    assert_eq!(id["aud"], p.client_id);
    assert_eq!(id["nonce"], "nonce-1");
    assert!(
        p.identity
            .verify_access_token(&tokens.access_token)
            .is_some()
    );
    // userinfo answers for the token, and refuses a tampered one.
    let info: Value = p
        .http
        .get(format!("{}/userinfo", p.issuer))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "officer@plaza.test");
    let r = p
        .http
        .get(format!("{}/userinfo", p.issuer))
        .bearer_auth(format!("{}x", tokens.access_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn codes_work_once_with_the_right_verifier_and_a_replay_revokes_their_tokens() {
    let p = start().await;
    p.identity
        .add_user("c1@plaza.test", PASSWORD, &[Role::Citizen], None, true)
        .await
        .unwrap();
    let who = p.who("c1@plaza.test", None);
    let code = authorize(&who).await.unwrap();
    // Wrong verifier: refused, and the code is not used up by it.
    let mut wrong = code.clone();
    wrong.verifier = "x".repeat(50);
    let (status, body) = redeem(&who, &wrong).await.unwrap_err();
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let tokens = redeem(&who, &code).await.unwrap();
    // The same code again: refused, and the refresh token it gave is revoked.
    let (status, body) = redeem(&who, &code).await.unwrap_err();
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = p
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            ("client_id", &p.client_id),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Authorization requests without PKCE S256 are refused at the redirect.
    let r = p
        .http
        .get(format!("{}/authorize", p.issuer))
        .query(&[
            ("response_type", "code"),
            ("client_id", p.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_request")
    );
    // An unregistered redirect gets a page, never a redirect.
    let r = p
        .http
        .get(format!("{}/authorize", p.issuer))
        .query(&[
            ("client_id", p.client_id.as_str()),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A wrong grant type and an unknown client.
    let (status, body) = p
        .token(&[("grant_type", "password"), ("client_id", &p.client_id)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = p
        .token(&[("grant_type", "refresh_token"), ("client_id", "nobody")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_family() {
    let p = start().await;
    p.identity
        .add_user("c2@plaza.test", PASSWORD, &[Role::Citizen], None, true)
        .await
        .unwrap();
    let first = sign_in(&p.who("c2@plaza.test", None)).await;
    let refresh = |rt: String| {
        let p = &p;
        async move {
            p.token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", &p.client_id),
            ])
            .await
        }
    };
    let (status, second) = refresh(first.refresh_token.clone()).await;
    assert_eq!(status, 200, "{second}");
    let second_rt = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_rt, first.refresh_token);
    // The first one again: reuse. It fails, and so does the newer one.
    let (status, body) = refresh(first.refresh_token.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(second_rt).await;
    assert_eq!(status, 400, "the whole family is revoked");
    // A new sign-in starts a new family that works.
    let again = sign_in(&p.who("c2@plaza.test", None)).await;
    assert_eq!(refresh(again.refresh_token).await.0, 200);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_longer_each_time() {
    let p = start().await;
    p.identity
        .add_user("c3@plaza.test", PASSWORD, &[Role::Citizen], None, true)
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(
            p.identity
                .check_password("c3@plaza.test", "wrong password!")
                .await
                .unwrap()
                .unwrap_err(),
            plaza_identity::app::LoginError::BadCredentials
        );
    }
    let fifth = p
        .identity
        .check_password("c3@plaza.test", "wrong password!")
        .await
        .unwrap()
        .unwrap_err();
    let plaza_identity::app::LoginError::Locked {
        until_ms: first_lock,
    } = fifth
    else {
        panic!("locked after five failures, got {fifth:?}");
    };
    // Locked: even the right password is refused, and nothing is counted.
    let locked = p
        .identity
        .check_password("c3@plaza.test", PASSWORD)
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        locked,
        plaza_identity::app::LoginError::Locked { .. }
    ));
    let now = plaza_kernel::clock::now_ms();
    assert!(
        (25_000..=31_000).contains(&(first_lock - now)),
        "first lock is 30 s"
    );
    // The sign-in page says so.
    let (status, page) = authorize(&SignIn {
        password: PASSWORD,
        ..p.who("c3@plaza.test", None)
    })
    .await
    .unwrap_err();
    assert_eq!(status, 401);
    assert!(page.contains("locked"), "{page}");
}

#[tokio::test]
async fn citizens_register_confirm_their_address_and_then_sign_in() {
    let p = start().await;
    let r = p
        .http
        .post(format!("{}/register", p.issuer))
        .form(&[("email", "new.citizen@plaza.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Not confirmed yet: no sign-in.
    let (status, page) = authorize(&p.who("new.citizen@plaza.test", None))
        .await
        .unwrap_err();
    assert_eq!(status, 401);
    assert!(page.contains("Confirm your e-mail"), "{page}");
    // The confirmation link is in the mail spool.
    let mail = std::fs::read_dir(&p.mail)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(mail).unwrap();
    assert!(text.contains("To: new.citizen@plaza.test"));
    let link = text
        .lines()
        .find(|l| l.contains("/verify-email?token="))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(p.http.get(&link).send().await.unwrap().status(), 200);
    assert_eq!(
        p.http.get(&link).send().await.unwrap().status(),
        400,
        "a link works once"
    );
    let tokens = sign_in(&p.who("new.citizen@plaza.test", None)).await;
    assert_eq!(
        claims(&tokens.access_token)["roles"],
        serde_json::json!(["citizen"])
    );
    // A weak password is refused with the reason.
    let r = p
        .http
        .post(format!("{}/register", p.issuer))
        .form(&[("email", "weak@plaza.test"), ("password", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
}

#[tokio::test]
async fn logout_revokes_the_refresh_tokens_and_returns_to_the_registered_page() {
    let p = start().await;
    p.identity
        .add_user("c4@plaza.test", PASSWORD, &[Role::Citizen], None, true)
        .await
        .unwrap();
    let tokens = sign_in(&p.who("c4@plaza.test", None)).await;
    let r = p
        .http
        .get(format!("{}/logout", p.issuer))
        .query(&[
            ("id_token_hint", tokens.id_token.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1/bye"),
            ("state", "s9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "http://127.0.0.1/bye?state=s9");
    let (status, _) = p
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            ("client_id", &p.client_id),
        ])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
#[ignore = "needs Node.js and the npm packages of tests/oidc-interop (.ci/run installs them)"]
async fn an_independent_relying_party_signs_in_validates_tokens_and_refreshes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-interop");
    assert!(
        dir.join("node_modules/openid-client").exists(),
        "run `npm ci` in {} first (.ci/run does)",
        dir.display()
    );
    let p = start().await;
    let (user, _) = p
        .identity
        .add_user("rp@plaza.test", PASSWORD, &[Role::Citizen], None, true)
        .await
        .unwrap();
    let out = tokio::process::Command::new("node")
        .arg("relying-party.mjs")
        .args([&p.issuer, &p.client_id, REDIRECT, "rp@plaza.test", PASSWORD])
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openid-client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    // openid-client checked the ID token's RS256 signature against the
    // JWKS, its issuer, audience, nonce and times, and the response's iss.
    assert_eq!(seen["id_token_claims"]["sub"], user.id.as_str());
    assert_eq!(seen["id_token_claims"]["iss"], p.issuer.as_str());
    assert_eq!(seen["id_token_claims"]["aud"], p.client_id.as_str());
    assert_eq!(seen["userinfo"]["email"], "rp@plaza.test");
    assert_eq!(seen["refreshed"]["rotated"], true);
    assert_eq!(seen["refreshed"]["sub"], user.id.as_str());
    let claims = p
        .identity
        .verify_access_token(seen["access_token"].as_str().unwrap())
        .expect("the refreshed access token is Plaza's and valid");
    assert_eq!(claims.sub, user.id);
}

#[tokio::test]
#[ignore = "needs python3, whose smtpd module plays the office's mail relay (.ci/run has it)"]
async fn confirmation_mail_goes_through_an_smtp_relay_and_to_the_spool_when_it_is_down() {
    use tokio::io::AsyncBufReadExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut relay = tokio::process::Command::new("python3")
        .args([
            "-u",
            "-W",
            "ignore",
            "-m",
            "smtpd",
            "-n",
            "-c",
            "DebuggingServer",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    plaza_kernel::testing::wait_until(
        std::time::Duration::from_secs(10),
        "the relay to listen",
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
    let dir = temp_dir("smtp");
    let mailer = plaza_identity::mail::mailer(
        Some(&format!("smtp://127.0.0.1:{port}")),
        "DMV Online <no-reply@dmv.example.gov>",
        dir.join("spool"),
    );
    let identity = Identity::new(
        plaza_identity::open_db(&sqlite_target()).await.unwrap(),
        Arc::new(SigningKeys::open(&dir.join("keys.json"), 600).unwrap()),
        Settings::new("http://127.0.0.1:9/oidc", "plaza"),
        Arc::new(SystemClock),
        mailer,
    );
    identity
        .register_citizen("smtp.citizen@plaza.test", PASSWORD)
        .await
        .unwrap();
    let mut lines = tokio::io::BufReader::new(relay.stdout.take().unwrap()).lines();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            text.push_str(&line);
            text.push('\n');
            if line.contains("END MESSAGE") {
                break;
            }
        }
        text
    })
    .await
    .expect("the relay printed the message");
    assert!(seen.contains("To: smtp.citizen@plaza.test"), "{seen}");
    assert!(seen.contains("/oidc/verify-email?token="), "{seen}");
    assert!(!dir.join("spool").exists(), "nothing was spooled");

    // The relay goes away: the next message waits in the spool.
    drop(lines);
    relay.kill().await.unwrap();
    identity
        .register_citizen("second.citizen@plaza.test", PASSWORD)
        .await
        .unwrap();
    let spooled: Vec<_> = std::fs::read_dir(dir.join("spool")).unwrap().collect();
    assert_eq!(spooled.len(), 1);
    let text = std::fs::read_to_string(spooled[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("To: second.citizen@plaza.test"));
}

#[tokio::test]
async fn keys_from_before_keep_signing_until_rotated_and_then_stay_published() {
    // A key file as an earlier Plaza wrote it: one Ed25519 key.
    let dir = temp_dir("old-keys");
    let path = dir.join("keys.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"keys":[{{"kid":"old-ed","seed":"{}","created_at_s":1}}]}}"#,
            "07".repeat(32)
        ),
    )
    .unwrap();
    let keys = SigningKeys::open(&path, 600).unwrap();
    let header = |t: &str| -> Value {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let old = keys.sign("JWT", &serde_json::json!({"sub": "x"}));
    assert_eq!(header(&old)["alg"], "EdDSA");
    assert_eq!(header(&old)["kid"], "old-ed");
    let kid = SigningKeys::rotate(&path).unwrap();
    let new = keys.sign("JWT", &serde_json::json!({"sub": "x"}));
    assert_eq!(header(&new)["alg"], "RS256");
    assert_eq!(header(&new)["kid"], kid.as_str());
    // Both are published: tokens of the old key still verify.
    let jwks = keys.jwks();
    let kinds: Vec<&str> = jwks.keys.iter().map(|k| k.kty.as_str()).collect();
    assert_eq!(kinds, ["OKP", "RSA"]);
    for (t, k) in [(&old, 0), (&new, 1)] {
        let key = plaza_kernel::jwt::VerifyKey::from_jwk(&jwks.keys[k]).unwrap();
        plaza_kernel::jwt::parse(t).unwrap().verify(&key).unwrap();
    }
}
