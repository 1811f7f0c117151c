-- A contract's business views for the console's app browser (a JSON DisplaySpec, checked
-- against the contract's ABI when set), kept with its ABI. NULL: none.
ALTER TABLE contracts ADD COLUMN display_spec TEXT;
