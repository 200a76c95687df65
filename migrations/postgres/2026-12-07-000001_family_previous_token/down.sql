ALTER TABLE token_families DROP COLUMN previous_jti;
