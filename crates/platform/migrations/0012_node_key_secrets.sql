-- The random secret a node's key files are encrypted under, sealed by the keystore (NULL for
-- nodes made before keys were encrypted: their files are in clear). The host gets it at
-- start, in the node's environment, never on disk.
ALTER TABLE chain_nodes ADD COLUMN key_secret TEXT;
-- When a node's certificates expire (ms since the epoch; NULL: without an end, as nodes made
-- before certificates expired): the platform renews them at two thirds of their lifetime.
ALTER TABLE chain_nodes ADD COLUMN cert_expires_ms BIGINT;
