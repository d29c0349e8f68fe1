//! PostgreSQL, in the tests' eyes: a database of the test's own on the
//! server, advisory locks, settings and roles for session state.

use super::{Db, Fixture, SessionProbe};

pub struct Postgres;

impl Fixture for Postgres {
    fn default_server_url(&self) -> &'static str {
        "postgres://postgres@127.0.0.1:5432/postgres"
    }

    fn drop_database_sql(&self, name: &str) -> String {
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    }

    fn default_schema(&self) -> &'static str {
        "public"
    }

    fn schema_sql(&self) -> &'static str {
        "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE 'ebbtide%' \
         UNION ALL SELECT 'index ' || indexname FROM pg_indexes \
         WHERE schemaname = 'public' AND tablename NOT LIKE 'ebbtide%'"
    }

    fn moment_sql(&self) -> &'static str {
        "SELECT pg_sleep(0.05);"
    }

    fn long_sql(&self) -> &'static str {
        "SELECT pg_sleep(3);"
    }

    fn endless_sql(&self) -> &'static str {
        "SELECT pg_sleep(60);"
    }

    fn sleep_sql(&self, ms: u32) -> Option<String> {
        Some(format!("SELECT pg_sleep({});", f64::from(ms) / 1000.0))
    }

    fn refused_in_transaction_sql(&self) -> Option<&'static str> {
        Some("CREATE INDEX CONCURRENTLY users_name ON users (name);")
    }

    fn index_without_transaction(&self) -> (&'static str, &'static str) {
        ("CREATE INDEX CONCURRENTLY users_name ON users (name);", "DROP INDEX CONCURRENTLY users_name;")
    }

    fn hold_lock_sql(&self, table: &str) -> Option<String> {
        Some(format!("BEGIN; LOCK TABLE {table} IN ACCESS SHARE MODE;"))
    }

    fn hold_snapshot_sql(&self, table: &str) -> Option<String> {
        Some(format!("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM {table};"))
    }

    fn session_pid(&self, db: &Db) -> Option<i64> {
        db.rows("SELECT pg_backend_pid()")[0].parse().ok()
    }

    fn invalid_indexes(&self, db: &Db) -> Vec<String> {
        db.rows("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
    }

    fn keyword_trigger_sql(&self) -> &'static str {
        "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
         CREATE TRIGGER events_sync BEFORE UPDATE ON events FOR EACH ROW\n\
         WHEN (OLD.begin IS DISTINCT FROM NEW.begin) EXECUTE FUNCTION keep();\n"
    }

    fn undefined_table_code(&self) -> &'static str {
        "42P01"
    }

    fn is_driver_error(&self, error: &(dyn std::error::Error + 'static)) -> bool {
        error.downcast_ref::<tokio_postgres::Error>().is_some()
    }

    fn client(&self, db: &Db) -> std::process::Command {
        let mut psql = std::process::Command::new("psql");
        psql.args(["-v", "ON_ERROR_STOP=1", "-q", "-X", &db.url]);
        psql
    }

    fn run_lock_held(&self, db: &Db) -> bool {
        db.rows("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()") != ["0"]
    }

    /// Advisory locks of this database only: other tests and tools may
    /// hold theirs on the same server.
    fn run_lock_free(&self, db: &Db) -> bool {
        db.rows(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ) == ["0"]
    }

    fn sessions(&self, db: &Db) -> Option<usize> {
        let count = db.rows("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()");
        Some(count[0].parse().expect("a count"))
    }

    fn session(&self) -> &'static dyn SessionProbe {
        &Settings
    }
}

/// A session's settings, its role and its temporary objects.
struct Settings;

impl SessionProbe for Settings {
    fn observed(&self) -> &'static str {
        "SELECT current_setting('search_path') || ' | ' || current_setting('statement_timeout') || ' | ' \
         || current_setting('lock_timeout') || ' | ' || current_setting('session_replication_role') || ' | ' \
         || current_setting('work_mem') || ' | ' || current_user || ' | ' \
         || (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())"
    }

    fn meddling(&self, role: Option<&str>) -> String {
        let role = role.map(|r| format!("SET ROLE {r};\n")).unwrap_or_default();
        format!(
            "CREATE TEMP TABLE scratch (a int);\n\
             CREATE TEMP TABLE ebbtide_migrations (version bigint);\n\
             SET statement_timeout = '20ms';\n\
             SET lock_timeout = '1ms';\n\
             SET work_mem = '1MB';\n\
             SET session_replication_role = replica;\n\
             SELECT pg_catalog.set_config('search_path', '', false);\n\
             {role}"
        )
    }

    fn baseline(&self, db: &Db) -> String {
        db.conn.execute("SET work_mem = '7MB'").unwrap();
        let user = db.rows("SELECT current_user").remove(0);
        format!("\"$user\", public | 0 | 0 | origin | 7MB | {user} | 0")
    }

    /// PostgreSQL roles belong to the server: the name is the test
    /// database's, so that tests running at once never share one.
    fn role(&self, db: &Db) -> Option<String> {
        let name = format!("ebbtide_probe_{}", db.server.as_ref()?.name);
        db.conn.execute(&format!("CREATE ROLE {name}")).unwrap();
        Some(name)
    }

    fn failing_meddle(&self) -> (&'static str, &'static str) {
        ("SET search_path = '';\nSET work_mem = '1MB';\n", "SELECT current_setting('work_mem')")
    }
}
