//! Payments a citizen's request in this process is recording on its
//! application.
//!
//! The payments service tells of a payment twice: in its answer to the
//! citizen's request, and in an event (`PaymentSucceeded`) for a payment
//! whose answer got lost. Both record it on the application, and most often
//! both arrive within milliseconds. The event's handler asks here first and
//! waits for the request instead of racing it to the database.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// The applications whose payment a request here is recording: `true` once
/// recorded. An entry lasts as long as its request.
#[derive(Debug, Default)]
pub struct Recording(Mutex<HashMap<String, watch::Receiver<bool>>>);

impl Recording {
    /// A request starts paying for application `id`.
    pub(super) fn start<'a>(&'a self, id: &'a str) -> Paying<'a> {
        let (recorded, rx) = watch::channel(false);
        if let Ok(mut m) = self.0.lock() {
            m.insert(id.to_owned(), rx);
        }
        Paying {
            all: self,
            id,
            recorded,
        }
    }

    /// Whether a request here recorded the payment of application `id`:
    /// waits for one under way to record it or to fail. `false` when no
    /// request here pays for it, or the one that did failed.
    pub async fn recorded_here(&self, id: &str) -> bool {
        let request = self.0.lock().ok().and_then(|m| m.get(id).cloned());
        match request {
            Some(mut recorded) => recorded.wait_for(|done| *done).await.is_ok(),
            None => false,
        }
    }
}

/// A request paying for an application; its entry goes when it does,
/// however the request ends.
pub(super) struct Paying<'a> {
    all: &'a Recording,
    id: &'a str,
    recorded: watch::Sender<bool>,
}

impl Paying<'_> {
    /// The payment is recorded on the application.
    pub(super) fn recorded(&self) {
        self.recorded.send_replace(true);
    }
}

impl Drop for Paying<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.all.0.lock()
            // A second request for the same application may have taken
            // the entry over: that one is its own.
            && m
                .get(self.id)
                .is_some_and(|rx| rx.same_channel(&self.recorded.subscribe()))
        {
            m.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_under_way_is_nothing_recorded() {
        assert!(!Recording::default().recorded_here("ren_1").await);
    }

    #[tokio::test]
    async fn a_wait_ends_when_the_request_records_the_payment() {
        let all = std::sync::Arc::new(Recording::default());
        let paying = all.start("ren_1");
        let waiting = tokio::spawn({
            let all = all.clone();
            async move { all.recorded_here("ren_1").await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "it waits for the request");
        paying.recorded();
        assert!(waiting.await.unwrap());
        // Recorded, and the request still running (its saga): at once.
        assert!(all.recorded_here("ren_1").await);
        drop(paying);
        assert!(!all.recorded_here("ren_1").await, "the entry went with it");
    }

    #[tokio::test]
    async fn a_request_that_fails_ends_the_wait_with_nothing_recorded() {
        let all = std::sync::Arc::new(Recording::default());
        let paying = all.start("ren_1");
        let waiting = tokio::spawn({
            let all = all.clone();
            async move { all.recorded_here("ren_1").await }
        });
        tokio::task::yield_now().await;
        drop(paying);
        assert!(!waiting.await.unwrap());
    }

    #[tokio::test]
    async fn a_second_request_keeps_its_entry_when_the_first_ends() {
        let all = Recording::default();
        let first = all.start("ren_1");
        let second = all.start("ren_1");
        drop(first);
        second.recorded();
        assert!(all.recorded_here("ren_1").await);
        assert!(!all.recorded_here("ren_2").await);
    }
}
