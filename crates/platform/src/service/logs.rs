//! Nodes' logs, read through their hosts, and the platform's own ([`crate::logbook`]): each
//! line parsed into a [`LogEntry`] (the JSON a node the platform runs writes, or a text line),
//! filtered by level, text and time, merged across a chain's nodes, and followed as they grow.
//! Each node's log is shown only to those its organization allows `node:logs`; the platform's
//! to platform administrators.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use consortia_api::platform::{ChainNodeView, ChainStatus, LogEntry, LogLevel, LogQuery};
use consortia_hosts::HostDriver;
use futures_util::Stream;
use serde_json::{Map, Value};

use super::chains::spec_name;
use super::hosts::host_error;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::logbook::Logbook;

/// The name the platform's own lines go by where a node's name would be.
const PLATFORM_SOURCE: &str = "platform";

/// The most lines a read answers, and the most it reads from each node's tail to filter.
const MAX_LINES: usize = 5_000;

/// How many lines a read answers unless asked.
const DEFAULT_LINES: usize = 100;

/// How often a followed log is read again.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// How many of a node's last lines each look of a follow reads.
const FOLLOW_LINES: usize = 1_000;

/// Milliseconds since the Unix epoch of an RFC 3339 time.
fn rfc3339_ms(text: &str) -> Option<u64> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(time.timestamp_millis()).ok()
}

/// `text` without terminal colour codes (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

fn take_str(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

/// A line of tracing's JSON format (`flatten_event`): its time, level, target and message,
/// the event's own fields kept (the `log` crate's bookkeeping dropped).
fn json_entry(node: &str, line: &str) -> Option<LogEntry> {
    let Value::Object(mut map) = serde_json::from_str(line).ok()? else { return None };
    let time = take_str(&mut map, "timestamp");
    let level = take_str(&mut map, "level").and_then(|l| l.to_ascii_lowercase().parse().ok());
    let target = take_str(&mut map, "log.target").or_else(|| take_str(&mut map, "target"));
    let message = take_str(&mut map, "message").unwrap_or_default();
    map.retain(|key, _| !key.starts_with("log."));
    Some(LogEntry {
        node: node.to_owned(),
        time_ms: time.as_deref().and_then(rfc3339_ms),
        time,
        level,
        target,
        message,
        fields: map,
    })
}

/// A text line: tracing's text format (`TIME LEVEL target: message`) is split into its parts;
/// any other line (a panic, an error report, a backtrace, a host's note) takes the time of the
/// line before it, so it sorts and follows with it.
fn text_entry(node: &str, line: &str, before: Option<&LogEntry>) -> LogEntry {
    let plain = strip_ansi(line);
    let plain = plain.trim_end();
    let mut entry = LogEntry {
        node: node.to_owned(),
        time: before.and_then(|b| b.time.clone()),
        time_ms: before.and_then(|b| b.time_ms),
        level: None,
        target: None,
        message: plain.to_owned(),
        fields: Map::new(),
    };
    if let Some(note) = plain.strip_prefix("[consortia-hosts] ") {
        entry.level = Some(LogLevel::Warn);
        entry.target = Some("hosts".into());
        entry.message = note.to_owned();
        return entry;
    }
    let timed = plain.split_once(' ').and_then(|(t, rest)| Some((t, rfc3339_ms(t)?, rest)));
    let Some((time, time_ms, rest)) = timed else {
        if plain.contains("panicked at") || plain.starts_with("Error: ") {
            entry.level = Some(LogLevel::Error);
        }
        return entry;
    };
    entry.time = Some(time.to_owned());
    entry.time_ms = Some(time_ms);
    let rest = rest.trim_start();
    let (level, rest) = match rest.split_once(' ') {
        Some((word, rest)) => match word.to_ascii_lowercase().parse::<LogLevel>() {
            Ok(level) => (Some(level), rest.trim_start()),
            Err(_) => (None, rest),
        },
        None => (None, rest),
    };
    entry.level = level;
    entry.message = rest.to_owned();
    if let Some((target, message)) = rest.split_once(": ")
        && !target.is_empty()
        && !target.contains(' ')
    {
        entry.target = Some(target.to_owned());
        entry.message = message.to_owned();
    }
    entry
}

/// A node's log lines, read in order.
pub(crate) fn parse_lines(node: &str, lines: &[String]) -> Vec<LogEntry> {
    let mut out: Vec<LogEntry> = Vec::with_capacity(lines.len());
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let entry = match line.trim_start().starts_with('{') {
            true => json_entry(node, line),
            false => None,
        };
        let entry = entry.unwrap_or_else(|| text_entry(node, line, out.last()));
        out.push(entry);
    }
    out
}

