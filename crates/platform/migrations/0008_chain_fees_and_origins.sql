-- What a chain's genesis starts with besides its members: the base fee per gas (wei, constant,
-- burned), the accounts funded at genesis (a JSON array of {address, balance}), and the web
-- origins whose pages may call its nodes (a JSON array of CORS origins).
ALTER TABLE chains ADD COLUMN base_fee_per_gas BIGINT NOT NULL DEFAULT 1;
ALTER TABLE chains ADD COLUMN allocations TEXT NOT NULL DEFAULT '[]';
ALTER TABLE chains ADD COLUMN cors_origins TEXT NOT NULL DEFAULT '["http://localhost:*","http://127.0.0.1:*"]';
