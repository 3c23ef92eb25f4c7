//! Telemetry: structured logs, a correlation id that follows a request from
//! HTTP through gRPC into events, and Prometheus metrics.
//!
//! Logs pass through [`Scrubber`] on their way out, which blanks anything
//! shaped like a social security number, an e-mail address or a date of
//! birth, so that a careless log line still does not leak personal data.

use std::io::Write;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::Error;

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The metadata entry / HTTP header that carries the correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The correlation id of the request this task is serving, if any.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(|c| c.clone()).ok()
}

/// The current correlation id, or a fresh one for work no request started.
pub fn correlation_id_or_new() -> String {
    correlation_id().unwrap_or_else(new_correlation_id)
}

pub fn new_correlation_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Runs `f` with `id` as the correlation id.
pub async fn with_correlation<F: Future>(id: String, f: F) -> F::Output {
    CORRELATION_ID.scope(id, f).await
}

/// Accepts a correlation id from outside only if it is short and plain, so a
/// caller cannot smuggle data into every log line.
pub fn sanitize_correlation_id(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| raw.to_owned())
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("use text or json".into()),
        }
    }
}

/// Installs the global log subscriber (once; later calls do nothing), and,
/// with an OTLP endpoint, a span exporter. Keep the guard until the end of
/// the process and call [`TelemetryGuard::shutdown`] to flush spans.
pub fn init_logging(format: LogFormat, filter: &str) -> Result<TelemetryGuard, Error> {
    init(format, filter, None, "plaza")
}

/// As [`init_logging`], exporting spans over OTLP/gRPC to `otlp_endpoint`.
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp_endpoint: Option<&str>,
    service_name: &str,
) -> Result<TelemetryGuard, Error> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_new(filter)
        .map_err(|e| Error::Invalid(format!("log filter {filter:?}: {e}")))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(ScrubbingStderr);
    let fmt: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = match format {
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Text => fmt.with_ansi(false).boxed(),
    };
    let (otel, guard) = match otlp_endpoint {
        Some(endpoint) => {
            let (layer, guard) = otlp::layer(endpoint, service_name)?;
            (Some(layer), guard)
        }
        None => (None, TelemetryGuard::default()),
    };
    // A second init (tests start several servers in one process) is fine.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .with(filter)
        .try_init();
    Ok(guard)
}

/// Flushes exported spans at the end of the process.
#[derive(Default)]
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    _runtime: Option<std::sync::Arc<tokio::runtime::Runtime>>,
}

impl TelemetryGuard {
    /// Sends every span still buffered. Call it outside the async runtime.
    pub fn shutdown(mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("plaza: could not flush spans to the OTLP collector: {e}");
        }
    }
}

/// OTLP/gRPC span export.
///
/// The SDK's batch processor exports from a thread of its own, outside any
/// Tokio runtime, while the gRPC exporter needs one: the exporter therefore
/// owns a small runtime and runs each export on it.
mod otlp {
    use std::sync::Arc;
    use std::time::Duration;

    use opentelemetry::trace::TracerProvider;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    use super::TelemetryGuard;
    use crate::Error;

    #[derive(Debug)]
    struct OwnRuntime {
        inner: opentelemetry_otlp::SpanExporter,
        rt: Arc<tokio::runtime::Runtime>,
    }

    impl SpanExporter for OwnRuntime {
        fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
            let result = self.rt.block_on(self.inner.export(batch));
            std::future::ready(result)
        }
        fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
            let _inside = self.rt.enter();
            self.inner.shutdown_with_timeout(timeout)
        }
        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            self.inner.set_resource(resource);
        }
    }

    pub(super) fn layer<S>(
        endpoint: &str,
        service_name: &str,
    ) -> Result<
        (
            tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
            TelemetryGuard,
        ),
        Error,
    >
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otlp-export")
                .enable_all()
                .build()
                .map_err(|e| Error::Invalid(format!("OTLP export runtime: {e}")))?,
        );
        let inner = {
            let _inside = rt.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| Error::Invalid(format!("OTLP exporter for {endpoint}: {e}")))?
        };
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(OwnRuntime {
                inner,
                rt: rt.clone(),
            })
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("plaza");
        Ok((
            tracing_opentelemetry::layer().with_tracer(tracer),
            TelemetryGuard {
                provider: Some(provider),
                _runtime: Some(rt),
            },
        ))
    }
}

/// Writes log lines to stderr after scrubbing them.
#[derive(Debug, Clone, Copy)]
struct ScrubbingStderr;

impl<'a> MakeWriter<'a> for ScrubbingStderr {
    type Writer = Scrubber<std::io::Stderr>;
    fn make_writer(&'a self) -> Self::Writer {
        Scrubber::new(std::io::stderr())
    }
}