/// What a query lets through.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogFilter {
    level: Option<LogLevel>,
    /// Lower case.
    text: Option<String>,
    since_ms: Option<u64>,
    until_ms: Option<u64>,
}

impl LogFilter {
    pub(crate) fn of(q: &LogQuery) -> LogFilter {
        LogFilter {
            level: q.level,
            text: q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_lowercase),
            since_ms: q.since_ms,
            until_ms: q.until_ms,
        }
    }

    /// Whether it lets every line through (then a read needs only the lines it answers).
    fn is_open(&self) -> bool {
        self.level.is_none() && self.text.is_none() && self.since_ms.is_none()
    }

    /// Whether `entry` passes. A line of no known level passes only an open level filter, a
    /// line of no known time only an open time range.
    pub(crate) fn passes(&self, entry: &LogEntry) -> bool {
        if let Some(min) = self.level
            && !entry.level.is_some_and(|l| l.at_least(min))
        {
            return false;
        }
        if self.since_ms.is_some() || self.until_ms.is_some() {
            let Some(at) = entry.time_ms else { return false };
            if self.since_ms.is_some_and(|s| at < s) || self.until_ms.is_some_and(|u| at >= u) {
                return false;
            }
        }
        match &self.text {
            None => true,
            Some(text) => {
                let has = |s: &str| s.to_lowercase().contains(text.as_str());
                has(&entry.message)
                    || entry.target.as_deref().is_some_and(has)
                    || (!entry.fields.is_empty()
                        && has(&Value::Object(entry.fields.clone()).to_string()))
            }
        }
    }
}

/// Where a follow of one node's log stands: past every line up to `time` (as the node wrote
/// it) and `at_time` lines of that very time.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogCursor {
    time: Option<(u64, String)>,
    at_time: usize,
}

fn time_key(entry: &LogEntry) -> Option<(u64, String)> {
    Some((entry.time_ms?, entry.time.clone()?))
}

impl LogCursor {
    /// The lines of `tail` (a node's last lines, in order) past the cursor, and the cursor
    /// moved past them all. Lines of no known time are before any (a log's first lines).
    pub(crate) fn advance(&mut self, tail: Vec<LogEntry>) -> Vec<LogEntry> {
        let mut new = vec![];
        let mut same_time = 0;
        let mut last: Option<(u64, String)> = None;
        let mut at_last = 0;
        for entry in tail {
            let Some(key) = time_key(&entry) else { continue };
            if last.as_ref() == Some(&key) {
                at_last += 1;
            } else {
                last = Some(key.clone());
                at_last = 1;
            }
            match &self.time {
                Some(cursor) if key < *cursor => continue,
                Some(cursor) if key == *cursor => {
                    same_time += 1;
                    if same_time <= self.at_time {
                        continue;
                    }
                }
                _ => {}
            }
            new.push(entry);
        }
        if let Some(last) = last
            && self.time.as_ref().is_none_or(|t| last >= *t)
        {
            self.at_time =
                if self.time.as_ref() == Some(&last) { self.at_time.max(at_last) } else { at_last };
            self.time = Some(last);
        }
        new
    }
}

/// A log a caller may read: a node's, through its host, or the platform's own.
enum LogSource {
    Node { name: String, spec: String, driver: Arc<dyn HostDriver> },
    Platform(Logbook),
}

impl LogSource {
    async fn read(&self, lines: usize) -> Result<Vec<LogEntry>> {
        match self {
            LogSource::Node { name, spec, driver } => {
                let raw = driver.logs(spec, lines).await.map_err(host_error)?;
                Ok(parse_lines(name, &raw))
            }
            LogSource::Platform(book) => Ok(parse_lines(PLATFORM_SOURCE, &book.tail(lines))),
        }
    }
}

