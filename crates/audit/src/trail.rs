//! How every service records audit events: inside the transaction of the
//! change (or the read) it describes, through its own outbox. The event
//! commits with the change or not at all, and the audit service appends it
//! to the log when it arrives — exactly once, thanks to its inbox.

use std::sync::Arc;

use async_trait::async_trait;
use plaza_contracts::audit::v1 as pb;
use plaza_kernel::bus::{Bus, Durability, Envelope, EventFilter, Handler, HandlerError};
use plaza_kernel::db::Tx;
use plaza_kernel::outbox::{self, NewEvent};
use plaza_kernel::shutdown::Shutdown;
use prost::Message;

use crate::log::{AuditEvent, AuditLog};

/// The name of the event every service publishes for the audit log.
pub const EVENT: &str = "AuditRecorded";

/// What a service says about an action, before the time and correlation id
/// are filled in.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    /// The citizen concerned, as a vault token.
    pub subject: Option<&'a str>,
    pub purpose: &'a str,
    pub outcome: &'a str,
}

/// Queues an audit event in `tx`, the transaction of the change it
/// describes.
pub async fn record(
    tx: &mut Tx,
    service: &str,
    at_ms: i64,
    r: Record<'_>,
) -> Result<(), plaza_kernel::Error> {
    outbox::enqueue(tx, event(service, at_ms, r)).await?;
    Ok(())
}

/// The outbox event [`record`] queues, for a caller that queues several at
/// once (`outbox::enqueue_all`).
pub fn event(service: &str, at_ms: i64, r: Record<'_>) -> NewEvent {
    let event = pb::AuditEvent {
        at_ms,
        service: service.to_owned(),
        actor: r.actor.to_owned(),
        action: r.action.to_owned(),
        resource: r.resource.to_owned(),
        subject: r.subject.unwrap_or_default().to_owned(),
        purpose: r.purpose.to_owned(),
        correlation_id: plaza_kernel::telemetry::correlation_id_or_new(),
        outcome: r.outcome.to_owned(),
    };
    NewEvent {
        event_type: format!("{service}.{EVENT}"),
        aggregate_type: "audit".to_owned(),
        aggregate_id: r.resource.to_owned(),
        payload: event.encode_to_vec(),
    }
}

impl From<AuditEvent> for pb::AuditEvent {
    fn from(e: AuditEvent) -> Self {
        pb::AuditEvent {
            at_ms: e.at_ms,
            service: e.service,
            actor: e.actor,
            action: e.action,
            resource: e.resource,
            subject: e.subject.unwrap_or_default(),
            purpose: e.purpose,
            correlation_id: e.correlation_id,
            outcome: e.outcome,
        }
    }
}

impl From<pb::AuditEvent> for AuditEvent {
    fn from(e: pb::AuditEvent) -> Self {
        AuditEvent {
            at_ms: e.at_ms,
            service: e.service,
            actor: e.actor,
            action: e.action,
            resource: e.resource,
            subject: Some(e.subject).filter(|s| !s.is_empty()),
            purpose: e.purpose,
            correlation_id: e.correlation_id,
            outcome: e.outcome,
        }
    }
}

struct Append {
    log: AuditLog,
    consumer: String,
    detector: Option<Arc<crate::detect::Detector>>,
    webhook: Option<Arc<crate::detect::Webhook>>,
}

#[async_trait]
impl Handler for Append {
    async fn handle(&self, ev: &Envelope) -> Result<(), HandlerError> {
        self.handle_batch(&[ev]).await
    }

    /// The events a relay published together are appended in one
    /// transaction (each recorded in the inbox, so a redelivery appends
    /// nothing).
    async fn handle_batch(&self, evs: &[&Envelope]) -> Result<(), HandlerError> {
        let mut items = Vec::with_capacity(evs.len());
        for ev in evs {
            let e = pb::AuditEvent::decode(ev.payload.as_ref())?;
            items.push((ev.id.as_str(), AuditEvent::from(e)));
        }
        let appended = self
            .log
            .append_delivered_batch(&self.consumer, &items)
            .await?;
        // Rules see each event once: a redelivery appends nothing.
        if let Some(detector) = &self.detector {
            for ((_, event), new) in items.iter().zip(appended) {
                if !new {
                    continue;
                }
                for alert in detector.observe(event) {
                    self.log.append(&[alert.to_event()]).await?;
                    if let Some(hook) = &self.webhook {
                        hook.send(&alert);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Appends the audit events of every service in `sources` as they arrive.
pub async fn consume(
    log: &AuditLog,
    bus: &Arc<dyn Bus>,
    sources: &[&str],
    shutdown: Shutdown,
) -> Result<(), plaza_kernel::Error> {
    consume_watched(log, bus, sources, None, None, shutdown).await
}

/// [`consume`], with detection rules watching every appended event.
pub async fn consume_watched(
    log: &AuditLog,
    bus: &Arc<dyn Bus>,
    sources: &[&str],
    detector: Option<Arc<crate::detect::Detector>>,
    webhook: Option<Arc<crate::detect::Webhook>>,
    shutdown: Shutdown,
) -> Result<(), plaza_kernel::Error> {
    for source in sources {
        let consumer = format!("audit-from-{source}");
        bus.subscribe(
            &consumer,
            EventFilter::event(&format!("{source}.{EVENT}")),
            Durability::Durable,
            Arc::new(Append {
                log: log.clone(),
                consumer: consumer.clone(),
                detector: detector.clone(),
                webhook: webhook.clone(),
            }),
            shutdown.clone(),
        )
        .await?;
    }
    Ok(())
}
