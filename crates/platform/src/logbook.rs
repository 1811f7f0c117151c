//! The platform's own log, its last lines kept in memory for the console's log viewer
//! (`GET /v1/platform/logs`), beside standard error: `consortia platform` adds tracing's JSON
//! layer writing into a [`Logbook`], and the logs service reads it as it reads a node's JSON
//! log. Memory, not a file: it works however the platform is run (a terminal, systemd, a
//! container), and its bound is fixed; the full history stays where standard error goes.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::lock;

/// How many lines it keeps (at ~300 bytes a line, ~1.5 MB).
pub const KEEP: usize = 5_000;

/// The last [`KEEP`] lines the platform logged, oldest first; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Logbook(Arc<Mutex<VecDeque<String>>>);

impl Logbook {
    /// The last `lines` lines, oldest first.
    pub fn tail(&self, lines: usize) -> Vec<String> {
        let book = lock(&self.0);
        book.iter().skip(book.len().saturating_sub(lines)).cloned().collect()
    }

    fn push(&self, text: &str) {
        let mut book = lock(&self.0);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if book.len() == KEEP {
                book.pop_front();
            }
            book.push_back(line.to_owned());
        }
    }
}

/// One event's bytes, kept when tracing is done writing them.
#[derive(Debug)]
pub struct LogbookWriter {
    book: Logbook,
    bytes: Vec<u8>,
}

impl Write for LogbookWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogbookWriter {
    fn drop(&mut self) {
        self.book.push(&String::from_utf8_lossy(&self.bytes));
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logbook {
    type Writer = LogbookWriter;

    fn make_writer(&'a self) -> LogbookWriter {
        LogbookWriter { book: self.clone(), bytes: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn it_keeps_each_event_as_one_json_line_and_only_the_last_ones() {
        let book = Logbook::default();
        let layer =
            tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(book.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..KEEP + 2 {
                tracing::info!(target: "platform::test", i, "event");
            }
        });
        let tail = book.tail(KEEP + 10);
        assert_eq!(tail.len(), KEEP, "the oldest two went");
        let first: serde_json::Value = serde_json::from_str(&tail[0]).unwrap();
        assert_eq!((first["i"].as_u64(), first["message"].as_str()), (Some(2), Some("event")));
        assert_eq!(book.tail(1).len(), 1);
    }
}
