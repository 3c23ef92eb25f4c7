//! Outgoing mail. Without an SMTP server configured, each message is
//! written as an RFC 5322 file into the data folder's `mail/` spool, where a
//! developer or an office's mail gateway picks it up.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: Mail) -> Result<(), Error>;
    fn describe(&self) -> String;
}

/// Writes each message to a file (owner-only: it may name a person).
#[derive(Debug, Clone)]
pub struct FileMailer {
    pub dir: PathBuf,
    pub from: String,
}

fn header_safe(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        let name = format!(
            "{}-{}.eml",
            plaza_kernel::clock::now_ms(),
            uuid::Uuid::new_v4().simple()
        );
        let text = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
            header_safe(&self.from),
            header_safe(&mail.to),
            header_safe(&mail.subject),
            plaza_kernel::clock::rfc3339(plaza_kernel::clock::now_ms()),
            mail.body
        );
        let path = self.dir.join(name);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            plaza_kernel::files::write_private(&path, &text)
        })
        .await
        .expect("writing does not panic")
        .map_err(|e| Error::Config(format!("cannot write mail into the spool: {e}")))
    }

    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }
}
