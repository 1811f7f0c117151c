//! Keeps a node's block history to its operator's policy ([`HistoryFile`]): blocks older than
//! the last `hot_blocks` move to the archive directory, blocks older than the last
//! `keep_blocks` are pruned, and an archive the policy no longer names is restored (moving it
//! to another directory is restoring it, then archiving there). The store does the moves in
//! steps, so commits go on meanwhile; this module decides when, after commits and whenever the
//! policy changes.

use std::sync::Arc;
use std::time::Duration;

use consortia_storage::{BlockReader, History, StorageError};
use consortia_types::Height;
use consortia_types::config::HistoryFile;
use tokio::sync::watch;

use crate::Node;

/// Blocks a tier may run over its policy before they move: the moves go in batches, not one
/// block per commit.
const SLACK_BLOCKS: u64 = 64;
/// The least time between two passes.
const PASS_EVERY: Duration = Duration::from_secs(1);

impl Node {
    /// The history policy in force.
    pub fn history_policy(&self) -> HistoryFile {
        self.history.lock().clone()
    }

    /// Puts `policy` in force from now on (no restart).
    pub fn set_history_policy(&self, policy: HistoryFile) {
        let mut current = self.history.lock();
        if *current != policy {
            tracing::info!(target: "node::history", ?policy, "history policy changed");
            *current = policy;
            self.history_changed.notify_one();
        }
    }

    /// How far behind its peers a node holding only block 0 must be to start from a recent
    /// block's state rather than replay every block (`None`: it always replays).
    pub fn state_sync_after(&self) -> Option<Height> {
        *self.state_sync_after.lock()
    }

    pub fn set_state_sync_after(&self, blocks: Option<Height>) {
        *self.state_sync_after.lock() = blocks;
    }

    /// Where the block history is kept now.
    pub fn history(&self) -> Result<History, StorageError> {
        self.store.history()
    }

    /// Brings the history to the policy in force (blocking: it may move many blocks).
    pub fn apply_history_policy(&self) -> Result<(), StorageError> {
        let policy = self.history_policy();
        let store = &self.store;
        let head = store.latest_height()?;
        let history = store.history()?;
        let archived = history.first_hot > history.first_block;
        match &policy.archive_dir {
            Some(dir) => {
                if archived && history.archive_dir.as_deref() != Some(dir.as_path()) {
                    tracing::info!(target: "node::history", to = %dir.display(),
                        "moving the archive: restoring it first");
                    store.restore()?;
                }
                let below = head.saturating_sub(policy.hot_blocks());
                let first_hot = store.history()?.first_hot;
                if below >= first_hot + SLACK_BLOCKS {
                    store.archive(dir, below)?;
                }
            }
            None if archived || history.archive_dir.is_some() => {
                store.restore()?;
            }
            None => {}
        }
        if let Some(keep) = policy.keep_blocks {
            let below = head.saturating_sub(keep);
            if below >= history.first_block + SLACK_BLOCKS {
                store.prune(below)?;
            }
        }
        Ok(())
    }

