-- Credentials that can be withdrawn. A session is one login: the family of refresh tokens it
-- hands out (each single-use) and the access tokens that name it; revoking it (logout, a
-- reused refresh token, a password change, a disabled user) ends them all at once.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_ms BIGINT NOT NULL,
    refreshed_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
-- Refresh tokens from before sessions have none, and are refused (log in again).
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT REFERENCES sessions (id);
-- API keys may expire (NULL: never), and say when they were revoked.
ALTER TABLE api_keys ADD COLUMN expires_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_ms BIGINT;
-- A disabled user can neither log in nor use a token or key; a deleted one is disabled for
-- good (the row stays: the audit log and what they created still name it).
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_ms BIGINT;
