-- The signing key ring: every instance signs with the same active key and verifies with every
-- key not retired. The private key (a PKCS#8 PEM, or an HMAC secret) is sealed with a key
-- derived from SECRET_KEY, the kid as associated data; the public JWK is published.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    -- The key's first activation, never moved: the ring's first one bounds the tokens without
    -- kid (the configured key's) that are still accepted.
    first_activated_at BIGINT,
    retired_at BIGINT
);
-- Activations are strictly ordered: the latest is one key.
CREATE UNIQUE INDEX signing_keys_activated_at ON signing_keys (activated_at);
