DROP TABLE token_families;
ALTER TABLE users DROP COLUMN tokens_valid_after;
