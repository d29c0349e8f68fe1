-- Release 2 stores first and last names apart. While release 1 still runs,
-- both shapes must work: add the new columns and keep old and new in sync
-- in both directions with triggers. SQLite's triggers cannot change the row
-- being written, so each one updates it right after. The rows already there
-- are filled by the batched backfill that follows.

ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;

-- Release 1 inserted a user: split the name.
CREATE TRIGGER users_split_inserted_name AFTER INSERT ON users
WHEN NEW.name IS NOT NULL AND NEW.first_name IS NULL AND NEW.last_name IS NULL
BEGIN
    UPDATE users
    SET first_name = CASE WHEN instr(NEW.name, ' ') > 0 THEN substr(NEW.name, 1, instr(NEW.name, ' ') - 1) ELSE NEW.name END,
        last_name = CASE WHEN instr(NEW.name, ' ') > 0 THEN nullif(substr(NEW.name, instr(NEW.name, ' ') + 1), '') END
    WHERE id = NEW.id;
END;

-- Release 2 inserted a user: join the names.
CREATE TRIGGER users_join_inserted_names AFTER INSERT ON users
WHEN NEW.name IS NULL
BEGIN
    UPDATE users SET name = NEW.first_name || coalesce(' ' || NEW.last_name, '') WHERE id = NEW.id;
END;

-- Release 1 renamed a user.
CREATE TRIGGER users_split_updated_name AFTER UPDATE OF name ON users
WHEN OLD.name IS NOT NULL AND NEW.name IS NOT OLD.name
    AND NEW.first_name IS OLD.first_name AND NEW.last_name IS OLD.last_name
BEGIN
    UPDATE users
    SET first_name = CASE WHEN instr(NEW.name, ' ') > 0 THEN substr(NEW.name, 1, instr(NEW.name, ' ') - 1) ELSE NEW.name END,
        last_name = CASE WHEN instr(NEW.name, ' ') > 0 THEN nullif(substr(NEW.name, instr(NEW.name, ' ') + 1), '') END
    WHERE id = NEW.id;
END;

-- Release 2 renamed a user (not the backfill, which finds no first name).
CREATE TRIGGER users_join_updated_names AFTER UPDATE OF first_name, last_name ON users
WHEN OLD.first_name IS NOT NULL AND NEW.name IS OLD.name
    AND (NEW.first_name IS NOT OLD.first_name OR NEW.last_name IS NOT OLD.last_name)
BEGIN
    UPDATE users SET name = NEW.first_name || coalesce(' ' || NEW.last_name, '') WHERE id = NEW.id;
END;
