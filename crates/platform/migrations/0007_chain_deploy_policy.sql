-- Whether deploying a contract on the chain needs its members' approval first (`approved`,
-- the default for platform chains) or not (`open`); the chain's genesis starts with it, and
-- its governance may change it later.
ALTER TABLE chains ADD COLUMN deploy_policy TEXT NOT NULL DEFAULT 'approved';
