//! The `tracing` bridge: a [`tracing_subscriber::Layer`] that turns `tracing` spans and events
//! into Cairn spans, so agents already instrumented with `tracing` are captured.
//!
//! Mapping:
//! - a `tracing` span becomes a Cairn span named after the span (or its `otel.name` field), from
//!   creation to close; its parent is the Cairn span of its `tracing` parent, or, for a `tracing`
//!   root, the current Cairn span of the thread;
//! - fields become attributes under their own names (`i64`/`u64`/`f64`/`bool`/`str` keep their
//!   type, anything else is recorded with `Debug`); a `cairn.kind` field (`tool`, `llm`,
//!   `reasoning`, …) selects the agent kind; `otel.kind` (`client`, `server`, `producer`,
//!   `consumer`, `internal`) the span kind; `otel.status_code` (`ok`, `error`) the status;
//! - entering a `tracing` span makes its Cairn span current, so Cairn helpers used inside nest
//!   under it;
//! - an event inside a span becomes a span event (name: its `message`, attributes: its fields
//!   plus `level`); an `ERROR` event also sets the span's status to error.
//!
//! Fields are read on the caller's thread (that is how `tracing` hands them out); the layer does
//! no encoding or I/O there.

use std::borrow::Cow;
use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::context;
use crate::ids::SpanContext;
use crate::span::{Span, SpanKind, Status};
use crate::tracer::{Parent, Tracer};
use crate::value::{Key, Value};

/// A `tracing_subscriber` layer recording `tracing` spans through a [`Tracer`].
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// let tracer = cairn_tracer::Tracer::builder("my-agent").build()?;
/// tracing_subscriber::registry().with(cairn_tracer::CairnLayer::new(tracer.clone())).init();
/// # Ok::<(), cairn_tracer::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CairnLayer {
    tracer: Tracer,
}

impl CairnLayer {
    /// A layer recording through `tracer`.
    pub fn new(tracer: Tracer) -> CairnLayer {
        CairnLayer { tracer }
    }
}

/// Stored in the `tracing` span's extensions while it is open.
struct Bridged {
    span: Span,
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    span_kind: Option<SpanKind>,
    status: Option<Status>,
    message: Option<String>,
    attributes: Vec<(Key, Value)>,
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes
            .push((Key::Borrowed(field.name()), Value::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.attributes
            .push((Key::Borrowed(field.name()), Value::from(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes
            .push((Key::Borrowed(field.name()), Value::F64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes
            .push((Key::Borrowed(field.name()), Value::Bool(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.name" => self.name = Some(value.to_owned()),
            "otel.kind" => self.span_kind = parse_span_kind(value),
            "otel.status_code" => {
                self.status = match value.to_ascii_lowercase().as_str() {
                    "ok" => Some(Status::Ok),
                    "error" => Some(Status::Error(Cow::Borrowed(""))),
                    _ => None,
                }
            }
            "message" => self.message = Some(value.to_owned()),
            name => self
                .attributes
                .push((Key::Borrowed(name), Value::from(value.to_owned()))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.record_str(field, &text);
        }
    }
}

fn parse_span_kind(s: &str) -> Option<SpanKind> {
    Some(match s.to_ascii_lowercase().as_str() {
        "internal" => SpanKind::Internal,
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => return None,
    })
}

impl<S> Layer<S> for CairnLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let parent = span_ref
            .parent()
            .and_then(|p| p.extensions().get::<Bridged>().map(|b| b.span.context()))
            .or_else(context::current);
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let meta = attrs.metadata();
        let name = match fields.name.take() {
            Some(n) => Cow::Owned(n),
            None => Cow::Borrowed(meta.name()),
        };
        let mut data = self
            .tracer
            .new_span_data(None, name, fields.span_kind.unwrap_or_default());
        data.extend_attributes(fields.attributes);
        let mut span = self
            .tracer
            .start_span(data, parent.map_or(Parent::Root, Parent::Explicit));
        if let Some(status) = fields.status {
            span.set_status(status);
        }
        span_ref.extensions_mut().insert(Bridged { span });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut ext = span_ref.extensions_mut();
        if let Some(bridged) = ext.get_mut::<Bridged>() {
            for (k, v) in fields.attributes {
                bridged.span.set_attribute(k, v);
            }
            if let Some(status) = fields.status {
                bridged.span.set_status(status);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(c) = bridged_context(id, &ctx) {
            context::push(c);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(c) = bridged_context(id, &ctx) {
            context::pop(c);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.event_span(event) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        let mut attributes = fields.attributes;
        attributes.push((Key::Borrowed("level"), Value::from(level.as_str())));
        let name = fields
            .message
            .unwrap_or_else(|| event.metadata().name().to_owned());
        let mut ext = span_ref.extensions_mut();
        if let Some(bridged) = ext.get_mut::<Bridged>() {
            if level == Level::ERROR {
                bridged
                    .span
                    .set_status(Status::Error(Cow::Owned(name.clone())));
            }
            bridged.span.add_event(name, attributes);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span_ref) = ctx.span(&id) {
            let bridged = span_ref.extensions_mut().remove::<Bridged>();
            drop(bridged); // ends the Cairn span
        }
    }
}

fn bridged_context<S>(id: &Id, ctx: &Context<'_, S>) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span_ref = ctx.span(id)?;
    let ext = span_ref.extensions();
    ext.get::<Bridged>().map(|b| b.span.context())
}
