//! Log files kept by size and age: what the local driver does to its nodes' `node.log` and
//! the platform to its own `platform.log` (see [`crate::LogRetention`]).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::LogRetention;

/// `log`'s `n`th older file: `node.log.1`, `node.log.2` …
fn older(log: &Path, n: usize) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotates the file `log` once it is larger than `retention.max_bytes`: its contents move to
/// `<log>.1` (older files shift to `.2` …), then it is emptied in place, so a writer that
/// appends to the file it opened writes on at its new end (logrotate's `copytruncate`: a line
/// written between the copy and the truncation is lost, nothing else). Files past
/// `retention.keep` or older than `retention.max_age` are deleted.
pub fn rotate(log: &Path, retention: &LogRetention) -> std::io::Result<()> {
    let Ok(meta) = std::fs::metadata(log) else { return Ok(()) };
    if meta.len() > retention.max_bytes {
        let _ = std::fs::remove_file(older(log, retention.keep));
        for n in (1..retention.keep).rev() {
            if older(log, n).exists() {
                std::fs::rename(older(log, n), older(log, n + 1))?;
            }
        }
        std::fs::copy(log, older(log, 1))?;
        std::fs::OpenOptions::new().write(true).open(log)?.set_len(0)?;
    }
    for n in 1.. {
        let path = older(log, n);
        let Ok(meta) = std::fs::metadata(&path) else { break };
        let age = meta.modified().ok().and_then(|m| m.elapsed().ok()).unwrap_or_default();
        if n > retention.keep || age > retention.max_age {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// The last `max` bytes of a file.
pub fn tail_bytes(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// The last `lines` lines of `log` and its first older file together, oldest first (at most
/// `max` bytes read of each): what a log shows from before a restart.
pub fn last_lines(log: &Path, lines: usize, max: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in [older(log, 1), log.to_owned()] {
        let Ok(bytes) = tail_bytes(&path, max) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        // A tail of a longer file drops its first line, which may be cut.
        let cut = std::fs::metadata(&path).is_ok_and(|m| m.len() > max);
        out.extend(
            text.lines().skip(usize::from(cut)).filter(|l| !l.trim().is_empty()).map(str::to_owned),
        );
    }
    out.split_off(out.len().saturating_sub(lines))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    const SMALL: LogRetention =
        LogRetention { max_bytes: 10, keep: 2, max_age: Duration::from_secs(3600) };

    fn read(dir: &Path, file: &str) -> Option<String> {
        std::fs::read_to_string(dir.join(file)).ok()
    }

    #[test]
    fn a_log_past_its_size_moves_to_the_first_older_file_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node.log"), "first 12345\n").unwrap();
        rotate(&dir.path().join("node.log"), &SMALL).unwrap();
        assert_eq!(read(dir.path(), "node.log").as_deref(), Some(""));
        assert_eq!(read(dir.path(), "node.log.1").as_deref(), Some("first 12345\n"));
    }

    #[test]
    fn a_writer_appending_to_the_log_goes_on_at_its_new_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let mut writer = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        writer.write_all(b"before rotation\n").unwrap();
        rotate(&path, &SMALL).unwrap();
        writer.write_all(b"after\n").unwrap();
        assert_eq!(read(dir.path(), "node.log").as_deref(), Some("after\n"));
    }

    #[test]
    fn only_keep_older_files_stay_the_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        for round in ["one 1234567\n", "two 1234567\n", "three 12345\n"] {
            std::fs::write(dir.path().join("node.log"), round).unwrap();
            rotate(&dir.path().join("node.log"), &SMALL).unwrap();
        }
        assert_eq!(read(dir.path(), "node.log.1").as_deref(), Some("three 12345\n"));
        assert_eq!(read(dir.path(), "node.log.2").as_deref(), Some("two 1234567\n"));
        assert_eq!(read(dir.path(), "node.log.3"), None);
    }

    #[test]
    fn a_small_log_is_left_alone_and_old_files_past_their_age_go() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node.log"), "short\n").unwrap();
        std::fs::write(dir.path().join("node.log.1"), "old\n").unwrap();
        let none = LogRetention { max_age: Duration::ZERO, ..SMALL };
        std::thread::sleep(Duration::from_millis(20));
        rotate(&dir.path().join("node.log"), &none).unwrap();
        assert_eq!(read(dir.path(), "node.log").as_deref(), Some("short\n"));
        assert_eq!(read(dir.path(), "node.log.1"), None);
    }

    #[test]
    fn the_last_lines_run_on_from_the_older_file_into_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.log.1"), "a\nb\nc\n").unwrap();
        std::fs::write(dir.path().join("p.log"), "d\ne\n").unwrap();
        let log = dir.path().join("p.log");
        assert_eq!(last_lines(&log, 3, 1 << 20), ["c", "d", "e"]);
        assert_eq!(last_lines(&log, 9, 1 << 20), ["a", "b", "c", "d", "e"]);
        // Three bytes of each: the older file's tail starts inside it, so its first line
        // (maybe partial) is dropped.
        assert_eq!(last_lines(&log, 9, 3), ["c", "e"]);
        assert_eq!(last_lines(&log, 9, 4), ["c", "d", "e"], "the current file fits in 4");
    }
}