/// The last lines of `sources` that pass the query's filters, merged in time order.
async fn read_sources(sources: &[LogSource], q: &LogQuery) -> Result<Vec<LogEntry>> {
    let lines = q.lines.unwrap_or(DEFAULT_LINES).clamp(1, MAX_LINES);
    let filter = LogFilter::of(q);
    // A filter looks further back than the lines it answers.
    let read = if filter.is_open() { lines } else { MAX_LINES };
    let mut entries = vec![];
    for read in futures_util::future::join_all(sources.iter().map(|s| s.read(read))).await {
        entries.extend(read?);
    }
    Ok(last_passing(entries, &filter, lines))
}

/// The lines of `sources` that pass the query's filters, as they are written: from
/// `q.since_ms` on, else from now. Each source is read again every second; one that cannot be
/// read is skipped until it can.
async fn follow_sources(
    sources: Vec<LogSource>,
    q: &LogQuery,
) -> impl Stream<Item = LogEntry> + Send + use<> {
    let filter = LogFilter::of(q);
    let mut followed = Vec::with_capacity(sources.len());
    for source in sources {
        let mut cursor = LogCursor::default();
        if q.since_ms.is_none() {
            // From now: past what the log holds already.
            cursor.advance(source.read(FOLLOW_LINES).await.unwrap_or_default());
        }
        followed.push((source, cursor));
    }
    let state = (followed, filter, VecDeque::<LogEntry>::new(), true);
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            let (followed, filter, buffer, first) = &mut st;
            if let Some(entry) = buffer.pop_front() {
                return Some((entry, st));
            }
            if !std::mem::take(first) {
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
            let mut new = vec![];
            for (source, cursor) in followed.iter_mut() {
                if let Ok(tail) = source.read(FOLLOW_LINES).await {
                    new.extend(cursor.advance(tail).into_iter().filter(|e| filter.passes(e)));
                }
            }
            new.sort_by_key(|e| e.time_ms);
            buffer.extend(new);
        }
    })
}

/// The last `lines` entries of `entries` that pass `filter`, in time order (stable: a node's
/// own order is kept among lines of one time).
fn last_passing(mut entries: Vec<LogEntry>, filter: &LogFilter, lines: usize) -> Vec<LogEntry> {
    entries.retain(|e| filter.passes(e));
    entries.sort_by_key(|e| e.time_ms);
    let from = entries.len().saturating_sub(lines);
    entries.split_off(from)
}

impl Platform {
    /// The nodes of a running chain whose logs the caller may read (`node:logs` in the
    /// organization that owns each): all of them, or the one named. 403 if none.
    async fn log_sources(
        &self,
        caller: &Caller,
        chain: &str,
        only: Option<&str>,
    ) -> Result<Vec<LogSource>> {
        let view = self.visible_chain(caller, chain).await?;
        if view.status == ChainStatus::Configuring {
            return Err(Error::illegal_step(format!(
                "chain {chain} has not started; its nodes have no logs yet"
            )));
        }
        let nodes: Vec<&ChainNodeView> = match only {
            Some(name) => vec![
                view.node(name)
                    .ok_or_else(|| Error::NotFound(format!("no node {name} in chain {chain}")))?,
            ],
            None => view.nodes.iter().collect(),
        };
        let mut sources = vec![];
        let mut refused = None;
        for node in nodes {
            let resource = format!("org/{}/nodes/{}", node.org_id, node.id);
            if let Err(e) = self.authorize(caller, &node.org_id, "node:logs", &resource).await {
                refused = Some(e);
                continue;
            }
            let driver = self.driver(&node.host_id).await?;
            sources.push(LogSource::Node {
                name: node.name.clone(),
                spec: spec_name(&view.id, &node.name),
                driver,
            });
        }
        match (sources.is_empty(), refused) {
            (true, Some(e)) => Err(e),
            _ => Ok(sources),
        }
    }

    /// A node's last log lines that pass the query's filters, oldest first.
    pub async fn node_logs(
        &self,
        caller: &Caller,
        chain: &str,
        node: &str,
        q: &LogQuery,
    ) -> Result<Vec<LogEntry>> {
        self.read_logs(caller, chain, Some(node), q).await
    }

    /// The last log lines of the chain's nodes (those the caller may read; `q.node` picks
    /// one) that pass the query's filters, merged in time order.
    pub async fn chain_logs(
        &self,
        caller: &Caller,
        chain: &str,
        q: &LogQuery,
    ) -> Result<Vec<LogEntry>> {
        self.read_logs(caller, chain, q.node.as_deref(), q).await
    }

