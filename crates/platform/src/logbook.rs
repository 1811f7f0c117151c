//! The platform's own log for the console's log viewer (`GET /v1/platform/logs`), beside
//! standard error: `consortia platform` adds tracing's JSON layer writing into a [`Logbook`],
//! and the logs service reads it as it reads a node's JSON log. Its last lines are kept in
//! memory (reads never touch the disk, and a read-only or full disk loses no line shown), and
//! appended to `platform.log` in the platform's data directory, rotated by size and age as
//! nodes' logs are ([`LOG_RETENTION`]); a restart reads the file's last lines back, so the
//! console shows what happened before it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use consortia_hosts::{LOG_RETENTION, LogRetention, logfile};

use crate::lock;

/// How many lines it keeps in memory (at ~300 bytes a line, ~1.5 MB).
pub const KEEP: usize = 5_000;

/// The last [`KEEP`] lines the platform logged, oldest first; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Logbook(Arc<Mutex<Book>>);

#[derive(Debug, Default)]
struct Book {
    lines: VecDeque<String>,
    file: Option<LogFile>,
}

/// Where the lines also go.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: File,
    /// Bytes in the file now (rotation empties it).
    len: u64,
    retention: LogRetention,
}

impl LogFile {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        if self.len > self.retention.max_bytes {
            logfile::rotate(&self.path, &self.retention)?;
            self.len = 0;
        }
        Ok(())
    }
}

impl Logbook {
    /// A logbook that also appends to `dir/platform.log` (the directory and file made private
    /// to this user), rotated as `LOG_RETENTION` says, starting with that log's last lines.
    pub fn open(dir: &Path) -> std::io::Result<Logbook> {
        Logbook::open_with(dir, LOG_RETENTION)
    }

    fn open_with(dir: &Path, retention: LogRetention) -> std::io::Result<Logbook> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let path = dir.join("platform.log");
        logfile::rotate(&path, &retention)?;
        let lines = logfile::last_lines(&path, KEEP, (KEEP * 1_000) as u64);
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&path)?;
        let len = file.metadata()?.len();
        let file = Some(LogFile { path, file, len, retention });
        Ok(Logbook(Arc::new(Mutex::new(Book { lines: lines.into(), file }))))
    }

    /// The last `lines` lines, oldest first.
    pub fn tail(&self, lines: usize) -> Vec<String> {
        let book = lock(&self.0);
        book.lines.iter().skip(book.lines.len().saturating_sub(lines)).cloned().collect()
    }

    fn push(&self, bytes: &[u8]) {
        let mut book = lock(&self.0);
        for line in String::from_utf8_lossy(bytes).lines().filter(|l| !l.trim().is_empty()) {
            if book.lines.len() == KEEP {
                book.lines.pop_front();
            }
            book.lines.push_back(line.to_owned());
        }
        if let Some(file) = &mut book.file
            && let Err(e) = file.append(bytes)
        {
            // Not through tracing: this is its writer. Memory keeps the lines from now on.
            eprintln!(
                "the platform's log file {} failed ({e}); keeping its lines in memory only",
                file.path.display()
            );
            book.file = None;
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
        self.book.push(&self.bytes);
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

    fn log(book: &Logbook, n: usize) {
        let layer =
            tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(book.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..n {
                tracing::info!(target: "platform::test", i, "event");
            }
        });
    }

    #[test]
    fn a_reopened_logbook_starts_with_the_lines_written_before() {
        let dir = tempfile::tempdir().unwrap();
        log(&Logbook::open(dir.path()).unwrap(), 3);
        let again = Logbook::open(dir.path()).unwrap();
        let tail = again.tail(10);
        assert_eq!(tail.len(), 3, "{tail:?}");
        let last: serde_json::Value = serde_json::from_str(&tail[2]).unwrap();
        assert_eq!(last["i"].as_u64(), Some(2));
    }

    #[test]
    fn its_file_is_private_and_rotated_past_its_size() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let small = LogRetention { max_bytes: 500, ..LOG_RETENTION };
        let book = Logbook::open_with(&dir.path().join("logs"), small).unwrap();
        log(&book, 20);
        let file = dir.path().join("logs/platform.log");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir.path().join("logs")), mode(&file)), (0o700, 0o600));
        assert!(std::fs::metadata(&file).unwrap().len() <= 500 + 200, "rotated");
        assert!(dir.path().join("logs/platform.log.1").exists());
        assert_eq!(book.tail(100).len(), 20, "memory keeps every line");
    }
}
