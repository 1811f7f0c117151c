-- Webhook subscriptions of a chain: the events (a contract's, one signature's, topic filters)
-- POSTed to a URL at least once, in block order, signed with HMAC-SHA256 under the
-- subscription's secret (sealed by the keystore). The cursor is the last event delivered
-- (or given up on): delivery resumes after it, and a consumer may move it.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    url TEXT NOT NULL,
    -- The contract whose events are sent (lowercase 0x address), NULL: any.
    address TEXT,
    -- The event's signature, `Transfer(address,address,uint256)`, NULL: any.
    event TEXT,
    -- JSON array of up to three filters for topics 1 to 3 (null: any).
    topics TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    -- Delivered up to log `cursor_index` of block `cursor_height` (-1: none of that block).
    cursor_height BIGINT NOT NULL,
    cursor_index BIGINT NOT NULL,
    -- Failed attempts at the next event, when to try again, and why the last one failed.
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    delivered BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Events given up on after the last retry: kept for the consumer to see and replay.
CREATE TABLE webhook_dead_letters (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    height BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
