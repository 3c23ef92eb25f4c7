//! Each adapter against a tiny server that answers badly: nonsense, cut
//! off, or not at all.

use plaza_checks::matching::Date;
use plaza_checks::sources::json::JsonSource;
use plaza_checks::sources::niem::NiemSource;
use plaza_checks::sources::{Source, SourceError, Subject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server answering every request with `answer` (raw bytes, status
/// line included), then closing.
async fn http_server(answer: &'static str) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/search", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // Read the head and a body of the announced length.
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    url
}

fn subject() -> Subject {
    Subject {
        first: Some("Ann".into()),
        last: Some("O'Neil".into()),
        dob: Date::new(1970, 1, 2),
        ..Subject::default()
    }
}

async fn both(answer: &'static str) -> [Result<usize, SourceError>; 2] {
    let url = http_server(answer).await;
    let http = client();
    let json = JsonSource::new("x", &url, http.clone());
    let niem = NiemSource::new("x", &url, http);
    let s = subject();
    [
        json.search(&s, "N1").await.map(|v| v.len()),
        niem.search(&s, "N1").await.map(|v| v.len()),
    ]
}

#[tokio::test]
async fn http_adapters_refuse_nonsense_and_name_the_failure() {
    for r in both("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await {
        assert!(matches!(r, Err(SourceError::Malformed(_))), "{r:?}");
    }
    for r in
        both("HTTP/1.1 200 OK\r\ncontent-length: 500\r\nconnection: close\r\n\r\n{\"source\"").await
    {
        assert!(
            matches!(r, Err(SourceError::Unavailable(_))),
            "cut off: {r:?}"
        );
    }
    for r in both("").await {
        assert!(
            matches!(r, Err(SourceError::Unavailable(_))),
            "closed: {r:?}"
        );
    }
    for r in
        both("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
    {
        assert!(matches!(r, Err(SourceError::Unavailable(_))), "503: {r:?}");
    }
    for r in both("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await
    {
        assert!(matches!(r, Err(SourceError::Refused { .. })), "404: {r:?}");
    }
}

#[tokio::test]
async fn http_adapters_read_an_empty_answer() {
    let url = http_server(
        "HTTP/1.1 200 OK\r\ncontent-length: 60\r\nconnection: close\r\n\r\n{\"source\": \"x\", \"transaction_id\": \"N1\", \"hit_count\": 0, \"hits\": []}",
    )
    .await;
    let json = JsonSource::new("x", &url, client());
    // The length above is short of the body: the answer is cut off.
    assert!(json.search(&subject(), "N1").await.is_err());
    let body = "{\"source\": \"x\", \"transaction_id\": \"N1\", \"hit_count\": 0, \"hits\": []}";
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let json = JsonSource::new("x", &http_server(answer).await, client());
    assert_eq!(json.search(&subject(), "N1").await, Ok(vec![]));
}

/// An HTTP client (with the process's TLS crypto installed, as the
/// workspace builds reqwest without a default one).
fn client() -> reqwest::Client {
    plaza_kernel::install_crypto_provider();
    reqwest::Client::new()
}
