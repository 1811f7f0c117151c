-- What a node may use: memory in MiB (NULL: the default, 1024) and CPU in thousandths of a
-- core (NULL: no limit), which hosts that can enforce them (containers) hold it to.
ALTER TABLE chain_nodes ADD COLUMN memory_mib INTEGER;
ALTER TABLE chain_nodes ADD COLUMN cpu_millis INTEGER;
