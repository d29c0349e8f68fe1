-- Once no instance of release 1 is left: the sync goes, then the old column.
DROP TRIGGER users_sync_name_on_insert;