    async fn read_logs(
        &self,
        caller: &Caller,
        chain: &str,
        only: Option<&str>,
        q: &LogQuery,
    ) -> Result<Vec<LogEntry>> {
        read_sources(&self.log_sources(caller, chain, only).await?, q).await
    }

    /// The chain's nodes' log lines (those the caller may read; `q.node` picks one) that
    /// pass the query's filters, as they are written (see [`follow_sources`]).
    pub async fn follow_logs(
        &self,
        caller: &Caller,
        chain: &str,
        q: &LogQuery,
    ) -> Result<impl Stream<Item = LogEntry> + Send + use<>> {
        let sources = self.log_sources(caller, chain, q.node.as_deref()).await?;
        Ok(follow_sources(sources, q).await)
    }

    /// Keeps the platform's own log lines in `book` for [`Platform::platform_logs`]
    /// (`consortia platform` does; the first call counts).
    pub fn keep_log(&self, book: Logbook) {
        // A second logbook is not made; keeping the first is all there is to do.
        let _ = self.logbook.set(book);
    }

    /// The platform's own log, for its administrators; 404 if this process keeps none.
    fn own_log(&self, caller: &Caller) -> Result<Vec<LogSource>> {
        if !caller.admin {
            return Err(Error::Forbidden(
                "the platform's own log is for platform administrators".into(),
            ));
        }
        let book = self.logbook.get().ok_or_else(|| {
            Error::NotFound(
                "this platform process keeps no log (`consortia platform` does); read its \
                 standard error"
                    .into(),
            )
        })?;
        Ok(vec![LogSource::Platform(book.clone())])
    }

    /// The platform's own last log lines that pass the query's filters (`q.node` is not
    /// used), oldest first.
    pub async fn platform_logs(&self, caller: &Caller, q: &LogQuery) -> Result<Vec<LogEntry>> {
        read_sources(&self.own_log(caller)?, q).await
    }

    /// The platform's own log lines that pass the query's filters, as they are written.
    pub async fn follow_platform_logs(
        &self,
        caller: &Caller,
        q: &LogQuery,
    ) -> Result<impl Stream<Item = LogEntry> + Send + use<>> {
        Ok(follow_sources(self.own_log(caller)?, q).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| (*l).to_owned()).collect()
    }

    const JSON: &str = r#"{"timestamp":"2026-12-04T05:05:57.123456Z","level":"WARN","message":"peer lost","peer":"v2","height":7,"target":"network::peers"}"#;

    #[test]
    fn a_json_line_gives_its_time_level_target_message_and_fields() {
        let entry = &parse_lines("v0", &lines(&[JSON]))[0];
        assert_eq!(entry.node, "v0");
        assert_eq!(entry.time.as_deref(), Some("2026-12-04T05:05:57.123456Z"));
        assert_eq!(entry.time_ms, Some(1_796_360_757_123));
        assert_eq!(entry.level, Some(LogLevel::Warn));
        assert_eq!(entry.target.as_deref(), Some("network::peers"));
        assert_eq!(entry.message, "peer lost");
        assert_eq!(
            Value::Object(entry.fields.clone()),
            serde_json::json!({"peer": "v2", "height": 7})
        );
    }

    #[test]
    fn a_coloured_text_line_is_split_without_its_colour_codes() {
        let line = "\u{1b}[2m2026-12-04T05:05:57.123456Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mconsensus::round\u{1b}[0m\u{1b}[2m:\u{1b}[0m committed \u{1b}[3mheight\u{1b}[0m\u{1b}[2m=\u{1b}[0m3";
        let entry = &parse_lines("v1", &lines(&[line]))[0];
        assert_eq!(entry.time_ms, Some(1_796_360_757_123));
        assert_eq!(entry.level, Some(LogLevel::Info));
        assert_eq!(entry.target.as_deref(), Some("consensus::round"));
        assert_eq!(entry.message, "committed height=3");
        assert!(!entry.message.contains('\u{1b}'));
    }

    #[test]
    fn a_panic_takes_the_time_of_the_line_before_and_counts_as_an_error() {
        let parsed = parse_lines(
            "v0",
            &lines(&[
                JSON,
                "thread 'main' panicked at src/main.rs:3:5:",
                "  0: frame",
                "[consortia-hosts] node exited (exit status: 101); starting it again in 1 s",
            ]),
        );
        assert_eq!(parsed[1].level, Some(LogLevel::Error));
        assert_eq!(parsed[1].time_ms, parsed[0].time_ms);
        assert_eq!(parsed[2].level, None);
        assert_eq!(parsed[3].level, Some(LogLevel::Warn));
        assert_eq!(parsed[3].target.as_deref(), Some("hosts"));
        assert!(parsed[3].message.starts_with("node exited"));
    }

