-- Under the majority policy a consortium dissolves once more than half of its member
-- organizations voted for it (service::consortiums): each member's vote. A member that
-- leaves takes its vote with it.
CREATE TABLE dissolution_votes (
    consortium_id TEXT NOT NULL REFERENCES consortiums (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    voted_by TEXT NOT NULL REFERENCES users (id),
    voted_ms BIGINT NOT NULL,
    PRIMARY KEY (consortium_id, org_id)
);
