-- What the MySQL gateway checks a client's scramble against (credentials::mysql_verifiers):
-- SHA1(SHA1(key)) and SHA256(SHA256(key)), hex. Keys made before have none and do not log in
-- over MySQL (make a new key).
ALTER TABLE api_keys ADD COLUMN mysql_native TEXT;
ALTER TABLE api_keys ADD COLUMN mysql_sha2 TEXT;
