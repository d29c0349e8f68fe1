-- Once no instance of release 1 is left: the old column and its sync go.
DROP TRIGGER users_sync_name ON users;
DROP FUNCTION users_sync_name();
ALTER TABLE users DROP COLUMN name;
