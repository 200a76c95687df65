CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    password TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    last_login BIGINT,
    date_joined BIGINT NOT NULL
);

CREATE TABLE outstanding_tokens (
    id SERIAL PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX outstanding_tokens_user_id ON outstanding_tokens (user_id);
CREATE INDEX outstanding_tokens_expires_at ON outstanding_tokens (expires_at);

-- No foreign key on user_id: simplejwt lets anyone blacklist a validly signed
-- refresh token, even one naming a user that does not exist.
CREATE TABLE blacklisted_tokens (
    id SERIAL PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    user_id INTEGER,
    expires_at BIGINT NOT NULL,
    blacklisted_at BIGINT NOT NULL
);
CREATE INDEX blacklisted_tokens_expires_at ON blacklisted_tokens (expires_at);