    /// Applies the history policy after commits and when it changes, until `shutdown`.
    pub(crate) async fn keep_history(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut committed = self.committed();
        let mut last_error = None;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = committed.changed() => {}
                () = self.history_changed.notified() => {}
            }
            let node = self.clone();
            let outcome = tokio::task::spawn_blocking(move || node.apply_history_policy()).await;
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("the history task failed: {e}")),
            };
            if error.is_some() && error != last_error {
                tracing::warn!(target: "node::history", error = error.as_deref().unwrap_or_default(),
                    "the block history cannot be kept to its policy; fix the [history] table of the node's configuration or the archive directory");
            }
            last_error = error;
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(PASS_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{PrivateKey, Scheme, Suite};
    use consortia_storage::{BlockWriter, StateChanges};
    use consortia_types::{Block, Genesis, Header, Height};

    use super::*;
    use crate::NodeConfig;
    use crate::mempool::MempoolConfig;

    /// A solo node on disk (not running) with `blocks` empty blocks committed after genesis.
    fn node_with(blocks: Height) -> (tempfile::TempDir, Arc<Node>) {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate(Scheme::Ed25519);
        let genesis = Genesis::solo(5, "history", Suite::Standard, key.public_key(), 0);
        let node = Node::open(NodeConfig {
            data_dir: dir.path().join("data"),
            genesis,
            validator_key: Some(key),
            mempool: MempoolConfig::default(),
            network: None,
            history: HistoryFile::default(),
        })
        .unwrap();
        let store = &node.store;
        for height in 1..=blocks {
            let prepared = store.prepare_state(height, StateChanges::new(), None).unwrap();
            let header = Header {
                height,
                state_root: prepared.root(),
                ..store.header(height - 1).unwrap().unwrap().header
            };
            let block = Block { header, transactions: vec![], certificate: None };
            store.commit_block(&block, &[], &prepared).unwrap();
        }
        (dir, node)
    }

    fn tiers(node: &Node) -> (Height, Height) {
        let history = node.store.history().unwrap();
        (history.first_block, history.first_hot)
    }

    #[test]
    fn blocks_older_than_the_kept_ones_are_pruned() {
        let (_dir, node) = node_with(400);
        node.set_history_policy(HistoryFile { keep_blocks: Some(256), ..Default::default() });
        node.apply_history_policy().unwrap();
        assert_eq!(tiers(&node), (144, 144));
        assert!(node.store.block(143).is_err() && node.store.block(144).unwrap().is_some());
    }

    #[test]
    fn a_tier_within_its_slack_is_left_alone() {
        let (_dir, node) = node_with(300);
        node.set_history_policy(HistoryFile { keep_blocks: Some(256), ..Default::default() });
        node.apply_history_policy().unwrap();
        assert_eq!(tiers(&node), (1, 1), "44 blocks over the policy wait for the next batch");
    }

    #[test]
    fn old_blocks_move_to_the_archive_and_come_back_when_the_policy_drops_it() {
        let (dir, node) = node_with(400);
        let cold = dir.path().join("cold");
        let policy = HistoryFile {
            archive_dir: Some(cold.clone()),
            hot_blocks: Some(300),
            ..Default::default()
        };
        node.set_history_policy(policy);
        node.apply_history_policy().unwrap();
        assert_eq!(tiers(&node), (1, 100));
        assert_eq!(node.store.history().unwrap().archive_dir, Some(cold));
        assert!(node.store.block(50).unwrap().is_some());
        node.set_history_policy(HistoryFile::default());
        node.apply_history_policy().unwrap();
        assert_eq!(tiers(&node), (1, 1));
        assert_eq!(node.store.history().unwrap().archive_dir, None);
    }

    #[test]
    fn naming_another_archive_directory_moves_the_archive_there() {
        let (dir, node) = node_with(400);
        let policy = |to: &str| HistoryFile {
            archive_dir: Some(dir.path().join(to)),
            hot_blocks: Some(300),
            ..Default::default()
        };
        node.set_history_policy(policy("first"));
        node.apply_history_policy().unwrap();
        node.set_history_policy(policy("second"));
        node.apply_history_policy().unwrap();
        assert_eq!(tiers(&node), (1, 100));
        assert_eq!(node.store.history().unwrap().archive_dir, Some(dir.path().join("second")));
        assert!(!dir.path().join("first").join("blocks.redb").exists());
        assert!(node.store.block(50).unwrap().is_some());
    }

    #[test]
    fn archiving_and_pruning_together_keep_both_tiers_to_the_policy() {
        let (dir, node) = node_with(700);
        node.set_history_policy(HistoryFile {
            keep_blocks: Some(500),
            archive_dir: Some(dir.path().join("cold")),
            hot_blocks: Some(300),
        });
        node.apply_history_policy().unwrap();
        assert_eq!(tiers(&node), (200, 400));
    }

    #[tokio::test]
    async fn a_policy_changed_while_the_node_runs_is_applied_without_a_restart() {
        let (_dir, node) = node_with(400);
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(node.clone().keep_history(shutdown));
        node.set_history_policy(HistoryFile { keep_blocks: Some(256), ..Default::default() });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tiers(&node).0 == 1 {
            assert!(tokio::time::Instant::now() < deadline, "the policy was not applied");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(tiers(&node), (144, 144));
        let _ = stop.send(true);
    }
}
