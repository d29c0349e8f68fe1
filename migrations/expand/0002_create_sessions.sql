-- Sessions, so that users can stay signed in. Additive: the running
-- release never reads this table, so it is safe to create at any time.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
