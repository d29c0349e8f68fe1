-- statements: 7
ALTER TABLE users ADD CONSTRAINT users_email_nn NOT NULL email;
ALTER TABLE users ALTER CONSTRAINT users_fk DEFERRABLE INITIALLY DEFERRED;
REINDEX INDEX CONCURRENTLY users_email;
DROP INDEX CONCURRENTLY IF EXISTS users_old;
DO $$ BEGIN RAISE NOTICE 'hi; there'; END $$;
COMMENT ON TABLE users IS $$People; and bots$$;
MERGE INTO users u USING staging s ON u.id = s.id WHEN MATCHED THEN UPDATE SET name = s.name;
