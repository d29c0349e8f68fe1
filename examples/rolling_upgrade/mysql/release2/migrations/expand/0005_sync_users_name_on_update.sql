-- A rename through either release shows in the other's columns.
CREATE TRIGGER users_sync_name_on_update
    BEFORE UPDATE ON users
    FOR EACH ROW
BEGIN
    IF NOT (NEW.name <=> OLD.name)
        AND NEW.first_name <=> OLD.first_name
        AND NEW.last_name <=> OLD.last_name THEN
        -- Release 1 renamed the user.
        SET NEW.first_name = SUBSTRING_INDEX(NEW.name, ' ', 1);
        SET NEW.last_name = NULLIF(SUBSTRING(NEW.name, CHAR_LENGTH(NEW.first_name) + 2), '');
    ELSEIF NEW.name <=> OLD.name THEN
        -- Release 2 renamed the user, or the backfill filled the new columns.
        SET NEW.name = CONCAT_WS(' ', NEW.first_name, NEW.last_name);
    END IF;
END;
