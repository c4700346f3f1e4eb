//! Logs through `tracing`: text for a person at a terminal, or one JSON object per line for a log
//! collector (`CRM_LOG_FORMAT`), filtered by `RUST_LOG` (default `info`). Records written with the
//! `log` macros, here and in dependencies, are bridged in, so they too carry the span they were
//! written in — the request's, whose `request_id` every line logged while serving it shows.

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_log::AsLog;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// The span every request is served in (`http::middleware`); its field names the request.
pub const REQUEST_SPAN: &str = "request";

/// Installs the process's logger, writing to standard error. Once per process.
pub fn init(format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env_lossy();
    // `log` records the filter would drop anyway are not converted at all.
    let most = filter.max_level_hint().unwrap_or(LevelFilter::TRACE);
    tracing_log::LogTracer::builder()
        .with_max_level(most.as_log())
        .init()
        .map_err(|e| format!("cannot install the log bridge: {e}"))?;
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let subscriber = tracing_subscriber::registry().with(filter).with(layer(format, std::io::stderr, colour));
    tracing::subscriber::set_global_default(subscriber).map_err(|e| format!("cannot install the logger: {e}"))
}

/// The layer that writes lines in `format` to `writer`.
pub fn layer<S, W>(format: LogFormat, writer: W, colour: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(colour).boxed(),
        // The event's fields at the top level; the innermost span's (the request's `request_id`)
        // under `span`.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// An in-memory log sink.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("sink").clone()).expect("utf-8")
        }
    }

    fn dispatch(format: LogFormat, sink: &Sink) -> tracing::Dispatch {
        let sink = sink.clone();
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer(format, move || sink.clone(), false)))
    }

    #[test]
    fn json_lines_are_one_object_each_with_the_request_id() {
        // `log` records reach the subscriber through the bridge, as in the service.
        let _ = tracing_log::LogTracer::init();
        let sink = Sink::default();
        let dispatch = dispatch(LogFormat::Json, &sink);
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!(REQUEST_SPAN, request_id = "req-42");
            let _inside = span.enter();
            tracing::info!(target: "access", method = "GET", route = "/v1/stores/{id}", status = 404, "request");
            log::warn!("a line with\na line break and \"quotes\"");
            // Work handed to another thread (the blocking pool) carries the span along.
            let carried = crate::db::in_current_span(|| log::info!("inside web::block"));
            let dispatch = dispatch.clone();
            std::thread::spawn(move || tracing::dispatcher::with_default(&dispatch, carried)).join().expect("thread");
        });
        tracing::dispatcher::with_default(&dispatch, || tracing::info!("outside any request"));

        let text = sink.text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}")))
            .collect();
        assert_eq!(lines.len(), 4, "{text}");
        for line in &lines[..3] {
            assert!(line.is_object(), "{line}");
            assert_eq!(line["span"]["request_id"], "req-42", "{line}");
            assert_eq!(line["span"]["name"], REQUEST_SPAN, "{line}");
        }
        assert_eq!(lines[0]["target"], "access");
        assert_eq!(lines[0]["route"], "/v1/stores/{id}");
        assert_eq!(lines[0]["status"], 404);
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["message"], "a line with\na line break and \"quotes\"");
        assert_eq!(lines[2]["message"], "inside web::block");
        assert!(lines[3].get("span").is_none(), "{}", lines[3]);
    }

    #[test]
    fn text_lines_name_the_request_too() {
        let sink = Sink::default();
        tracing::dispatcher::with_default(&dispatch(LogFormat::Text, &sink), || {
            let span = tracing::info_span!(REQUEST_SPAN, request_id = "req-7");
            span.in_scope(|| tracing::info!(target: "access", status = 201, "request"));
        });
        let text = sink.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("request{request_id=\"req-7\"}") || text.contains("request{request_id=req-7}"), "{text}");
        assert!(text.contains("status=201"), "{text}");
    }
}
