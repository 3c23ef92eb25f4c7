//! `plaza audit …`: verification of the audit log, and synthetic entries.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use plaza_audit::verify::verify as verify_log;
use plaza_audit::{AuditEvent, AuditLog, HeadSigner};
use plaza_kernel::clock::SystemClock;
use plaza_kernel::config::Config;

fn signer(config: &Config) -> anyhow::Result<HeadSigner> {
    HeadSigner::load_or_create(&config.audit_signing_key_file).with_context(|| {
        format!(
            "audit signing key ({})",
            config.audit_signing_key_file.display()
        )
    })
}

pub async fn verify(config: &Config, extra: &[String]) -> anyhow::Result<ExitCode> {
    if !config.audit_signing_key_file.exists() {
        bail!(
            "no audit signing key at {} (audit.signing_key_file): without the key that signed the tree heads there is \
             nothing to verify them against",
            config.audit_signing_key_file.display()
        );
    }
    let mut trusted = vec![signer(config)?.public()];
    for hex in extra {
        let bytes = plaza_audit::merkle::from_hex(hex)
            .with_context(|| format!("--trust-key {hex}: not 64 hex digits"))?;
        trusted.push(
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| {
                anyhow::anyhow!("--trust-key {hex}: not an Ed25519 public key: {e}")
            })?,
        );
    }
    let target = config.storage();
    let db = plaza_audit::open_db(&target)
        .await
        .context("opening the audit database")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "verifying [{bar:40}] {pos}/{len} entries ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = verify_log(db.reader(), &trusted, &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .context("verifying the audit log")?;
    bar.finish_and_clear();
    db.close().await;
    println!(
        "audit log: {} entries, {} signed tree heads checked, root {}",
        report.entries,
        report.heads_checked,
        report
            .root
            .map(|r| plaza_audit::merkle::hex(&r))
            .unwrap_or_default()
    );
    if report.ok() {
        println!("verified: nothing was altered");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &report.findings {
            println!("ALTERED: {f}");
        }
        println!(
            "{} finding(s): the audit log was tampered with",
            report.findings.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

pub async fn seed(config: &Config, count: u64) -> anyhow::Result<ExitCode> {
    let db = plaza_audit::open_db(&config.storage())
        .await
        .context("opening the audit database")?;
    let log = AuditLog::open(db.clone(), signer(config)?, Arc::new(SystemClock)).await?;
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("appending [{bar:40}] {pos}/{len} entries ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let now = plaza_kernel::clock::now_ms();
    let mut done = 0;
    while done < count {
        let n = (count - done).min(5000);
        let batch: Vec<AuditEvent> = (done..done + n)
            .map(|i| AuditEvent {
                at_ms: now,
                service: "synthetic".into(),
                actor: format!("system:seed-{}", i % 100),
                action: "synthetic.event".into(),
                resource: format!("synthetic/{i}"),
                subject: None,
                purpose: "benchmark".into(),
                correlation_id: format!("seed-{i}"),
                outcome: "ok".into(),
            })
            .collect();
        log.append(&batch).await?;
        done += n;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    let head = log.sign_head().await?;
    println!(
        "appended {count} synthetic entries; signed tree head at size {}",
        head.map(|h| h.size).unwrap_or(0)
    );
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
