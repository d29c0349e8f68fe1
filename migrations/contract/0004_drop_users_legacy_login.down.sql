-- Brings the column back, empty: the dropped values are gone.
ALTER TABLE users ADD COLUMN legacy_login TEXT;
