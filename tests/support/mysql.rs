//! MySQL and MariaDB, in the tests' eyes: a database of the test's own on
//! the server, `GET_LOCK` for the run lock, session variables for session
//! state.

use super::{Db, Fixture, SessionProbe};

pub struct Mysql;

impl Fixture for Mysql {
    fn default_server_url(&self) -> &'static str {
        "mysql://root@127.0.0.1:3306/test"
    }

    fn default_schema(&self) -> &'static str {
        // The database, named after the test: the version table's schema
        // is whatever DATABASE() is.
        ""
    }

    fn schema_sql(&self) -> &'static str {
        "SELECT CONCAT(table_name, '.', column_name, ' ', data_type) FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name NOT LIKE 'ebbtide%' \
         UNION ALL SELECT DISTINCT CONCAT('index ', index_name) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name NOT LIKE 'ebbtide%' AND index_name <> 'PRIMARY'"
    }

    fn moment_sql(&self) -> &'static str {
        "SELECT SLEEP(0.05);"
    }

    fn long_sql(&self) -> &'static str {
        "SELECT SLEEP(3);"
    }

    fn endless_sql(&self) -> &'static str {
        "SELECT SLEEP(60);"
    }

    fn sleep_sql(&self, ms: u32) -> Option<String> {
        Some(format!("SELECT SLEEP({});", f64::from(ms) / 1000.0))
    }

    /// None: MySQL commits before a statement that cannot run inside a
    /// transaction, instead of refusing it.
    fn refused_in_transaction_sql(&self) -> Option<&'static str> {
        None
    }

    fn index_without_transaction(&self) -> (&'static str, &'static str) {
        ("CREATE INDEX users_name ON users (name(50));", "DROP INDEX users_name ON users;")
    }

    fn hold_lock_sql(&self, table: &str) -> Option<String> {
        Some(format!("START TRANSACTION; SELECT count(*) FROM {table};"))
    }

    fn session_pid(&self, db: &Db) -> Option<i64> {
        db.rows("SELECT CONNECTION_ID()")[0].parse().ok()
    }

    fn keyword_trigger_sql(&self) -> &'static str {
        "CREATE TRIGGER events_sync BEFORE UPDATE ON events FOR EACH ROW\n\
         SET NEW.`atomic` = NOT (OLD.`begin` <=> NEW.`begin`);\n"
    }

    fn undefined_table_code(&self) -> &'static str {
        "1146"
    }

    fn is_driver_error(&self, error: &(dyn std::error::Error + 'static)) -> bool {
        error.downcast_ref::<ebbtide::mysql_async::Error>().is_some()
    }

    fn client(&self, db: &Db) -> std::process::Command {
        let server = db.server.as_ref().expect("a server database");
        let url = ebbtide::mysql_async::Opts::from_url(&server.url.replacen("mariadb://", "mysql://", 1))
            .expect("a MySQL URL");
        let mut client = std::process::Command::new("mariadb");
        client.arg("--no-defaults").arg("--protocol=TCP");
        client.arg(format!("--host={}", url.ip_or_hostname()));
        client.arg(format!("--port={}", url.tcp_port()));
        if let Some(user) = url.user() {
            client.arg(format!("--user={user}"));
        }
        if let Some(password) = url.pass() {
            client.arg(format!("--password={password}"));
        }
        client.arg(&server.name);
        client
    }

    fn run_lock_held(&self, db: &Db) -> bool {
        self.locks(db) > 0
    }

    fn run_lock_free(&self, db: &Db) -> bool {
        self.locks(db) == 0
    }

    /// The sessions at work on the database, this query's own among them,
    /// plus one for the test's other connection: a pool keeps idle
    /// connections open, which hold nothing and are not counted.
    fn sessions(&self, db: &Db) -> Option<usize> {
        let count = db.rows(
            "SELECT count(*) + 1 FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND COMMAND <> 'Sleep'",
        );
        Some(count[0].parse().expect("a count"))
    }

    fn session(&self) -> &'static dyn SessionProbe {
        &Variables
    }

    fn version_table_in_script(&self, db: &Db) -> String {
        format!("`{}`.`ebbtide_migrations`", db.server.as_ref().expect("a server database").name)
    }

    fn example(&self) -> &'static ebbtide::Migrations {
        &example::migrations::MIGRATIONS
    }
}

mod example {
    ebbtide::embed_migrations!("../tests/fixtures/mysql_example/migrations", engine = "mysql");
}

impl Mysql {
    /// How many run locks of `db`'s database are held (ebbtide names its
    /// lock after the database and the version table).
    fn locks(&self, db: &Db) -> usize {
        if db.target.place == super::Place::Cluster {
            // A row of the lock table, until it expires (a cluster has no
            // server-wide lock: GET_LOCK is each node's own).
            let held = db.try_rows(
                "SELECT count(*) FROM ebbtide_run_locks WHERE name = 'ebbtide_migrations' \
                 AND expires_at > UTC_TIMESTAMP(6)",
            );
            return held.map_or(0, |rows| rows[0].parse().expect("a count"));
        }
        let held = db.rows(
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = \
             IS_USED_LOCK(CONCAT('ebbtide:', LEFT(SHA2(CONCAT(DATABASE(), '.ebbtide_migrations'), 256), 40)))",
        );
        held[0].parse().expect("a count")
    }
}

/// Session variables a migration could change.
struct Variables;

impl SessionProbe for Variables {
    fn observed(&self) -> &'static str {
        "SELECT CONCAT_WS(' | ', @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.foreign_key_checks, \
         @@SESSION.lock_wait_timeout, @@SESSION.group_concat_max_len, @@SESSION.autocommit, DATABASE() IS NOT NULL)"
    }

    fn meddling(&self, _role: Option<&str>) -> String {
        "SET SESSION sql_mode = 'ANSI_QUOTES';\n\
         SET SESSION time_zone = '+05:00';\n\
         SET SESSION foreign_key_checks = 0;\n\
         SET SESSION lock_wait_timeout = 1;\n\
         SET SESSION group_concat_max_len = 7;\n\
         SET SESSION autocommit = 0;\n\
         USE information_schema;\n"
            .into()
    }

    fn baseline(&self, db: &Db) -> String {
        db.rows(self.observed()).remove(0)
    }

    fn failing_meddle(&self) -> (&'static str, &'static str) {
        (
            "SET SESSION group_concat_max_len = 7;\nSET SESSION sql_mode = 'ANSI_QUOTES';\n",
            "SELECT @@SESSION.group_concat_max_len",
        )
    }
}