    #[test]
    fn a_broken_json_line_is_kept_as_text() {
        let entry = &parse_lines("v0", &lines(&["{\"timestamp\": oops"]))[0];
        assert_eq!(entry.message, "{\"timestamp\": oops");
        assert_eq!(entry.level, None);
    }

    fn entry(time_ms: u64, level: LogLevel, message: &str) -> LogEntry {
        LogEntry {
            node: "v0".into(),
            time: Some(format!("t{time_ms:06}")),
            time_ms: Some(time_ms),
            level: Some(level),
            target: Some("node::commit".into()),
            message: message.into(),
            fields: Map::new(),
        }
    }

    #[test]
    fn the_level_filter_keeps_that_level_and_worse() {
        let filter = LogFilter::of(&LogQuery { level: Some(LogLevel::Warn), ..Default::default() });
        assert!(!filter.passes(&entry(1, LogLevel::Info, "a")));
        assert!(filter.passes(&entry(1, LogLevel::Warn, "a")));
        assert!(filter.passes(&entry(1, LogLevel::Error, "a")));
        let mut unknown = entry(1, LogLevel::Error, "a");
        unknown.level = None;
        assert!(!filter.passes(&unknown));
    }

    #[test]
    fn the_text_filter_looks_in_message_target_and_fields_in_any_case() {
        let filter = LogFilter::of(&LogQuery { q: Some("COMMIT".into()), ..Default::default() });
        assert!(filter.passes(&entry(1, LogLevel::Info, "x")), "target");
        let filter = LogFilter::of(&LogQuery { q: Some("v2".into()), ..Default::default() });
        assert!(!filter.passes(&entry(1, LogLevel::Info, "x")));
        let mut with_field = entry(1, LogLevel::Info, "x");
        with_field.fields.insert("peer".into(), "v2".into());
        assert!(filter.passes(&with_field));
    }

    #[test]
    fn the_time_range_takes_its_start_and_leaves_its_end() {
        let filter = LogFilter::of(&LogQuery {
            since_ms: Some(10),
            until_ms: Some(20),
            ..Default::default()
        });
        assert!(!filter.passes(&entry(9, LogLevel::Info, "a")));
        assert!(filter.passes(&entry(10, LogLevel::Info, "a")));
        assert!(!filter.passes(&entry(20, LogLevel::Info, "a")));
    }

    #[test]
    fn a_read_answers_the_last_passing_lines_in_time_order() {
        let mut v1 = entry(2, LogLevel::Warn, "b");
        v1.node = "v1".into();
        let all = vec![
            entry(1, LogLevel::Warn, "a"),
            entry(3, LogLevel::Info, "c"),
            entry(4, LogLevel::Error, "d"),
            v1,
        ];
        let filter = LogFilter::of(&LogQuery { level: Some(LogLevel::Warn), ..Default::default() });
        let got: Vec<String> =
            last_passing(all, &filter, 2).into_iter().map(|e| e.message).collect();
        assert_eq!(got, ["b", "d"]);
    }

    #[test]
    fn a_follow_sends_each_line_once_also_lines_of_one_time() {
        let mut cursor = LogCursor::default();
        let first = vec![entry(1, LogLevel::Info, "a"), entry(2, LogLevel::Info, "b")];
        assert_eq!(cursor.advance(first.clone()).len(), 2);
        // The same tail again: nothing new. Then a line of the same time as the last, and a later one.
        assert!(cursor.advance(first.clone()).is_empty());
        let mut grown = first.clone();
        grown.push(entry(2, LogLevel::Info, "b2"));
        grown.push(entry(3, LogLevel::Info, "c"));
        let new: Vec<String> =
            cursor.advance(grown.clone()).into_iter().map(|e| e.message).collect();
        assert_eq!(new, ["b2", "c"]);
        // The tail window moved past the first lines (rotated or trimmed): still nothing twice.
        assert!(cursor.advance(grown[2..].to_vec()).is_empty());
    }
}
