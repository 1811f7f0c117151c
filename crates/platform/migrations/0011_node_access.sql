-- Who may use a chain's node APIs: `members` (holders of a token a CA of the chain signed),
-- `public-reads` (anyone reads, members write) or `open`. Chains made before this setting
-- existed start as `members` at their next start, like new ones. `node_https` (0 or 1):
-- whether the nodes serve HTTPS, with certificates from their organizations' CAs.
ALTER TABLE chains ADD COLUMN node_access TEXT NOT NULL DEFAULT 'members';
ALTER TABLE chains ADD COLUMN node_https BIGINT NOT NULL DEFAULT 0;
