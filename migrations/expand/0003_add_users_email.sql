-- A nullable column: the old release keeps inserting users without it.
ALTER TABLE users ADD COLUMN email TEXT;
