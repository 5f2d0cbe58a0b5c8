//! A display filter in front of a streamed output: the messages and
//! control frames it does not select are not passed on; every other event
//! is (NDJSON reports, `live`).

use super::{Item, Predicate, Subject};
use crate::analysis::{Consumer, Event, Wants};
use crate::capture::Timestamp;
use std::ops::ControlFlow;

/// A [`Consumer`] that forwards everything except the messages and
/// control frames a filter does not select (streamed outputs: NDJSON
/// reports, live capture).
pub struct WhereSink<'a> {
    inner: &'a mut dyn Consumer,
    filter: Predicate,
    start: Option<Timestamp>,
}

impl<'a> WhereSink<'a> {
    /// Filters the messages going to `inner`.
    pub fn new(inner: &'a mut dyn Consumer, filter: Predicate) -> Self {
        WhereSink {
            inner,
            filter,
            start: None,
        }
    }
}

impl Consumer for WhereSink<'_> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        let selected = match &ev {
            Event::CaptureStart(ts) => {
                self.start = Some(*ts);
                true
            }
            Event::Message {
                conn,
                index,
                message,
                app,
                ..
            } => self.filter.matches(&Subject::streamed_message(
                conn, *index, message, app, self.start,
            )),
            Event::Control { conn, frame } => {
                self.filter
                    .matches(&Subject::new(conn, Item::Control(frame), self.start))
            }
            _ => true,
        };
        if selected {
            self.inner.event(ev)
        } else {
            ControlFlow::Continue(())
        }
    }

    fn wants(&self) -> Wants {
        self.inner.wants()
    }

    fn idle(&mut self) {
        self.inner.idle()
    }
}
