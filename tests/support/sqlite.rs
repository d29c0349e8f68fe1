//! SQLite, in the tests' eyes: a file or memory, a lock file beside the
//! database, pragmas for session state.

use std::path::Path;

use super::{Db, Fixture, SessionProbe};

pub struct Sqlite;

/// Counts to `n`, for statements that keep SQLite busy (it cannot sleep).
macro_rules! count_to {
    ($n:literal) => {
        concat!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ",
            $n,
            ") SELECT count(*) FROM n;"
        )
    };
}

impl Fixture for Sqlite {
    fn file_url(&self, path: &Path) -> String {
        format!("sqlite:{}", path.display())
    }

    fn memory_url(&self) -> Option<&'static str> {
        Some("sqlite::memory:")
    }

    fn default_schema(&self) -> &'static str {
        "main"
    }

    fn schema_sql(&self) -> &'static str {
        "SELECT m.name || '.' || p.name || ' ' || p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'ebbtide%' \
         UNION ALL SELECT 'index ' || name FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE 'ebbtide%'"
    }

    fn moment_sql(&self) -> &'static str {
        count_to!("20000")
    }

    fn long_sql(&self) -> &'static str {
        count_to!("10000000")
    }

    fn endless_sql(&self) -> &'static str {
        count_to!("1000000000")
    }

    fn refused_in_transaction_sql(&self) -> Option<&'static str> {
        Some("VACUUM;")
    }

    fn index_without_transaction(&self) -> (&'static str, &'static str) {
        ("CREATE INDEX users_name ON users (name);\nVACUUM;", "DROP INDEX users_name;\nVACUUM;")
    }

    fn keyword_trigger_sql(&self) -> &'static str {
        "CREATE TRIGGER events_sync AFTER UPDATE OF begin ON events FOR EACH ROW\n\
         WHEN OLD.begin IS NOT NEW.begin BEGIN UPDATE events SET atomic = NEW.begin; END;\n"
    }

    fn undefined_table_code(&self) -> &'static str {
        "SQLITE_ERROR"
    }

    fn is_driver_error(&self, error: &(dyn std::error::Error + 'static)) -> bool {
        error.downcast_ref::<rusqlite::Error>().is_some()
    }

    fn client(&self, db: &Db) -> std::process::Command {
        let mut sqlite3 = std::process::Command::new("sqlite3");
        sqlite3.arg("-bail").arg(db.path.as_ref().expect("a database file"));
        sqlite3
    }

    fn run_lock_held(&self, db: &Db) -> bool {
        let Some(path) = &db.path else { return false };
        let Ok(file) = std::fs::File::open(format!("{}-ebbtide.lock", path.display())) else { return false };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// The lock file is free, and so is SQLite's write lock, at once.
    fn run_lock_free(&self, db: &Db) -> bool {
        !self.run_lock_held(db) && db.conn.execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;").is_ok()
    }

    fn session(&self) -> &'static dyn SessionProbe {
        &Pragmas
    }
}

/// A connection's pragmas, and its temporary schema.
struct Pragmas;

impl SessionProbe for Pragmas {
    fn observed(&self) -> &'static str {
        "SELECT (SELECT * FROM pragma_recursive_triggers) || ' | ' || (SELECT * FROM pragma_legacy_alter_table) \
         || ' | ' || (SELECT * FROM pragma_ignore_check_constraints) || ' | ' || (SELECT * FROM pragma_query_only) \
         || ' | ' || (SELECT * FROM pragma_cache_size) || ' | ' || (SELECT count(*) FROM temp.sqlite_master)"
    }

    fn meddling(&self, _role: Option<&str>) -> String {
        "CREATE TEMP TABLE scratch (a int);\n\
         CREATE TEMP TABLE ebbtide_migrations (version int);\n\
         PRAGMA recursive_triggers = ON;\n\
         PRAGMA legacy_alter_table = ON;\n\
         PRAGMA ignore_check_constraints = ON;\n\
         PRAGMA cache_size = 17;\n\
         PRAGMA query_only = ON;\n"
            .into()
    }

    fn baseline(&self, db: &Db) -> String {
        db.conn.execute("PRAGMA cache_size = -3000").unwrap();
        "0 | 0 | 0 | 0 | -3000 | 0".to_string()
    }

    fn failing_meddle(&self) -> (&'static str, &'static str) {
        ("PRAGMA recursive_triggers = ON;\nPRAGMA cache_size = 17;\n", "SELECT * FROM pragma_cache_size")
    }
}
