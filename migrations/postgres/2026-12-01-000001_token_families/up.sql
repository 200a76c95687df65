-- The user's token epoch: tokens issued (iat) before it are refused (password change,
-- deactivation, logout everywhere).
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;

-- A refresh family: every obtain starts one, each rotation moves it to its successor token
-- (current_jti). Revoking it ends its refresh and access tokens (TOKEN_FAMILIES).
CREATE TABLE token_families (
    id SERIAL PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_jti TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_refreshed BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    revoked_at BIGINT
);
CREATE INDEX token_families_user_id ON token_families (user_id);
CREATE INDEX token_families_revoked_at ON token_families (revoked_at);
CREATE INDEX token_families_expires_at ON token_families (expires_at);
