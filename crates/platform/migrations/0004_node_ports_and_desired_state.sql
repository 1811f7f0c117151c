-- What the platform keeps each node doing: `running` until someone stops it on purpose.
-- When the platform starts, nodes of running chains that should run but do not (the machine
-- rebooted, `consortia down` stopped them) are started again.
ALTER TABLE chain_nodes ADD COLUMN desired TEXT NOT NULL DEFAULT 'running';
