-- Contracts the platform deploys from its own standard sources (contracts/standard): the
-- digital assets (`erc20`, `erc721`) and the shared ledger (`shared-ledger`). NULL: uploaded
-- by a user.
ALTER TABLE contracts ADD COLUMN standard TEXT;
