-- The CA a rotation replaced, kept (its key sealed) while a chain of the consortium may still
-- trust only it: the platform issues that chain's certificates and credentials from it until
-- the chain's rotation proposal executed. NULL: no rotation under way.
ALTER TABLE consortium_members ADD COLUMN previous_cert_pem TEXT;
ALTER TABLE consortium_members ADD COLUMN previous_key_pem TEXT;
