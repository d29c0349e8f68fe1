-- Once no instance of release 1 is left: the old column and its sync go.
DROP TRIGGER users_split_inserted_name;
DROP TRIGGER users_join_inserted_names;
DROP TRIGGER users_split_updated_name;
DROP TRIGGER users_join_updated_names;
ALTER TABLE users DROP COLUMN name;
