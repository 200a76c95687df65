-- DRF's authtoken keys. Only a digest of each key is stored for the lookup; with
-- TOKEN_AUTH_KEYS=single the key itself is also kept, sealed with a key derived from
-- SECRET_KEY, because obtain must hand the same key out again.
CREATE TABLE auth_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    sealed_key TEXT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX auth_tokens_user_id ON auth_tokens (user_id);
