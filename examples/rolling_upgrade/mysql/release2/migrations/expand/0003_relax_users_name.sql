-- Release 2 inserts no name: the trigger fills it. MySQL relaxes NOT NULL
-- only by restating the column with MODIFY, which the build counts as a
-- type change. It is safe while release 1 runs: the type stays
-- VARCHAR(255) and only NOT NULL goes, which no row and no query of
-- release 1 can trip over.
-- ebbtide: allow destructive
ALTER TABLE users MODIFY name VARCHAR(255) NULL;
