//! Tells people by e-mail what happened to their applications. Services
//! publish status events naming the account in actor form (`issuer|subject`);
//! identity holds the addresses, so it sends the mail. Each event is mailed
//! once (an inbox); accounts of another issuer (an agency's provider) have
//! no address here and are skipped.

use std::sync::Arc;

use async_trait::async_trait;
use plaza_kernel::bus::{Bus, Durability, Envelope, EventFilter, HandlerError, Inbox, TxHandler};
use plaza_kernel::db::Tx;
use plaza_kernel::shutdown::Shutdown;
use serde::Deserialize;

use crate::Identity;

/// A renewal application's new timeline line.
pub const RENEWAL_STATUS_CHANGED: &str = "renewal.StatusChanged";

#[derive(Deserialize)]
struct StatusChanged {
    application_id: String,
    owner: String,
    status: String,
    note: String,
}

struct Notify(Identity);

/// The subject and body of the mail for a renewal's new status, or `None`
/// for the start (the citizen is on the page that started it).
pub fn renewal_mail(status: &str, note: &str, application_id: &str) -> Option<(String, String)> {
    if status == "started" {
        return None;
    }
    let subject = match status {
        "paid" => "Your licence renewal is paid".to_owned(),
        "ordered" => "Your new licence card is ordered".to_owned(),
        "mailed" => "Your new licence is in the mail".to_owned(),
        "ready_for_pickup" => "Your new licence is ready to pick up".to_owned(),
        "failed" => "Your licence renewal could not be completed".to_owned(),
        "cancelled" => "Your licence renewal was cancelled".to_owned(),
        _ => "News of your licence renewal".to_owned(),
    };
    let body = format!(
        "{note}\r\n\r\nYou can follow your renewal ({application_id}) online at any time.\r\n"
    );
    Some((subject, body))
}

impl Notify {
    /// The account mailed for `e` and the mail, when there is one.
    fn mail_for(&self, e: &StatusChanged) -> Option<(String, (String, String))> {
        let own = format!("{}|", self.0.settings().issuer);
        let user_id = e.owner.strip_prefix(&own)?;
        let mail = renewal_mail(&e.status, &e.note, &e.application_id)?;
        Some((user_id.to_owned(), mail))
    }
}

#[async_trait]
impl TxHandler for Notify {
    /// Events that mail nobody (a renewal's start, another issuer's
    /// account) are not recorded. One that does not parse is, by `apply`'s
    /// error.
    fn wants(&self, ev: &Envelope) -> bool {
        serde_json::from_slice::<StatusChanged>(&ev.payload)
            .map_or(true, |e| self.mail_for(&e).is_some())
    }
    /// A mail is all it does.
    fn effects_outside(&self) -> bool {
        true
    }
    async fn apply(&self, _tx: &mut Tx, ev: &Envelope) -> Result<(), HandlerError> {
        let e: StatusChanged = serde_json::from_slice(&ev.payload)?;
        if let Some((user_id, (subject, body))) = self.mail_for(&e) {
            self.0.notify(&user_id, &subject, &body).await?;
        }
        Ok(())
    }
}

/// Subscribes identity to the status events it mails (one durable consumer
/// shared by every process hosting `identity`).
pub async fn subscribe(
    identity: &Identity,
    bus: &Arc<dyn Bus>,
    shutdown: Shutdown,
) -> Result<(), plaza_kernel::Error> {
    let inbox = Inbox::new(
        identity.db().clone(),
        "identity-notify",
        Notify(identity.clone()),
    );
    bus.subscribe(
        "identity-notify",
        EventFilter::event(RENEWAL_STATUS_CHANGED),
        Durability::Durable,
        Arc::new(inbox),
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_citizen_is_not_mailed_what_they_just_did() {
        assert!(super::renewal_mail("started", "Renewal started.", "ren_1").is_none());
        let (subject, body) =
            super::renewal_mail("mailed", "The card was mailed (tracking 9400).", "ren_1").unwrap();
        assert!(subject.contains("in the mail"));
        assert!(body.contains("tracking 9400") && body.contains("ren_1"));
    }
}
