//! Detection rules over the audit stream. Every entry the log appends is
//! shown to the rules; a rule that fires raises a security event: a
//! `security.alert` entry in the log itself (as tamper-evident as what it
//! is about), the `plaza_security_alerts_total{rule}` metric, a warning in
//! the log, and a POST to `security.alert_webhook` when one is configured.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::AuditEvent;

/// Thresholds of the rules.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Most detokenisations one account may make in a minute.
    pub detokenise_per_minute: usize,
    /// Most failed sign-ins of one account in ten minutes.
    pub sign_in_failures_per_10_minutes: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            detokenise_per_minute: 30,
            sign_in_failures_per_10_minutes: 10,
        }
    }
}

/// A security event a rule raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub rule: &'static str,
    /// Whom it is about (the audit trail's actor form).
    pub actor: String,
    pub detail: String,
    pub at_ms: i64,
}

impl Alert {
    /// The alert as an audit entry.
    pub fn to_event(&self) -> AuditEvent {
        AuditEvent {
            at_ms: self.at_ms,
            service: "audit".into(),
            actor: "system:plaza-detection".into(),
            action: "security.alert".into(),
            resource: format!("rule/{}", self.rule),
            subject: None,
            purpose: "security_monitoring".into(),
            correlation_id: plaza_kernel::telemetry::correlation_id_or_new(),
            outcome: format!("{} ({})", self.detail, self.actor),
        }
    }
}

