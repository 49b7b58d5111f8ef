//! Where events come from: the LookupEvents API or files. Sources push events into a [`Sink`] one at a
//! time as they are read, so nothing is held beyond the page or record in hand.

mod api;
mod files;
mod limiter;
mod split;
pub mod token;

use anyhow::Result;

use crate::config::SourceConfig;
use crate::event::Event;
use crate::progress::Progress;
use crate::query::TextKind;

/// What the consumer wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The consumer side of a source: the filter and the writer.
pub trait Sink {
    /// Asked before a JSON text is parsed: false means it cannot match and is skipped.
    fn may_match(&mut self, text: &[u8], kind: TextKind) -> bool;
    fn event(&mut self, event: Event) -> Result<Flow>;
    /// A page (or file) is complete: make what was written so far visible.
    fn flush(&mut self) -> Result<()>;
}

/// How a source ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Set when the consumer stopped early and more events may follow: the `--starting-token` to
    /// continue from the next unread event.
    pub resume_token: Option<String>,
    /// Events or records that could not be read (each was warned about when met).
    pub unreadable: u64,
}

pub fn run(config: &SourceConfig, sink: &mut dyn Sink, progress: &Progress) -> Result<Outcome> {
    match config {
        SourceConfig::Api(api) => api::lookup(api, sink, progress),
        SourceConfig::Files(files) => files::read(files, sink, progress),
    }
}