/// A writer that blanks PII-shaped text before passing bytes on.
pub struct Scrubber<W: Write> {
    inner: W,
}

impl<W: Write> Scrubber<W> {
    pub fn new(inner: W) -> Self {
        Scrubber { inner }
    }
}

impl<W: Write> Write for Scrubber<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let scrubbed = scrub(buf);
        self.inner.write_all(&scrubbed)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Blanks SSN-shaped (`123-45-6789`), e-mail-shaped and date-of-birth-shaped
/// (`1984-03-07` not followed by a time, `03/07/1984`) text with `#`.
pub fn scrub(input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let n = out.len();
    let digit = |b: u8| b.is_ascii_digit();
    let boundary = |s: &[u8], i: usize| i >= s.len() || !s[i].is_ascii_alphanumeric();
    let mut i = 0;
    while i < n {
        let before_ok = i == 0 || !input[i - 1].is_ascii_alphanumeric();
        if before_ok {
            // ddd-dd-dddd
            if i + 11 <= n
                && input[i..i + 3].iter().all(|&b| digit(b))
                && input[i + 3] == b'-'
                && input[i + 4..i + 6].iter().all(|&b| digit(b))
                && input[i + 6] == b'-'
                && input[i + 7..i + 11].iter().all(|&b| digit(b))
                && boundary(input, i + 11)
            {
                out[i..i + 11].fill(b'#');
                i += 11;
                continue;
            }
            // yyyy-mm-dd, not a timestamp
            if i + 10 <= n
                && input[i..i + 4].iter().all(|&b| digit(b))
                && input[i + 4] == b'-'
                && input[i + 5..i + 7].iter().all(|&b| digit(b))
                && input[i + 7] == b'-'
                && input[i + 8..i + 10].iter().all(|&b| digit(b))
                && boundary(input, i + 10)
                && !(i + 10 < n && (input[i + 10] == b'T' || input[i + 10] == b' '))
            {
                out[i..i + 10].fill(b'#');
                i += 10;
                continue;
            }
            // mm/dd/yyyy
            if i + 10 <= n
                && input[i..i + 2].iter().all(|&b| digit(b))
                && input[i + 2] == b'/'
                && input[i + 3..i + 5].iter().all(|&b| digit(b))
                && input[i + 5] == b'/'
                && input[i + 6..i + 10].iter().all(|&b| digit(b))
                && boundary(input, i + 10)
            {
                out[i..i + 10].fill(b'#');
                i += 10;
                continue;
            }
        }
        if input[i] == b'@' && i > 0 {
            let is_local = |b: u8| {
                b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'+' || b == b'-'
            };
            let is_host = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
            let mut start = i;
            while start > 0 && is_local(input[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < n && is_host(input[end]) {
                end += 1;
            }
            while end > i + 1 && input[end - 1] == b'.' {
                end -= 1;
            }
            let host = &input[i + 1..end];
            if start < i && host.contains(&b'.') {
                out[start..end].fill(b'#');
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics registry (installed on first use).
pub fn metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let latency = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
            .expect("non-empty bucket list");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness): the
        // handle still renders what this recorder would have collected.
        let _ = metrics::set_global_recorder(recorder);
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .ok();
        handle
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        String::from_utf8(scrub(x.as_bytes())).unwrap()
    }

    #[test]
    fn scrubs_ssn_email_and_birth_dates() {
        assert_eq!(s("ssn=123-45-6789 ok"), "ssn=########### ok");
        assert_eq!(s("mail ana.k+x@example.org."), "mail ###################.");
        assert_eq!(s("dob 1984-03-07,"), "dob ##########,");
        assert_eq!(s("dob 03/07/1984"), "dob ##########");
    }

    #[test]
    fn leaves_timestamps_ids_and_plain_text_alone() {
        let line =
            r#"{"timestamp":"2026-11-25T14:00:00Z","id":"0193a0b2-1234","msg":"user @ home"}"#;
        assert_eq!(s(line), line);
        assert_eq!(s("order 1234-56-78901"), "order 1234-56-78901");
    }

    #[test]
    fn correlation_ids_from_outside_are_checked() {
        assert!(sanitize_correlation_id("abc-123_x.y").is_some());
        assert!(sanitize_correlation_id("").is_none());
        assert!(sanitize_correlation_id("a b").is_none());
        assert!(sanitize_correlation_id(&"x".repeat(65)).is_none());
    }

    #[tokio::test]
    async fn correlation_id_is_scoped_to_the_task() {
        assert_eq!(correlation_id(), None);
        let seen = with_correlation("c1".into(), async { correlation_id() }).await;
        assert_eq!(seen.as_deref(), Some("c1"));
    }
}
