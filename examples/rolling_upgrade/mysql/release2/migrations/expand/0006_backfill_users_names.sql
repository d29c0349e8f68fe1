-- The rows written before the triggers existed; every write since is
-- synced by them, so none is missed behind the backfill.
UPDATE users
SET first_name = SUBSTRING_INDEX(name, ' ', 1),
    last_name = NULLIF(SUBSTRING(name, CHAR_LENGTH(SUBSTRING_INDEX(name, ' ', 1)) + 2), '')
WHERE first_name IS NULL AND last_name IS NULL;
