//! The consensus write-ahead log: what a validator signed (and the proof and block of its lock),
//! persisted before it is sent, so a restarted validator never signs two different messages for
//! one height, round and step.
//!
//! A record is `length (u32 LE) ‖ checksum (first 4 bytes of SHA-256 of the body) ‖ body`, the
//! body a borsh [`WalEntry`]. A crash can tear the last record; reading stops at the first record
//! that is short or fails its checksum and cuts the file there. Entries of decided heights are
//! dropped when the file grows past [`COMPACT_BYTES`] (rewritten to a temporary file, synced,
//! renamed over the log), except Raft's election messages of the latest term: a term and the
//! vote cast in it must survive any number of heights.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_consensus::Message;
use consortia_crypto::HashAlgorithm;
use consortia_types::{Block, Height};

/// The log is compacted when it grows past this.
const COMPACT_BYTES: u64 = 64 * 1024 * 1024;
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

#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
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

impl Wal {
    /// Opens (or creates) the log and returns what it holds.
    pub(crate) fn open(path: &Path) -> std::io::Result<(Wal, Vec<WalEntry>)> {
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(path)?.read_to_end(&mut bytes)?;
        }
        let (entries, valid) = parse(&bytes);
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if valid < bytes.len() {
            tracing::warn!(target: "node::wal", path = %path.display(), kept = valid, dropped = bytes.len() - valid, "cut a torn consensus WAL record");
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        let wal = Wal { path: path.to_owned(), file: BufWriter::new(file), size: valid as u64 };
        Ok((wal, entries))
    }

    /// Appends an entry (buffered: durable after [`Wal::sync`]).
    pub(crate) fn append(&mut self, entry: &WalEntry) -> std::io::Result<()> {
        let record = record(entry);
        self.file.write_all(&record)?;
        self.size += record.len() as u64;
        Ok(())
    }

    /// Makes everything appended durable.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()
    }

    /// Once the log is large, drops the entries of heights at or below `decided`.
    pub(crate) fn compact(&mut self, decided: Height) -> std::io::Result<()> {
        if self.size < COMPACT_BYTES {
            return Ok(());
        }
        self.sync()?;
        let (entries, _) = parse(&std::fs::read(&self.path)?);
        // Raft's term and vote outlive heights: the election messages of the latest term stay.
        let raft_term = |e: &WalEntry| match e {
            WalEntry::Message(Message::Raft(r)) => Some(r.message.term),
            _ => None,
        };
        let latest_term = entries.iter().filter_map(raft_term).max();
        let keep = |e: &&WalEntry| {
            e.height() > decided || (raft_term(e).is_some() && raft_term(e) == latest_term)
        };
        let tmp = self.path.with_extension("compact");
        let mut out = BufWriter::new(File::create(&tmp)?);
        let mut size = 0;
        for entry in entries.iter().filter(keep) {
            let record = record(entry);
            out.write_all(&record)?;
            size += record.len() as u64;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().append(true).open(&self.path)?;
        self.file = BufWriter::new(file);
        self.size = size;
        Ok(())
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

    #[test]
    fn compaction_keeps_undecided_heights() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        for h in 1..=3 {
            wal.append(&vote(h)).unwrap();
        }
        wal.size = COMPACT_BYTES; // as if large
        wal.compact(2).unwrap();
        wal.append(&vote(4)).unwrap();
        wal.sync().unwrap();
        let heights: Vec<Height> =
            Wal::open(&path).unwrap().1.iter().map(WalEntry::height).collect();
        assert_eq!(heights, vec![3, 4]);
    }

    #[test]
    fn compaction_keeps_the_latest_raft_vote_of_any_height() {
        use consortia_consensus::{RaftKind, RaftMessage};
        let key = PrivateKey::generate(Scheme::Ed25519);
        let grant = |term, height| {
            let kind = RaftKind::GrantVote { candidate: 1 };
            let m = RaftMessage { chain_id: 1, height, term, from: 0, kind };
            WalEntry::Message(Message::Raft(m.sign(&key)))
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        let newest = vote(5);
        for entry in [grant(1, 1), grant(2, 1), newest.clone()] {
            wal.append(&entry).unwrap();
        }
        wal.size = COMPACT_BYTES;
        wal.compact(4).unwrap();
        assert_eq!(Wal::open(&path).unwrap().1, vec![grant(2, 1), newest]);
    }
}
