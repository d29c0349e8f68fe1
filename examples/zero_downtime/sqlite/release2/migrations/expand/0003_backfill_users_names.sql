-- The rows written before the triggers existed, 10,000 at a time, each
-- batch a short transaction of its own: the application's writers wait for
-- SQLite's write lock one batch at most.
-- ebbtide: backfill users.id 10000
UPDATE users
SET first_name = CASE WHEN instr(name, ' ') > 0 THEN substr(name, 1, instr(name, ' ') - 1) ELSE name END,
    last_name = CASE WHEN instr(name, ' ') > 0 THEN nullif(substr(name, instr(name, ' ') + 1), '') END
WHERE id > :after AND id <= :upto AND first_name IS NULL;
