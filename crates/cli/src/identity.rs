//! `plaza users`, `plaza clients` and `plaza identity`: accounts, relying
//! parties and signing keys of Plaza's own OpenID Connect provider.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use plaza_identity::{Identity, Settings, SigningKeys};
use plaza_kernel::auth::Role;
use plaza_kernel::clock::SystemClock;
use plaza_kernel::config::Config;

/// The identity service as configuration describes it (also for `serve`).
pub async fn open(config: &Config) -> anyhow::Result<Identity> {
    let storage = config.storage();
    let db = plaza_identity::open_db(&storage).await.with_context(|| {
        format!(
            "opening the identity database ({})",
            storage.describe("identity")
        )
    })?;
    let settings = Settings::new(&config.identity_issuer, &config.identity_audience);
    let keys = SigningKeys::open(&config.identity_keys_file, settings.longest_token_s())
        .with_context(|| {
            format!(
                "identity signing keys ({})",
                config.identity_keys_file.display()
            )
        })?;
    Ok(Identity::new(
        db,
        Arc::new(keys),
        settings,
        Arc::new(SystemClock),
        plaza_identity::mail::mailer(
            config.smtp_url.as_deref(),
            &config.mail_from,
            plaza_identity::app::mail_dir(&config.data_dir),
        ),
    ))
}

/// `plaza users add`.
pub async fn add_user(
    config: &Config,
    email: &str,
    roles: &[String],
    jurisdiction: Option<&str>,
    password_stdin: bool,
) -> anyhow::Result<ExitCode> {
    let mut parsed = Vec::new();
    for r in roles
        .iter()
        .flat_map(|r| r.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        match Role::parse(r) {
            Some(role) => parsed.push(role),
            None => bail!(
                "`{r}` is not a role; use one of: {}",
                Role::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let (password, generated) = if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        (text.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (plaza_identity::secrets::random_token(), true)
    };
    let id = open(config).await?;
    let (user, totp) = id
        .add_user(email, &password, &parsed, jurisdiction, true)
        .await
        .map_err(|e| anyhow::anyhow!(e.public().message))?;
    println!("account {} ({}) added", user.id, user.email);
    println!(
        "  roles:        {}",
        user.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(j) = &user.jurisdiction {
        println!("  jurisdiction: {j}");
    }
    if generated {
        println!(
            "  password:     {password}   (shown once; give it to the person over a safe channel)"
        );
    }
    if let Some(secret) = totp {
        println!("  second factor (TOTP, shown once) — add it to an authenticator app:");
        println!("    secret: {secret}");
        println!(
            "    uri:    {}",
            plaza_identity::secrets::otpauth_uri(&secret, &user.email)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `plaza clients add`.
pub async fn add_client(
    config: &Config,
    name: &str,
    redirect_uris: &[String],
    post_logout_redirect_uris: &[String],
    public: bool,
) -> anyhow::Result<ExitCode> {
    let id = open(config).await?;
    let (client, secret) = id
        .add_client(name, redirect_uris, post_logout_redirect_uris, public)
        .await
        .map_err(|e| anyhow::anyhow!(e.public().message))?;
    println!("client_id={}", client.id);
    if let Some(s) = secret {
        println!("client_secret={s}");
    }
    println!("issuer={}", id.settings().issuer);
    Ok(ExitCode::SUCCESS)
}

/// `plaza identity rotate-key`.
pub fn rotate_key(config: &Config) -> anyhow::Result<ExitCode> {
    let kid = SigningKeys::rotate(&config.identity_keys_file)
        .with_context(|| format!("rotating {}", config.identity_keys_file.display()))?;
    println!(
        "new signing key {kid}; the previous key stays published until the tokens it signed expire"
    );
    Ok(ExitCode::SUCCESS)
}
