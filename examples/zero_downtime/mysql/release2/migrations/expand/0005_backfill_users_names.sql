-- The rows written before the triggers existed, 10,000 at a time, each
-- batch a short transaction of its own: the application's writes to a row
-- wait for one batch at most.
-- ebbtide: backfill users.id 10000
UPDATE users
SET first_name = SUBSTRING_INDEX(name, ' ', 1),
    last_name = NULLIF(SUBSTRING(name, CHAR_LENGTH(SUBSTRING_INDEX(name, ' ', 1)) + 2), '')
WHERE id > :after AND id <= :upto AND first_name IS NULL;
