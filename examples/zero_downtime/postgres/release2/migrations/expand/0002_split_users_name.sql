-- Release 2 stores first and last names apart. While release 1 still runs,
-- both shapes must work: add the new columns and keep old and new in sync
-- in both directions with a trigger. The rows already there are filled by
-- the batched backfill that follows; the trigger covers every write from
-- now on, so none is missed behind the backfill.

ALTER TABLE users
    ADD COLUMN first_name TEXT,
    ADD COLUMN last_name TEXT;

-- Release 2 inserts no name: the trigger fills it.
ALTER TABLE users ALTER COLUMN name DROP NOT NULL;

CREATE FUNCTION users_sync_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.name IS NULL THEN
            -- Written by release 2.
            NEW.name := concat_ws(' ', NEW.first_name, NEW.last_name);
        ELSIF NEW.first_name IS NULL AND NEW.last_name IS NULL THEN
            -- Written by release 1.
            NEW.first_name := split_part(NEW.name, ' ', 1);
            NEW.last_name := nullif(substr(NEW.name, length(NEW.first_name) + 2), '');
        END IF;
    ELSIF NEW.name IS DISTINCT FROM OLD.name
        AND NEW.first_name IS NOT DISTINCT FROM OLD.first_name
        AND NEW.last_name IS NOT DISTINCT FROM OLD.last_name THEN
        -- Release 1 renamed the user.
        NEW.first_name := split_part(NEW.name, ' ', 1);
        NEW.last_name := nullif(substr(NEW.name, length(NEW.first_name) + 2), '');
    ELSIF NEW.name IS NOT DISTINCT FROM OLD.name THEN
        -- Release 2 renamed the user, or the backfill filled the new columns.
        NEW.name := concat_ws(' ', NEW.first_name, NEW.last_name);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER users_sync_name
    BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_sync_name();
