-- Who may use a chain's node APIs: `members` (holders of a token a CA of the chain signed),
-- `public-reads` (anyone reads, members write) or `open`. Chains made before this setting
-- existed start as `members` at their next start, like new ones.
ALTER TABLE chains ADD COLUMN node_access TEXT NOT NULL DEFAULT 'members';
