-- What alert evaluation remembers of a chain between two looks (service::alerts::Memory, as
-- JSON: the highest height and when it last rose, each node's counters), so that a platform
-- restart neither resolves an alert whose condition still holds nor starts a stall's clock
-- again.
CREATE TABLE alert_memory (
    chain_id TEXT PRIMARY KEY REFERENCES chains (id),
    memory TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
