-- How the platform reaches a host's engine: for a `docker` host, its Engine API endpoint
-- (`unix:///var/run/docker.sock`); NULL for a `local` host (processes of the platform's own
-- machine).
ALTER TABLE hosts ADD COLUMN endpoint TEXT;
