-- The genesis a chain started with (JSON), so that nodes added to the running chain are
-- provisioned with the same one.
ALTER TABLE chains ADD COLUMN genesis TEXT;
