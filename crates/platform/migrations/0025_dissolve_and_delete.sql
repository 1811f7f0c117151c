-- A consortium dissolved by its leader, and an organization deleted by its admins: kept as
-- rows (chains, contracts and the audit log name them) with the time it ended; their names
-- stay taken. NULL: live.
ALTER TABLE consortiums ADD COLUMN dissolved_ms BIGINT;
ALTER TABLE orgs ADD COLUMN deleted_ms BIGINT;
