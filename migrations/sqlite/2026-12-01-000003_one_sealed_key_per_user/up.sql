-- TOKEN_AUTH_KEYS=single: one key per user, also under parallel obtains (the keys kept
-- sealed are single mode's; multiple mode keeps none sealed).
CREATE UNIQUE INDEX auth_tokens_one_sealed_per_user ON auth_tokens (user_id) WHERE sealed_key IS NOT NULL;
