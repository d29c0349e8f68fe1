-- Each release inserts its own shape; the other shape follows.
CREATE TRIGGER users_sync_name_on_insert
    BEFORE INSERT ON users
    FOR EACH ROW
BEGIN
    IF NEW.name IS NULL THEN
        -- Written by release 2.
        SET NEW.name = CONCAT_WS(' ', NEW.first_name, NEW.last_name);
    ELSEIF NEW.first_name IS NULL AND NEW.last_name IS NULL THEN
        -- Written by release 1.
        SET NEW.first_name = SUBSTRING_INDEX(NEW.name, ' ', 1);
        SET NEW.last_name = NULLIF(SUBSTRING(NEW.name, CHAR_LENGTH(NEW.first_name) + 2), '');
    END IF;
END;
