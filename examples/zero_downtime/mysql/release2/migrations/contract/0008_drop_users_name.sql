-- Release 2 never reads name: with the triggers gone, nothing writes it.
ALTER TABLE users DROP COLUMN name;
