//! The consensus write-ahead log: what a validator signed (and the proof and block of its lock),
//! persisted before it is sent, so a restarted validator never signs two different messages for
//! one height, round and step.
//!
//! The log is a row of segment files: `consensus.wal` (segment 0, also the whole log of nodes
//! from before segments), then `consensus.wal.00000001`, `.00000002` and so on. Entries are
//! appended to the last; once it passes [`SEGMENT_BYTES`] it is synced and sealed and a new one
//! begins. Compaction deletes sealed segments whose entries are all of decided heights: it never
//! reads the log back (the single-file log read and decoded all 64 MiB of it on the consensus
//! thread, several hundred MiB of heap for a moment, and the consensus loop stood still meanwhile).
//!
//! A record is `length (u32 LE) ‖ checksum (first 4 bytes of SHA-256 of the body) ‖ body`, the
//! body a borsh [`WalEntry`]. A crash can tear the last record; reading stops at the first record
//! that is short or fails its checksum, cuts the segment there and deletes any later segment, so
//! what remains is always a prefix of what was appended.
//!
//! Raft's term and the vote cast in it must outlive any number of heights: each new segment
//! begins with a copy of the latest term's vote and election message, so deleting the segments
//! that held the originals loses nothing.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_consensus::{Message, RaftKind};
use consortia_crypto::HashAlgorithm;
use consortia_types::{Block, Height};

/// A segment is sealed once it is this large (a larger record gets a segment of its own).
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// No single record is larger (a block is at most 16 MiB by the chain's limits).
const MAX_RECORD: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WalEntry {
    Message(Message),
    /// The block named by this validator's proposal or lock.
    Block(Block),
}

impl WalEntry {
    pub(crate) fn height(&self) -> Height {
        match self {
            WalEntry::Message(m) => m.height(),
            WalEntry::Block(b) => b.header.height,
        }
    }
}

/// A sealed segment: synced, never written again.
#[derive(Debug)]
struct Sealed {
    path: PathBuf,
    /// The highest height of its entries: it can go once that height is decided.
    max_height: Height,
}

/// Raft's latest term as the log holds it: the vote cast in it and the latest election message.
#[derive(Debug, Default)]
struct Election {
    term: u32,
    vote: Option<WalEntry>,
    last: Option<WalEntry>,
}

impl Election {
    fn note(&mut self, entry: &WalEntry) {
        let WalEntry::Message(Message::Raft(r)) = entry else { return };
        let term = r.message.term;
        if term < self.term {
            return;
        }
        if term > self.term {
            *self = Election { term, ..Election::default() };
        }
        if matches!(r.message.kind, RaftKind::RequestVote { .. } | RaftKind::GrantVote { .. }) {
            self.vote = Some(entry.clone());
        }
        self.last = Some(entry.clone());
    }

    /// What a new segment must begin with, in the order it was appended.
    fn entries(&self) -> impl Iterator<Item = &WalEntry> {
        let last = self.last.as_ref().filter(|last| Some(*last) != self.vote.as_ref());
        self.vote.iter().chain(last)
    }
}

#[derive(Debug)]
pub struct Wal {
    /// Segment 0's path; segment n is this path with `.n` (8 digits) appended.
    base: PathBuf,
    sealed: Vec<Sealed>,
    /// [`SEGMENT_BYTES`], smaller in tests.
    segment_bytes: u64,
    file: BufWriter<File>,
    /// The open segment's number, size and highest height.
    seq: u64,
    size: u64,
    max_height: Height,
    election: Election,
}

fn checksum(body: &[u8]) -> [u8; 4] {
    let digest = HashAlgorithm::Sha256.digest(body);
    [digest.0[0], digest.0[1], digest.0[2], digest.0[3]]
}

pub(crate) fn record(entry: &WalEntry) -> Vec<u8> {
    let body = borsh::to_vec(entry).expect("writing into a Vec cannot fail");
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&body));
    out.extend_from_slice(&body);
    out
}

