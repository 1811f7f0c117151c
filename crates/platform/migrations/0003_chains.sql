-- Hosts that run nodes, and chains made with the wizard: create (parameters, chain id at
-- once) -> add nodes -> invite member organizations -> start.

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    -- local (docker and kubernetes come with their drivers)
    kind TEXT NOT NULL,
    -- The address its nodes listen on.
    address TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE chains (
    id TEXT PRIMARY KEY,
    consortium_id TEXT NOT NULL REFERENCES consortiums (id),
    name TEXT NOT NULL,
    chain_id BIGINT NOT NULL UNIQUE,
    consensus TEXT NOT NULL,
    suite TEXT NOT NULL,
    max_block_txs BIGINT NOT NULL,
    block_interval_ms BIGINT NOT NULL,
    -- configuring | starting | running | failed
    status TEXT NOT NULL,
    -- Why the last start failed.
    failure TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_ms BIGINT NOT NULL,
    UNIQUE (consortium_id, name)
);

CREATE TABLE chain_orgs (
    chain_id TEXT NOT NULL REFERENCES chains (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (chain_id, org_id)
);

CREATE TABLE chain_nodes (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    host_id TEXT NOT NULL REFERENCES hosts (id),
    name TEXT NOT NULL,
    -- validator | observer
    role TEXT NOT NULL,
    -- Assigned when the chain starts.
    http_port BIGINT,
    p2p_port BIGINT,
    created_ms BIGINT NOT NULL,
    UNIQUE (chain_id, name)
);
