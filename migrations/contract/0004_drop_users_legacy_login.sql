-- Logins moved to email in the previous release; once no instance of the
-- release before it is left, the old column goes.
ALTER TABLE users DROP COLUMN legacy_login;
