//! The implicit current span.
//!
//! Each thread keeps a stack of [`SpanContext`]s. [`Span::enter`](crate::Span::enter) and
//! [`SpanContext::attach`] push onto it and return a guard that pops on drop; spans started without
//! an explicit parent take the top of the stack as their parent.
//!
//! Futures move between threads at every `.await`, so a thread-local alone cannot follow them.
//! [`FutureExt::in_span`] and [`FutureExt::with_context`] wrap a future so that the context is
//! pushed before each `poll` and popped after it: whatever thread polls the future sees the right
//! current span, and spawned tasks inherit it when wrapped with
//! [`FutureExt::with_current_context`].
//!
//! Invariant: guards pop the context they pushed. Guards are `!Send`, and the stack tolerates
//! out-of-order drops (e.g. `tracing` spans exited in a different order) by removing the most
//! recent matching entry.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::ids::SpanContext;
use crate::span::Span;

thread_local! {
    static STACK: RefCell<Vec<SpanContext>> = const { RefCell::new(Vec::new()) };
}

/// The current span context of this thread, if any.
pub(crate) fn current() -> Option<SpanContext> {
    STACK
        .try_with(|stack| stack.try_borrow().ok().and_then(|s| s.last().copied()))
        .ok()
        .flatten()
}

pub(crate) fn push(ctx: SpanContext) {
    let _ = STACK.try_with(|stack| {
        if let Ok(mut stack) = stack.try_borrow_mut() {
            stack.push(ctx);
        }
    });
}

pub(crate) fn pop(ctx: SpanContext) {
    let _ = STACK.try_with(|stack| {
        if let Ok(mut stack) = stack.try_borrow_mut() {
            if stack.last() == Some(&ctx) {
                stack.pop();
            } else if let Some(pos) = stack.iter().rposition(|c| *c == ctx) {
                stack.remove(pos);
            }
        }
    });
}

/// Makes `ctx` current on this thread until the guard drops.
pub(crate) fn attach(ctx: SpanContext) -> ContextGuard {
    push(ctx);
    ContextGuard {
        ctx,
        _not_send: PhantomData,
    }
}

/// Keeps a span context current on this thread; pops it when dropped.
#[derive(Debug)]
#[must_use = "the context is current only while the guard is alive"]
pub struct ContextGuard {
    ctx: SpanContext,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        pop(self.ctx);
    }
}

impl SpanContext {
    /// Makes this context current on this thread until the guard drops (e.g. a context
    /// extracted from an incoming `traceparent`).
    pub fn attach(self) -> ContextGuard {
        attach(self)
    }
}

pin_project_lite::pin_project! {
    /// A future that runs inside a span and ends the span when it completes (or is dropped).
    #[derive(Debug)]
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let guard = this.span.as_ref().map(Span::enter);
        let poll = this.inner.poll(cx);
        drop(guard);
        if poll.is_ready() {
            // End the span when the work completes, not when the wrapper is dropped later.
            this.span.take();
        }
        poll
    }
}

pin_project_lite::pin_project! {
    /// A future that makes a span context current while it is polled.
    #[derive(Debug)]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        ctx: Option<SpanContext>,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.ctx.map(attach);
        this.inner.poll(cx)
    }
}

/// Carries spans across `.await` points and into spawned tasks.
pub trait FutureExt: Future + Sized {
    /// Runs the future inside `span` (current while polled) and ends the span on completion.
    fn in_span(self, span: Span) -> Instrumented<Self> {
        Instrumented {
            inner: self,
            span: Some(span),
        }
    }

    /// Makes `ctx` current while the future is polled (`None` leaves the context untouched).
    fn with_context(self, ctx: Option<SpanContext>) -> WithContext<Self> {
        WithContext { inner: self, ctx }
    }

    /// Captures the caller's current context for the future: use it on futures handed to
    /// `tokio::spawn` or another executor.
    fn with_current_context(self) -> WithContext<Self> {
        let ctx = current();
        self.with_context(ctx)
    }
}

impl<F: Future> FutureExt for F {}
