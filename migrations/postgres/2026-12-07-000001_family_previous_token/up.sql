-- The token a family was rotated from last: a replay of exactly that token soon after the
-- rotation is a race or a lost response (REFRESH_REUSE_GRACE_SECONDS), any older one is reuse.
-- Whole-second times cannot tell them apart when rotations follow within one second.
ALTER TABLE token_families ADD COLUMN previous_jti TEXT;