/// Sliding-window counts per rule and actor.
#[derive(Debug, Default)]
pub struct Detector {
    rules: Rules,
    windows: Mutex<HashMap<(&'static str, String), VecDeque<i64>>>,
}

impl Detector {
    pub fn new(rules: Rules) -> Detector {
        Detector {
            rules,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts `event` and returns the alerts it raises. A rule fires once
    /// when its window first goes over the limit, not for every event after.
    pub fn observe(&self, event: &AuditEvent) -> Vec<Alert> {
        let mut alerts = Vec::new();
        match event.action.as_str() {
            // The rate is a person's: a Plaza service reads in bulk for the
            // one purpose its policy allows (the checks service, every
            // applicant of a background check), each read audited.
            "vault.detokenise"
                if event.outcome == "ok"
                    && event
                        .actor
                        .starts_with(&format!("{}|", plaza_kernel::auth::SERVICE_ISSUER)) => {}
            "vault.detokenise" if event.outcome == "ok" => self.count(
                "detokenise_rate",
                &event.actor,
                event.at_ms,
                60_000,
                self.rules.detokenise_per_minute,
                "more detokenisations in a minute than a role needs",
                &mut alerts,
            ),
            "vault.detokenise" => alerts.push(Alert {
                rule: "detokenise_denied",
                actor: event.actor.clone(),
                detail: "asked to see personal data without a permit".into(),
                at_ms: event.at_ms,
            }),
            "identity.sign_in_failed" => self.count(
                "sign_in_failures",
                &event.resource,
                event.at_ms,
                600_000,
                self.rules.sign_in_failures_per_10_minutes,
                "many failed sign-ins: someone may be guessing the password",
                &mut alerts,
            ),
            "identity.account_locked" => alerts.push(Alert {
                rule: "account_locked",
                actor: event.resource.clone(),
                detail: "an account was locked after repeated failures".into(),
                at_ms: event.at_ms,
            }),
            "identity.refresh_token_reused" | "identity.code_replayed" => alerts.push(Alert {
                rule: "token_replay",
                actor: event.actor.clone(),
                detail: format!(
                    "{}: a token was presented twice, perhaps stolen",
                    event.action
                ),
                at_ms: event.at_ms,
            }),
            _ => {}
        }
        for a in &alerts {
            metrics::counter!("plaza_security_alerts_total", "rule" => a.rule).increment(1);
            tracing::warn!(rule = a.rule, actor = %a.actor, detail = %a.detail, "security alert");
        }
        alerts
    }

    #[allow(clippy::too_many_arguments)]
    fn count(
        &self,
        rule: &'static str,
        key: &str,
        at_ms: i64,
        window_ms: i64,
        limit: usize,
        detail: &str,
        alerts: &mut Vec<Alert>,
    ) {
        let mut windows = self.windows.lock().expect("detector lock");
        let w = windows.entry((rule, key.to_owned())).or_default();
        while w.front().is_some_and(|t| *t <= at_ms - window_ms) {
            w.pop_front();
        }
        w.push_back(at_ms);
        if w.len() == limit + 1 {
            alerts.push(Alert {
                rule,
                actor: key.to_owned(),
                detail: format!("{detail}: {} within {} s", w.len(), window_ms / 1000),
                at_ms,
            });
        }
        // Forget actors that went quiet, so the table stays small.
        if windows.len() > 100_000 {
            windows.retain(|_, w| w.back().is_some_and(|t| *t > at_ms - window_ms));
        }
    }
}

/// Where alerts are POSTed as JSON, when configured. Delivery is
/// best-effort and never holds up the log: the alert is in the log already.
#[derive(Debug)]
pub struct Webhook {
    url: String,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(url: &str) -> Webhook {
        plaza_kernel::install_crypto_provider();
        Webhook {
            url: url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .expect("an HTTP client builds"),
        }
    }

    pub fn send(&self, alert: &Alert) {
        let body = serde_json::json!({
            "rule": alert.rule,
            "actor": alert.actor,
            "detail": alert.detail,
            "at": plaza_kernel::clock::rfc3339(alert.at_ms),
        });
        let (http, url) = (self.http.clone(), self.url.clone());
        tokio::spawn(async move {
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(status = %r.status(), "the alert webhook refused an alert"),
                Err(e) => tracing::warn!(error = %e, "the alert webhook is unreachable"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, actor: &str, at_ms: i64, outcome: &str) -> AuditEvent {
        AuditEvent {
            at_ms,
            service: "vault".into(),
            actor: actor.into(),
            action: action.into(),
            resource: "vault/ssn".into(),
            subject: Some("tok".into()),
            purpose: "licence_decision".into(),
            correlation_id: "c".into(),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn a_burst_of_detokenisations_fires_once_and_a_steady_pace_never() {
        let d = Detector::new(Rules {
            detokenise_per_minute: 5,
            ..Rules::default()
        });
        // One every 15 s for ten minutes: 4 a minute, never more than 5.
        for i in 0..40 {
            assert!(
                d.observe(&ev("vault.detokenise", "steady", i * 15_000, "ok"))
                    .is_empty()
            );
        }
        let mut fired = Vec::new();
        for i in 0..20 {
            fired.extend(d.observe(&ev("vault.detokenise", "greedy", 1_000 + i * 100, "ok")));
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        // A service reading for its one allowed purpose is not a person.
        for i in 0..20 {
            assert!(
                d.observe(&ev(
                    "vault.detokenise",
                    "plaza:service|checks",
                    1_000 + i * 100,
                    "ok"
                ))
                .is_empty()
            );
        }
        assert_eq!(fired[0].rule, "detokenise_rate");
        assert_eq!(fired[0].actor, "greedy");
        assert_eq!(fired[0].to_event().action, "security.alert");
    }

    #[test]
    fn denied_detokenisations_and_token_replays_fire_at_once() {
        let d = Detector::new(Rules::default());
        assert_eq!(
            d.observe(&ev("vault.detokenise", "x", 1, "denied"))[0].rule,
            "detokenise_denied"
        );
        assert_eq!(
            d.observe(&ev(
                "identity.refresh_token_reused",
                "x",
                1,
                "family_revoked"
            ))[0]
                .rule,
            "token_replay"
        );
        assert!(d.observe(&ev("offices.create", "x", 1, "ok")).is_empty());
    }
}