/// Parses records until the first torn or corrupt one; returns the entries and the length of
/// the valid prefix.
pub(crate) fn parse(bytes: &[u8]) -> (Vec<WalEntry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(body) = bytes.get(at + 8..at + 8 + len).filter(|_| len <= MAX_RECORD) else {
            break;
        };
        if checksum(body) != bytes[at + 4..at + 8] {
            break;
        }
        let Ok(entry) = borsh::from_slice::<WalEntry>(body) else { break };
        entries.push(entry);
        at += 8 + len;
    }
    (entries, at)
}

fn segment_path(base: &Path, seq: u64) -> PathBuf {
    match seq {
        0 => base.to_owned(),
        n => {
            let mut name = base.as_os_str().to_owned();
            name.push(format!(".{n:08}"));
            PathBuf::from(name)
        }
    }
}

/// The segments beside `base`, by number.
fn segments(base: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let dir = base.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Some(stem) = base.file_name().and_then(|n| n.to_str()) else {
        return Ok(vec![]);
    };
    let mut found = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let seq = match name.strip_prefix(stem) {
            Some("") => 0,
            Some(rest) => match rest.strip_prefix('.').and_then(|n| n.parse::<u64>().ok()) {
                Some(n) if n > 0 => n,
                _ => continue,
            },
            None => continue,
        };
        found.push((seq, entry.path()));
    }
    found.sort();
    Ok(found)
}

