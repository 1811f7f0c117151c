-- The contract gateway: the key the platform signs with for an organization (one secp256k1
-- account each, made on first use; encrypted under the root key once key management lands).
CREATE TABLE org_accounts (
    org_id TEXT PRIMARY KEY REFERENCES orgs (id),
    address TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Contracts of a chain: uploaded (bytecode and ABI, hash checked), then deployed.
CREATE TABLE contracts (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    abi TEXT NOT NULL,
    -- Creation bytecode, hex.
    bytecode TEXT NOT NULL,
    -- 0x + Keccak-256 of the bytecode.
    code_hash TEXT NOT NULL,
    -- uploaded | deployed
    status TEXT NOT NULL,
    address TEXT,
    deploy_tx TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_ms BIGINT NOT NULL,
    deployed_ms BIGINT,
    UNIQUE (chain_id, name)
);
