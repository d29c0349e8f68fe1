-- Release 2 stores first and last names apart. While release 1 still runs,
-- both shapes must work. MySQL commits each schema change on its own, so
-- the expand takes one step per migration, each safe for release 1: the
-- new columns, the triggers keeping old and new columns in sync, and last
-- the batched backfill of the rows written before the triggers.
ALTER TABLE users
    ADD COLUMN first_name VARCHAR(255),
    ADD COLUMN last_name VARCHAR(255);
