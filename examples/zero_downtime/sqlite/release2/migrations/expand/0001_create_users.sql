-- Release 1 stores a user's full name in one column. It may be NULL:
-- SQLite cannot drop a NOT NULL constraint without rebuilding the table,
-- which would hold the write lock for a copy of every row, and the next
-- release inserts first and last names without it.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT
);
