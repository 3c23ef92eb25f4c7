//! Sign-in latency over HTTP: the authorization request, the password form
//! (argon2id at OWASP's minimum: 19 MiB, 2 passes), the code exchange, the
//! tokens — as a browser and a relying party do it, one sign-in after
//! another, with `--concurrency` of them at once.
//!
//! ```text
//! cargo bench -p plaza-identity --bench login -- --logins 400 --concurrency 2
//! ```

use std::sync::Arc;
use std::time::Instant;

use plaza_identity::testing::{SignIn, sign_in};
use plaza_identity::{Identity, Settings, SigningKeys};
use plaza_kernel::auth::Role;
use plaza_kernel::clock::SystemClock;

fn main() {
    let (mut logins, mut concurrency) = (400usize, 2usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--logins" => {
                logins = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--logins N")
            }
            "--concurrency" => {
                concurrency = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--concurrency N")
            }
            _ => {}
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/oidc", listener.local_addr().unwrap());
        let dir = plaza_kernel::testing::temp_dir("login-bench");
        let identity = Identity::new(
            plaza_identity::open_db(&plaza_kernel::testing::sqlite_target()).await.unwrap(),
            Arc::new(SigningKeys::open(&dir.join("keys.json"), 600).unwrap()),
            Settings::new(&issuer, "plaza"),
            Arc::new(SystemClock),
            Arc::new(plaza_identity::mail::FileMailer { dir: dir.join("mail"), from: "b@plaza.invalid".into() }),
        );
        let app = axum::Router::new().nest("/oidc", plaza_identity::http::router(identity.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let (client, _) = identity.add_client("bench", &["http://127.0.0.1/cb".into()], &[], true).await.unwrap();
        let password = "a benchmark password";
        for i in 0..concurrency {
            identity
                .add_user(&format!("c{i}@plaza.test"), password, &[Role::Citizen], None, true)
                .await
                .unwrap();
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..concurrency {
            let (issuer, client_id) = (issuer.clone(), client.id.clone());
            tasks.push(tokio::spawn(async move {
                let email = format!("c{w}@plaza.test");
                let mut times = Vec::new();
                for _ in 0..logins / concurrency {
                    let t = Instant::now();
                    let tokens = sign_in(&SignIn {
                        issuer: &issuer,
                        client_id: &client_id,
                        redirect_uri: "http://127.0.0.1/cb",
                        email: &email,
                        password,
                        totp_secret: None,
                    })
                    .await;
                    std::hint::black_box(tokens);
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                times
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        println!(
            "{} sign-ins ({} at once) in {secs:.2} s: {:.1}/s; latency ms p50 {:.1} p95 {:.1} p99 {:.1} max {:.1}",
            all.len(),
            concurrency,
            all.len() as f64 / secs,
            pct(0.50),
            pct(0.95),
            pct(0.99),
            all[all.len() - 1]
        );
    });
}
