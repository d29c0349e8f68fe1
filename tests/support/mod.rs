//! What the test suites share: a database of each engine, created fresh
//! for one test and dropped afterwards, and migrations directories written
//! on the fly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ebbtide::registry::{self, Access, Capabilities, Database};
use ebbtide::{Error, Migrations, Migrator, Record, Report, Request, Verdict, VersionInfo};
use tempfile::TempDir;

/// The engines every scenario runs against.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

/// The PostgreSQL server tests use.
pub fn admin_url() -> String {
    std::env::var("EBBTIDE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub use ebbtide::postgres::with_database;

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Whether tests must fail rather than skip when PostgreSQL is missing.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A PostgreSQL database of one test's own; dropped when this is dropped.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// Creates a database, or returns `None` (after saying so) when the
    /// server is unreachable outside CI.
    pub async fn create() -> Option<PgDatabase> {
        let admin = admin_url();
        let client = match ebbtide::postgres::connect(&admin).await {
            Ok(client) => client,
            Err(e) if !in_ci() => {
                eprintln!(
                    "skipped: PostgreSQL is not reachable at {} ({e}); set EBBTIDE_TEST_POSTGRES_URL",
                    ebbtide::postgres::redact(&admin)
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL is required under CI=true: {e}"),
        };
        let name = unique_name("ebbtide_test");
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        Some(PgDatabase { url: with_database(&admin, &name), name })
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        ebbtide::postgres::connect(&self.url).await.expect("connect to the test database")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime: use a thread with one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(client) = ebbtide::postgres::connect(&admin_url()).await {
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// One fresh database of one engine, opened through ebbtide's registry.
pub struct Db {
    pub engine: Engine,
    conn: Box<dyn Database>,
    url: String,
    /// For SQLite files: the file.
    pub path: Option<PathBuf>,
    /// For PostgreSQL: the database (dropped last).
    pub pg: Option<PgDatabase>,
    _dir: Option<TempDir>,
}

/// Opens `url` as the library does by default: the run lock on the one
/// connection of a server engine; a file engine's file created.
fn connect(url: &str) -> Box<dyn Database> {
    let engine = registry::engine(url).unwrap_or_else(|e| panic!("{e}"));
    let access = if engine.capabilities.server { Access::Read } else { Access::Write };
    (engine.open)(url, access).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

impl Db {
    /// A fresh database, or `None` when the engine is unavailable here.
    pub async fn open(engine: Engine) -> Option<Db> {
        let (url, path, pg, dir) = match engine {
            Engine::SqliteMemory => ("sqlite::memory:".to_string(), None, None, None),
            Engine::SqliteFile => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("app.db");
                (format!("sqlite:{}", path.display()), Some(path), None, Some(dir))
            }
            Engine::Postgres => {
                let pg = PgDatabase::create().await?;
                (pg.url.clone(), None, Some(pg), None)
            }
        };
        Some(Db { engine, conn: connect(&url), url, path, pg, _dir: dir })
    }

    /// A second connection to the same database (not for in-memory SQLite).
    pub async fn reconnect(&self) -> Db {
        assert!(self.engine != Engine::SqliteMemory, "an in-memory database has one connection");
        Db {
            engine: self.engine,
            conn: connect(&self.url),
            url: self.url.clone(),
            path: self.path.clone(),
            pg: None,
            _dir: None,
        }
    }

    /// The URL the command line takes for this database.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// What the database's engine can do.
    pub fn capabilities(&self) -> Capabilities {
        registry::engine(&self.url).expect("a registered engine").capabilities
    }

    pub async fn run(&self, m: &Migrator<'_>, request: Request) -> Result<Report, Error> {
        self.conn.run(m, request)
    }

    pub async fn script(&self, m: &Migrator<'_>, request: Request) -> Result<String, Error> {
        self.conn.script(m, request)
    }

    pub async fn check(&self, m: &Migrator<'_>) -> Result<Verdict, Error> {
        self.conn.check(m)
    }

    pub async fn version(&self, m: &Migrator<'_>) -> Result<VersionInfo, Error> {
        self.conn.version(m)
    }

    pub async fn records(&self, m: &Migrator<'_>) -> Option<Vec<Record>> {
        self.conn.records(m).expect("read the version table")
    }

    /// The recorded versions, in order (empty without a version table).
    pub async fn versions(&self, m: &Migrator<'_>) -> Vec<u32> {
        self.records(m).await.unwrap_or_default().iter().map(|r| r.version.get()).collect()
    }

    /// Runs SQL directly.
    pub async fn exec(&self, sql: &str) -> Result<(), String> {
        self.conn.execute(sql).map_err(|e| e.to_string())
    }

    /// The first column of every row of a query, as text (`NULL` as `NULL`).
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let rows = self.conn.strings(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().map(|v| v.unwrap_or_else(|| "NULL".into())).collect()
    }

    /// Another fresh database of the same engine.
    pub async fn sibling(&self) -> Db {
        Db::open(self.engine).await.expect("the engine is there")
    }

    /// The engine's own command-line client, reading SQL from its stdin
    /// into this database and stopping at the first error.
    pub fn client(&self) -> std::process::Command {
        let mut command = match self.engine_name() {
            "postgres" => {
                let mut psql = std::process::Command::new("psql");
                psql.args(["-v", "ON_ERROR_STOP=1", "-q", "-X", &self.url]);
                psql
            }
            _ => {
                let mut sqlite3 = std::process::Command::new("sqlite3");
                sqlite3.arg("-bail").arg(self.path.as_ref().expect("a database file"));
                sqlite3
            }
        };
        command.stdin(std::process::Stdio::piped());
        command
    }

    /// Whether a run's lock is still held: by this connection's session
    /// where the server holds it, on the lock file beside the database
    /// otherwise (an in-memory database has none).
    pub async fn run_lock_held(&self) -> bool {
        match self.engine_name() {
            "postgres" => {
                self.strings("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
                    .await
                    != ["0"]
            }
            _ => {
                let Some(path) = &self.path else { return false };
                let Ok(file) = std::fs::File::open(format!("{}-ebbtide.lock", path.display())) else { return false };
                matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
            }
        }
    }

    /// The registry's name of the database's engine: what the fixtures
    /// below choose by, so that the scenarios themselves name no engine.
    fn engine_name(&self) -> &'static str {
        registry::engine(&self.url).expect("a registered engine").name
    }

    /// The schema an unqualified table lands in (`public`, SQLite's `main`).
    pub fn default_schema(&self) -> &'static str {
        match self.engine_name() {
            "postgres" => "public",
            _ => "main",
        }
    }

    /// A statement that keeps the database busy for a moment (tens of
    /// milliseconds), so that racing runs overlap.
    pub fn moment_sql(&self) -> &'static str {
        match self.engine_name() {
            "postgres" => "SELECT pg_sleep(0.05);",
            _ => {
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT count(*) FROM n;"
            }
        }
    }

    /// A statement that runs for longer than any test waits.
    pub fn endless_sql(&self) -> &'static str {
        match self.engine_name() {
            "postgres" => "SELECT pg_sleep(60);",
            _ => {
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n;"
            }
        }
    }

    /// A statement the engine refuses inside a transaction.
    pub fn refused_in_transaction_sql(&self) -> &'static str {
        match self.engine_name() {
            "postgres" => "CREATE INDEX CONCURRENTLY users_name ON users (name);",
            _ => "VACUUM;",
        }
    }

    /// Index `users_name` on users (name) created and dropped as
    /// no-transaction migrations: each fails inside a transaction, so a
    /// run proves it honoured `no-transaction` (concurrently where the
    /// engine can; SQLite, which cannot, vacuums beside it).
    pub fn index_without_transaction(&self) -> (&'static str, &'static str) {
        match self.engine_name() {
            "postgres" => {
                ("CREATE INDEX CONCURRENTLY users_name ON users (name);", "DROP INDEX CONCURRENTLY users_name;")
            }
            _ => ("CREATE INDEX users_name ON users (name);\nVACUUM;", "DROP INDEX users_name;\nVACUUM;"),
        }
    }

    /// How a run waiting for the lock names the one that holds it: the
    /// server's session where the lock lives in the server, the process
    /// otherwise.
    pub fn lock_holder_prefix(&self, holder_pid: u32) -> String {
        match self.capabilities().server_lock {
            true => "server process ".into(),
            false => format!("process {holder_pid}, for "),
        }
    }

    /// Every `table.column` and index of the application's schema, sorted
    /// (the version table excluded), to compare two databases.
    pub async fn schema(&self) -> Vec<String> {
        let mut items = match self.engine {
            Engine::Postgres => {
                let mut items = self
                    .strings(
                        "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns \
                         WHERE table_schema = 'public' AND table_name NOT LIKE 'ebbtide%'",
                    )
                    .await;
                items.extend(
                    self.strings("SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'ebbtide%'")
                        .await,
                );
                items
            }
            _ => {
                self.strings(
                    "SELECT m.name || '.' || p.name || ' ' || p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'ebbtide%' \
                     UNION ALL SELECT 'index ' || name FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE 'ebbtide%'",
                )
                .await
            }
        };
        items.sort();
        items
    }

    /// The application's tables (version table excluded), sorted.
    pub async fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self
            .schema()
            .await
            .iter()
            .filter(|s| !s.starts_with("index "))
            .map(|s| s.split('.').next().unwrap().to_string())
            .collect();
        tables.dedup();
        tables
    }

    /// The columns of one table, sorted.
    pub async fn columns(&self, table: &str) -> Vec<String> {
        self.schema()
            .await
            .iter()
            .filter_map(|s| s.strip_prefix(&format!("{table}.")).map(|c| c.split(' ').next().unwrap().to_string()))
            .collect()
    }
}

/// A migrations directory written from (relative path, SQL) pairs.
pub struct Dir {
    pub dir: TempDir,
}

impl Dir {
    pub fn new(files: &[(&str, &str)]) -> Dir {
        let dir = tempfile::tempdir().unwrap();
        for branch in ["expand", "contract"] {
            std::fs::create_dir_all(dir.path().join(branch)).unwrap();
        }
        let d = Dir { dir };
        for (path, sql) in files {
            d.write(path, sql);
        }
        d
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, path: &str, sql: &str) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, sql).unwrap();
    }

    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.dir.path().join(path)).unwrap();
    }

    /// The migrations, read with the build-time rules.
    pub fn migrations(&self) -> Migrations {
        match Migrations::from_dir(self.dir.path(), "migrations") {
            Ok((m, _)) => m,
            Err(d) => panic!("invalid test migrations:\n{d}"),
        }
    }
}

/// Declares one `#[tokio::test]` per engine for an `async fn(Db)` scenario.
#[macro_export]
macro_rules! on_every_engine {
    ($($scenario:ident),* $(,)?) => {
        $crate::engine_tests!(sqlite_file, SqliteFile, $($scenario),*);
        $crate::engine_tests!(sqlite_memory, SqliteMemory, $($scenario),*);
        $crate::engine_tests!(postgres, Postgres, $($scenario),*);
    };
}

/// The same, for engines whose database outlives a connection (a SQLite
/// file, PostgreSQL): what several processes share.
#[macro_export]
macro_rules! on_persistent_engines {
    ($($scenario:ident),* $(,)?) => {
        $crate::engine_tests!(sqlite_file, SqliteFile, $($scenario),*);
        $crate::engine_tests!(postgres, Postgres, $($scenario),*);
    };
}

/// A module of tests running each scenario on one engine.
#[macro_export]
macro_rules! engine_tests {
    ($module:ident, $engine:ident, $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(db) = $crate::support::Db::open($crate::support::Engine::$engine).await {
                        super::$scenario(db).await;
                    }
                }
            )*
        }
    };
}
