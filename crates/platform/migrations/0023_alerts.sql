-- Alerts (service::alerts): a chain's rule settings where they differ from the defaults, the
-- alerts the rules raise (one row per condition from first seen to resolved; a pending one
-- that clears before it fires is deleted), where they are sent, what is sent, and silences.
CREATE TABLE alert_rule_settings (
    chain_id TEXT NOT NULL REFERENCES chains (id),
    rule TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    for_ms BIGINT NOT NULL,
    threshold BIGINT,
    updated_by TEXT NOT NULL REFERENCES users (id),
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (chain_id, rule)
);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    rule TEXT NOT NULL,
    -- The node it is about, '' for the chain itself.
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    -- pending, firing, resolved
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    fired_ms BIGINT,
    resolved_ms BIGINT,
    -- When its firing was last sent (reminders follow until it is acknowledged).
    notified_ms BIGINT,
    acked_by TEXT REFERENCES users (id),
    acked_ms BIGINT
);
CREATE INDEX alerts_by_chain ON alerts (chain_id, state, started_ms);

CREATE TABLE alert_receivers (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    -- webhook (target: a URL) or email (target: an address)
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    -- A webhook's HMAC key, sealed by the keystore.
    secret TEXT,
    min_severity TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- The outbox: one row per alert event (firing, resolved, reminder) and receiver, retried
-- until delivered or given up on (failed = 1).
CREATE TABLE alert_notifications (
    id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    receiver_id TEXT NOT NULL REFERENCES alert_receivers (id),
    event TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    delivered_ms BIGINT,
    failed BIGINT NOT NULL,
    last_error TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX alert_notifications_due ON alert_notifications (delivered_ms, failed, next_attempt_ms);

CREATE TABLE alert_silences (
    id TEXT PRIMARY KEY,
    chain_id TEXT NOT NULL REFERENCES chains (id),
    -- NULL: any rule, any node.
    rule TEXT,
    subject TEXT,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_ms BIGINT NOT NULL,
    ends_ms BIGINT NOT NULL
);
