-- The sealed keystore: one row. The data key that encrypts every private key the platform
-- keeps, wrapped by the root key (which is never stored: M of N Shamir shares recover it), and
-- the access-token key sealed by the data key. The private-key columns of consortiums,
-- consortium_members and org_accounts hold `enc1:…` values sealed by the data key.
CREATE TABLE keystore (
    id TEXT PRIMARY KEY,
    share_set TEXT NOT NULL,
    shares BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    cipher TEXT NOT NULL,
    data_key TEXT NOT NULL,
    token_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    rekeyed_ms BIGINT
);
