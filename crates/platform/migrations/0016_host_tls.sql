-- Mutual TLS to a Docker Engine reached over TCP: the CA that issued the engine's
-- certificate and the client certificate the platform presents (both public), and the
-- client's key, sealed by the keystore (`Secret::HostKey`). NULL for hosts without TLS.
ALTER TABLE hosts ADD COLUMN tls_ca_pem TEXT;
ALTER TABLE hosts ADD COLUMN tls_cert_pem TEXT;
ALTER TABLE hosts ADD COLUMN tls_key TEXT;
