-- Consortiums: a leader organization, a CA, member organizations with identity certificates
-- under it, invitations to users, join requests decided by the approval policy.

CREATE TABLE consortiums (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    leader_org_id TEXT NOT NULL REFERENCES orgs (id),
    -- 'leader': the leader organization decides; 'majority': more than half of the members.
    approval_policy TEXT NOT NULL,
    ca_cert_pem TEXT NOT NULL,
    ca_key_pem TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_ms BIGINT NOT NULL
);

CREATE TABLE consortium_members (
    consortium_id TEXT NOT NULL REFERENCES consortiums (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    -- The organization's CA certificate under the consortium CA, and its key.
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (consortium_id, org_id)
);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    consortium_id TEXT NOT NULL REFERENCES consortiums (id),
    invitee_id TEXT NOT NULL REFERENCES users (id),
    invited_by TEXT NOT NULL REFERENCES users (id),
    -- pending | accepted | declined
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX invitations_invitee ON invitations (invitee_id, status);

CREATE TABLE join_requests (
    id TEXT PRIMARY KEY,
    consortium_id TEXT NOT NULL REFERENCES consortiums (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    invitation_id TEXT NOT NULL REFERENCES invitations (id),
    requested_by TEXT NOT NULL REFERENCES users (id),
    -- pending | approved | rejected
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    decided_ms BIGINT
);

CREATE TABLE join_votes (
    request_id TEXT NOT NULL REFERENCES join_requests (id),
    org_id TEXT NOT NULL REFERENCES orgs (id),
    approve BIGINT NOT NULL,
    voted_by TEXT NOT NULL REFERENCES users (id),
    voted_ms BIGINT NOT NULL,
    PRIMARY KEY (request_id, org_id)
);