fn sync_dir(base: &Path) -> std::io::Result<()> {
    match base.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

impl Wal {
    /// Opens (or creates) the log whose first segment is `base` and returns what it holds.
    pub(crate) fn open(base: &Path) -> std::io::Result<(Wal, Vec<WalEntry>)> {
        let mut found = segments(base)?.into_iter();
        let mut sealed = vec![];
        let mut entries = vec![];
        let mut open: Option<(u64, PathBuf, u64, Height)> = None;
        for (seq, path) in found.by_ref() {
            let bytes = std::fs::read(&path)?;
            let (read, valid) = parse(&bytes);
            let max_height = read.iter().map(WalEntry::height).max().unwrap_or(0);
            entries.extend(read);
            if let Some((_, path, _, max_height)) = open.take() {
                sealed.push(Sealed { path, max_height });
            }
            open = Some((seq, path.clone(), valid as u64, max_height));
            if valid < bytes.len() {
                tracing::warn!(target: "node::wal", path = %path.display(), kept = valid, dropped = bytes.len() - valid, "cut a torn consensus WAL record");
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(valid as u64)?;
                file.sync_all()?;
                break;
            }
        }
        // Whatever follows a cut is not part of the log's prefix.
        let mut removed = false;
        for (_, path) in found {
            tracing::warn!(target: "node::wal", path = %path.display(), "removed a WAL segment after a torn one");
            std::fs::remove_file(path)?;
            removed = true;
        }
        let (seq, path, size, max_height) = open.unwrap_or((0, base.to_owned(), 0, 0));
        let created = !path.exists();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        // Durable before anything is appended: a removed segment that came back after a crash
        // would follow newer entries, and a new segment's entry could be lost with its records.
        if removed || created {
            sync_dir(base)?;
        }
        let mut election = Election::default();
        entries.iter().for_each(|e| election.note(e));
        let wal = Wal {
            base: base.to_owned(),
            sealed,
            segment_bytes: SEGMENT_BYTES,
            file: BufWriter::new(file),
            seq,
            size,
            max_height,
            election,
        };
        Ok((wal, entries))
    }

    /// Appends an entry (buffered: durable after [`Wal::sync`]).
    pub(crate) fn append(&mut self, entry: &WalEntry) -> std::io::Result<()> {
        if self.size >= self.segment_bytes {
            self.seal()?;
        }
        self.election.note(entry);
        self.write(entry)
    }

    fn write(&mut self, entry: &WalEntry) -> std::io::Result<()> {
        let record = record(entry);
        self.file.write_all(&record)?;
        self.size += record.len() as u64;
        self.max_height = self.max_height.max(entry.height());
        Ok(())
    }

    /// Syncs the open segment, then starts the next with the latest Raft election.
    fn seal(&mut self) -> std::io::Result<()> {
        self.sync()?;
        let path = segment_path(&self.base, self.seq + 1);
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
        sync_dir(&self.base)?;
        self.sealed
            .push(Sealed { path: segment_path(&self.base, self.seq), max_height: self.max_height });
        self.file = BufWriter::new(file);
        self.seq += 1;
        self.size = 0;
        self.max_height = 0;
        let carried: Vec<WalEntry> = self.election.entries().cloned().collect();
        carried.iter().try_for_each(|e| self.write(e))
    }

    /// Makes everything appended durable.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()
    }

    /// Deletes the sealed segments whose entries are all of heights at or below `decided`.
    pub(crate) fn compact(&mut self, decided: Height) -> std::io::Result<()> {
        if !self.sealed.iter().any(|s| s.max_height <= decided) {
            return Ok(());
        }
        // The open segment's copy of the Raft election must be on disk before the original goes.
        self.sync()?;
        let mut kept = Vec::with_capacity(self.sealed.len());
        for segment in std::mem::take(&mut self.sealed) {
            if segment.max_height <= decided {
                std::fs::remove_file(&segment.path)?;
            } else {
                kept.push(segment);
            }
        }
        self.sealed = kept;
        sync_dir(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use consortia_consensus::SignedVote;
    use consortia_crypto::{PrivateKey, Scheme};
    use consortia_types::{Vote, VoteKind};

    use super::*;

    fn vote(height: Height) -> WalEntry {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let vote =
            Vote { chain_id: 1, height, round: 0, kind: VoteKind::Prevote, block_hash: None };
        WalEntry::Message(Message::Vote(SignedVote::new(vote, 0, &key)))
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let (mut wal, entries) = Wal::open(&path).unwrap();
        assert!(entries.is_empty());
        let written = vec![vote(1), vote(1), vote(2)];
        for e in &written {
            wal.append(e).unwrap();
        }
        wal.sync().unwrap();
        drop(wal);
        // A crash in the middle of a fourth record.
        let full = std::fs::read(&path).unwrap();
        let mut torn = full.clone();
        torn.extend_from_slice(&record(&vote(3))[..20]);
        std::fs::write(&path, &torn).unwrap();
        let (mut wal, entries) = Wal::open(&path).unwrap();
        assert_eq!(entries, written);
        assert_eq!(std::fs::read(&path).unwrap(), full, "the torn record is cut");
        // A flipped bit ends the log at that record.
        wal.append(&vote(4)).unwrap();
        wal.sync().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(Wal::open(&path).unwrap().1, written);
    }

    proptest::proptest! {
        /// A WAL can hold anything after a crash or disk fault: reading never panics and keeps
        /// a prefix of whole records.
        #[test]
        fn reading_any_bytes_is_total(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let (_, valid) = parse(&bytes);
            proptest::prop_assert!(valid <= bytes.len());
        }
    }

    /// A log whose segments are sealed after every entry.
    fn tiny_segments(path: &Path) -> Wal {
        let (mut wal, _) = Wal::open(path).unwrap();
        wal.segment_bytes = 1;
        wal
    }

    /// A closed log of three segments, one vote each (heights 1, 2, 3).
    fn three_segments() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let mut wal = tiny_segments(&path);
        for h in 1..=3 {
            wal.append(&vote(h)).unwrap();
        }
        wal.sync().unwrap();
        (dir, path)
    }

    fn heights(path: &Path) -> Vec<Height> {
        Wal::open(path).unwrap().1.iter().map(WalEntry::height).collect()
    }

    fn grant(key: &PrivateKey, term: u32, height: Height) -> WalEntry {
        use consortia_consensus::RaftMessage;
        let kind = RaftKind::GrantVote { candidate: 1 };
        let m = RaftMessage { chain_id: 1, height, term, from: 0, kind };
        WalEntry::Message(Message::Raft(m.sign(key)))
    }

    fn heartbeat(key: &PrivateKey, term: u32, height: Height) -> WalEntry {
        use consortia_consensus::RaftMessage;
        let m = RaftMessage { chain_id: 1, height, term, from: 0, kind: RaftKind::Heartbeat };
        WalEntry::Message(Message::Raft(m.sign(key)))
    }

    #[test]
    fn compaction_deletes_only_segments_of_decided_heights() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let mut wal = tiny_segments(&path);
        for h in [1, 2, 2, 3] {
            wal.append(&vote(h)).unwrap();
        }
        wal.compact(2).unwrap();
        wal.append(&vote(4)).unwrap();
        wal.sync().unwrap();
        assert_eq!(heights(&path), vec![3, 4]);
        assert!(!path.exists(), "segment 0 held heights 1 and 2 only");
    }

    #[test]
    fn compaction_leaves_the_open_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        for h in 1..=3 {
            wal.append(&vote(h)).unwrap();
        }
        wal.compact(3).unwrap();
        wal.sync().unwrap();
        assert_eq!(heights(&path), vec![1, 2, 3], "nothing sealed, nothing deleted");
    }

    #[test]
    fn a_reopened_log_goes_on_in_its_last_segment() {
        let (_dir, path) = three_segments();
        let (mut wal, entries) = Wal::open(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(wal.seq, 2);
        wal.append(&vote(4)).unwrap();
        wal.compact(3).unwrap();
        wal.sync().unwrap();
        assert_eq!(heights(&path), vec![3, 4], "the reopened log knows its sealed segments");
    }

    #[test]
    fn a_torn_segment_ends_the_log_there() {
        let (_dir, path) = three_segments();
        // A disk fault in the middle segment: what follows it is not a prefix of the log.
        let middle = segment_path(&path, 1);
        let mut bytes = std::fs::read(&middle).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&middle, &bytes).unwrap();
        assert_eq!(heights(&path), vec![1]);
        assert!(!segment_path(&path, 2).exists());
        assert_eq!(std::fs::metadata(&middle).unwrap().len(), 0, "the torn record is cut");
    }

    #[test]
    fn the_raft_vote_of_the_latest_term_outlives_its_segment() {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let mut wal = tiny_segments(&path);
        let vote_of_term_2 = grant(&key, 2, 1);
        let newest = heartbeat(&key, 2, 3);
        let undecided = vote(5);
        let entries =
            [grant(&key, 1, 1), vote_of_term_2.clone(), vote(2), newest.clone(), undecided.clone()];
        for entry in entries {
            wal.append(&entry).unwrap();
        }
        wal.compact(4).unwrap();
        wal.sync().unwrap();
        // Each segment began with the term's vote and its latest election message; the last
        // one holds them and height 5.
        let kept = Wal::open(&path).unwrap().1;
        assert_eq!(kept, vec![vote_of_term_2, newest, undecided]);
    }

    #[test]
    fn a_log_from_before_segments_is_segment_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let old: Vec<u8> = [vote(1), vote(2)].iter().flat_map(record).collect();
        std::fs::write(&path, old).unwrap();
        let (mut wal, entries) = Wal::open(&path).unwrap();
        assert_eq!(entries.len(), 2);
        wal.segment_bytes = 1;
        wal.append(&vote(3)).unwrap();
        wal.compact(2).unwrap();
        wal.sync().unwrap();
        assert_eq!(heights(&path), vec![3]);
        assert!(segment_path(&path, 1).exists());
    }
}
