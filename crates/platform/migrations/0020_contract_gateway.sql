-- The contract gateway's managed signing keys: a secp256k1 account per key, owned by a user
-- of an organization (a person, or an application's service account). A rotation makes a new
-- version, a new account; older versions are kept (retired, never used to sign again) so the
-- transactions they signed stay attributable.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    -- 1 while it may sign, 0 once disabled.
    enabled BIGINT NOT NULL,
    -- The version that signs.
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE signing_key_versions (
    key_id TEXT NOT NULL REFERENCES signing_keys (id),
    version BIGINT NOT NULL,
    address TEXT NOT NULL,
    -- PKCS#8 PEM, sealed by the keystore.
    key_pem TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    retired_ms BIGINT,
    PRIMARY KEY (key_id, version)
);

-- Every transaction the platform signs, written before it is sent: the nonce it took (unique
-- per account, so no nonce is ever given twice), the signed bytes (sent again until a receipt
-- shows, also after a restart), and for gateway calls the request, its idempotency key and
-- the outcome.
CREATE TABLE signed_txs (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    address TEXT NOT NULL,
    -- NULL once the chain refused it: the nonce went to no transaction and is taken again.
    nonce BIGINT,
    tx_hash TEXT NOT NULL,
    -- Hex; dropped once the transaction is final.
    raw_tx TEXT,
    -- pending | success | reverted | failed
    status TEXT NOT NULL,
    -- Who asked, with which key (NULL: the organization's own account), for which contract.
    user_id TEXT,
    org_id TEXT NOT NULL,
    key_id TEXT,
    contract_id TEXT,
    function TEXT,
    -- The request as JSON, and the SHA-256 of its canonical form (idempotency checks it).
    request TEXT,
    fingerprint TEXT,
    idempotency_key TEXT,
    -- The outcome as JSON (TxOutcome), and why it failed or reverted.
    outcome TEXT,
    error TEXT,
    height BIGINT,
    created_ms BIGINT NOT NULL,
    sent_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    UNIQUE (chain_id, address, nonce),
    UNIQUE (user_id, idempotency_key)
);

CREATE INDEX signed_txs_by_status ON signed_txs (status, sent_ms);
CREATE INDEX signed_txs_by_user ON signed_txs (user_id, created_ms);
