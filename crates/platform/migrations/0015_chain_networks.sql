-- How a host's nodes are networked: `host` (the machine's own network, at the host's
-- address, each node on ports of its own: every host so far) or `bridge` (a Docker host
-- gives each chain a network of its own and each node an address there).
ALTER TABLE hosts ADD COLUMN network TEXT NOT NULL DEFAULT 'host';
-- The address a node listens on, once placed: its own on a chain network; NULL on a host's
-- network (the host's address).
ALTER TABLE chain_nodes ADD COLUMN address TEXT;
