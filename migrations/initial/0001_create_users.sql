-- The schema as it stood before the project adopted expand/contract.
-- Anything goes in initial/: it is history, run once on a new database.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    legacy_login TEXT
);

CREATE INDEX users_name ON users (name);
