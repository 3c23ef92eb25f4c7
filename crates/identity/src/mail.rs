//! Outgoing mail: through an SMTP relay when `mail.smtp_url` is set
//! (plain SMTP, as to an office's own relay on its network), otherwise as
//! RFC 5322 files in the data folder's `mail/` spool, where a developer or
//! a mail gateway picks them up. A message the relay does not take goes to
//! the spool instead: nothing is lost.

use std::path::PathBuf;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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

/// The message as RFC 5322 text with CRLF line ends.
fn message(from: &str, mail: &Mail) -> String {
    let body = mail.body.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@plaza.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
        header_safe(from),
        header_safe(&mail.to),
        header_safe(&mail.subject),
        plaza_kernel::clock::rfc3339(plaza_kernel::clock::now_ms()),
        uuid::Uuid::new_v4().simple(),
        body
    )
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        let name = format!(
            "{}-{}.eml",
            plaza_kernel::clock::now_ms(),
            uuid::Uuid::new_v4().simple()
        );
        let text = message(&self.from, &mail);
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

/// Sends through an SMTP relay (RFC 5321: EHLO, MAIL, RCPT, DATA), and
/// spools what the relay does not take.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    /// `host:port`.
    pub relay: String,
    pub from: String,
    pub spool: FileMailer,
}

/// The address inside `Name <address>`, or the whole text.
fn envelope_address(from: &str) -> &str {
    match (from.find('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from.trim(),
    }
}

type Conn = BufReader<tokio::net::TcpStream>;

async fn reply(conn: &mut Conn) -> std::io::Result<(u16, String)> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the relay closed the connection",
            ));
        }
        all.push_str(&line);
        // "250-…" continues, "250 …" ends a reply.
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            return Ok((code, all));
        }
    }
}

async fn expect(conn: &mut Conn, send: Option<&str>, ok: &[u16]) -> std::io::Result<()> {
    if let Some(cmd) = send {
        conn.get_mut().write_all(cmd.as_bytes()).await?;
    }
    let (code, text) = reply(conn).await?;
    if ok.contains(&code) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "the relay answered {}",
            text.trim()
        )))
    }
}

impl SmtpMailer {
    async fn deliver(&self, mail: &Mail) -> std::io::Result<()> {
        let stream = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&self.relay),
        )
        .await
        .map_err(|_| std::io::Error::other("connecting to the relay timed out"))??;
        let mut conn = BufReader::new(stream);
        let from = envelope_address(&self.from).to_owned();
        let to = header_safe(&mail.to);
        let mut data = String::new();
        for line in message(&self.from, mail).split("\r\n") {
            // Dot-stuffing (RFC 5321 4.5.2).
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        let steps = async {
            expect(&mut conn, None, &[220]).await?;
            expect(&mut conn, Some("EHLO plaza\r\n"), &[250]).await?;
            expect(&mut conn, Some(&format!("MAIL FROM:<{from}>\r\n")), &[250]).await?;
            expect(&mut conn, Some(&format!("RCPT TO:<{to}>\r\n")), &[250, 251]).await?;
            expect(&mut conn, Some("DATA\r\n"), &[354]).await?;
            expect(&mut conn, Some(&data), &[250]).await?;
            let _ = expect(&mut conn, Some("QUIT\r\n"), &[221]).await;
            Ok::<(), std::io::Error>(())
        };
        tokio::time::timeout(Duration::from_secs(30), steps)
            .await
            .map_err(|_| std::io::Error::other("the relay took too long"))?
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> Result<(), Error> {
        match self.deliver(&mail).await {
            Ok(()) => {
                metrics::counter!("plaza_mail_sent_total", "via" => "smtp").increment(1);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, relay = %self.relay, "the mail relay did not take a message; it is in the spool");
                metrics::counter!("plaza_mail_sent_total", "via" => "spool").increment(1);
                self.spool.send(mail).await
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "SMTP via {} (spooled to {} when it fails)",
            self.relay,
            self.spool.dir.display()
        )
    }
}

/// The mailer configuration asks for: SMTP when `smtp_url`
/// (`smtp://host:port`) is given, the spool otherwise.
pub fn mailer(smtp_url: Option<&str>, from: &str, spool: std::path::PathBuf) -> Arc<dyn Mailer> {
    let spool = FileMailer {
        dir: spool,
        from: from.to_owned(),
    };
    match smtp_url.and_then(|u| u.strip_prefix("smtp://")) {
        Some(relay) => Arc::new(SmtpMailer {
            relay: relay.trim_end_matches('/').to_owned(),
            from: from.to_owned(),
            spool,
        }),
        None => Arc::new(spool),
    }
}
