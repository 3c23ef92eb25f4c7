//! The statutory clocks on durable timers.
//!
//! A transition that starts a clock writes its timer (`permit_timers`) in
//! its own transaction, so a timer exists exactly when the change that
//! needs it was committed. [`fire_due`] takes due timers one at a time: in
//! one transaction it moves the timer from pending to fired only if it is
//! still pending (the conditional update; on PostgreSQL, rows another
//! process holds are skipped) and applies the timer's event to the
//! application. Two processes never fire the same timer, a crash before the
//! commit leaves it pending, and a process that starts again on the same
//! database fires whatever fell due while it was away, once.
//!
//! A timer whose event no longer fits the application (a Delayed check
//! answered meanwhile) fires without effect.

use plaza_kernel::auth::Caller;

use super::state::TimerKind;
use super::{Applications, store};
use crate::Error;

/// The actor timers act as in the timeline and the audit trail.
pub fn actor() -> String {
    Caller::service(crate::SERVICE).actor()
}

/// Fires every timer due by `now_ms`; answers how many took effect.
pub async fn fire_due(apps: &Applications, now_ms: i64) -> Result<usize, Error> {
    let db = apps.db().clone();
    let actor = actor();
    let mut applied = 0;
    loop {
        let mut tx = db.begin().await?;
        let Some(timer) = store::claim_due(&db, &mut tx, now_ms).await? else {
            return Ok(applied);
        };
        let Some(kind) = TimerKind::parse(&timer.kind) else {
            tracing::warn!(timer = %timer.id, kind = %timer.kind, "unknown timer kind; dropped");
            db.commit(tx).await?;
            continue;
        };
        let Some(app) = store::lock(&db, &mut tx, &timer.application_id).await? else {
            db.commit(tx).await?;
            continue;
        };
        // A timer whose event no longer fits still counts as fired: the
        // pure transition is tried first so a refusal cannot undo the claim.
        let fits = apps.fits(&app, &kind.event(), now_ms);
        if fits {
            apps.transit(&mut tx, app, &kind.event(), &actor, now_ms)
                .await?;
            applied += 1;
        } else {
            tracing::debug!(timer = %timer.id, kind = kind.as_str(), "timer fired without effect");
        }
        db.commit(tx).await?;
    }
}
