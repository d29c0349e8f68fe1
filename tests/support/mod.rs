//! What the test suites share: a fresh database of every engine in
//! ebbtide's registry, created for one test and dropped afterwards, and
//! migrations directories written on the fly.
//!
//! Scenarios name no engine: they take a [`Db`], ask it for capabilities,
//! and get what differs between engines (a statement that sleeps, a probe
//! of the run lock) from its [`Fixture`], one module per engine beside
//! this one. Adding an engine to the tests is one such module and one line
//! in [`fixture`].

#![allow(dead_code)]

mod mysql;
pub mod peers;
mod postgres;
mod sqlite;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ebbtide::registry::{self, Access, Capabilities, Database, Engine};
use ebbtide::{Error, Migrations, Migrator, Record, Report, Request, Verdict, VersionInfo};
use tempfile::TempDir;

/// What differs between engines in the tests' eyes: how a fresh database
/// is made, and the engine-specific SQL and probes the scenarios use.
pub trait Fixture: Sync {
    /// A database in the file `path` (engines without a server).
    fn file_url(&self, _path: &Path) -> String {
        unimplemented!("an engine with a server has no file")
    }
    /// A database in this process's memory, if the engine has one.
    fn memory_url(&self) -> Option<&'static str> {
        None
    }
    /// The server tests use when `EBBTIDE_TEST_<NAME>_URL` is unset.
    fn default_server_url(&self) -> &'static str {
        unimplemented!("an engine without a server has no server URL")
    }
    /// Drops a test's database, whoever is still connected to it.
    fn drop_database_sql(&self, name: &str) -> String {
        format!("DROP DATABASE IF EXISTS {name}")
    }
    /// The schema an unqualified table lands in.
    fn default_schema(&self) -> &'static str;
    /// Every `table.column type` and `index name` of the application's
    /// schema (the version table excluded), one per row.
    fn schema_sql(&self) -> &'static str;
    /// A statement that keeps the database busy for a moment (tens of
    /// milliseconds), so that racing runs overlap.
    fn moment_sql(&self) -> &'static str;
    /// A statement that keeps the database busy for about three seconds.
    fn long_sql(&self) -> &'static str;
    /// A statement that runs for longer than any test waits.
    fn endless_sql(&self) -> &'static str;
    /// A statement that sleeps in the server for `ms` milliseconds, where
    /// the engine can.
    fn sleep_sql(&self, _ms: u32) -> Option<String> {
        None
    }
    /// A statement the engine refuses inside a transaction, if it has one.
    fn refused_in_transaction_sql(&self) -> Option<&'static str>;
    /// Index `users_name` on users (name) created and dropped, each failing
    /// inside a transaction.
    fn index_without_transaction(&self) -> (&'static str, &'static str);
    /// Statements that open a transaction holding a lock on `table` which
    /// any schema change of it waits for (engines with `lock_timeout`).
    fn hold_lock_sql(&self, _table: &str) -> Option<String> {
        None
    }
    /// The server's id of `db`'s session (PostgreSQL's pid), where the
    /// engine has sessions.
    fn session_pid(&self, _db: &Db) -> Option<i64> {
        None
    }
    /// The invalid indexes of `db` (left by a failed concurrent build).
    fn invalid_indexes(&self, _db: &Db) -> Vec<String> {
        Vec::new()
    }
    /// Statements that open a transaction holding a snapshot, reading
    /// `table` (engines whose concurrent index builds wait for them).
    fn hold_snapshot_sql(&self, _table: &str) -> Option<String> {
        None
    }
    /// A trigger on `events (id, begin, atomic)` whose condition names
    /// `begin` and whose body writes `atomic`: columns named like the
    /// keywords that open and close a trigger's body.
    fn keyword_trigger_sql(&self) -> &'static str;
    /// The engine's code for a statement naming a table that does not exist.
    fn undefined_table_code(&self) -> &'static str;
    /// Whether `error` is the engine driver's own error type.
    fn is_driver_error(&self, error: &(dyn std::error::Error + 'static)) -> bool;
    /// The engine's own command-line client, reading SQL from its stdin into
    /// `db` and stopping at the first error.
    fn client(&self, db: &Db) -> std::process::Command;
    /// Whether `db`'s own session (or this process) holds a run lock.
    fn run_lock_held(&self, db: &Db) -> bool;
    /// Whether no session or process holds a run lock on `db`'s database.
    fn run_lock_free(&self, db: &Db) -> bool;
    /// How many sessions the server has open on `db`'s database.
    fn sessions(&self, _db: &Db) -> Option<usize> {
        None
    }
    /// The session state the tests of session hygiene change and observe.
    fn session(&self) -> &'static dyn SessionProbe;
    /// The version table as ebbtide's scripts name it.
    fn version_table_in_script(&self, _db: &Db) -> String {
        format!("\"{}\".\"ebbtide_migrations\"", self.default_schema())
    }
    /// The example application's migrations (`../migrations`), or the
    /// engine's own copy of them where their SQL is not the engine's.
    fn example(&self) -> &'static Migrations {
        &example::migrations::MIGRATIONS
    }
}

mod example {
    ebbtide::embed_migrations!("../migrations");
}

/// Session state, as a migration could change it: what the tests of
/// session hygiene set, observe and expect.
pub trait SessionProbe: Sync {
    /// One row, one text: each observed setting, ` | ` between them.
    fn observed(&self) -> &'static str;
    /// Statements changing every observed setting (and `role`, if any),
    /// each of which would break ebbtide's own statements if it outlived
    /// its migration.
    fn meddling(&self, role: Option<&str>) -> String;
    /// Sets what an application sets on its connection, and returns what
    /// [`SessionProbe::observed`] reads then.
    fn baseline(&self, db: &Db) -> String;
    /// A role of the test's own with no privilege on the version table,
    /// where the engine has roles (dropped by the caller).
    fn role(&self, _db: &Db) -> Option<String> {
        None
    }
    /// Two settings changed, and a query reading one of them.
    fn failing_meddle(&self) -> (&'static str, &'static str);
}

/// The fixture of a registry engine.
pub fn fixture(engine: &Engine) -> &'static dyn Fixture {
    match engine.name {
        "sqlite" => &sqlite::Sqlite,
        "postgres" => &postgres::Postgres,
        "mysql" => &mysql::Mysql,
        other => panic!("engine {other} has no test fixture: add a module to tests/support"),
    }
}

/// Where a test database lives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A database of the test's own on the engine's server.
    Server,
    /// A file in a temporary directory.
    File,
    /// This process's memory.
    Memory,
    /// A database of the test's own on a MariaDB Galera cluster
    /// (`EBBTIDE_TEST_GALERA_URLS`: one URL per node), reached through
    /// its first node.
    Cluster,
}

/// The nodes of the test Galera cluster (`EBBTIDE_TEST_GALERA_URLS`,
/// comma-separated), or `None` (after saying so) when none is given
/// outside CI.
pub fn galera_urls() -> Option<Vec<String>> {
    match std::env::var("EBBTIDE_TEST_GALERA_URLS") {
        Ok(urls) if !urls.trim().is_empty() => Some(urls.split(',').map(|u| u.trim().to_string()).collect()),
        _ if in_ci() => panic!(
            "a Galera cluster is required under CI=true: start one with `bash tests/galera/cluster.sh start` \
             and set EBBTIDE_TEST_GALERA_URLS to the URLs it prints"
        ),
        _ => {
            eprintln!(
                "skipped on a Galera cluster: EBBTIDE_TEST_GALERA_URLS is not set (bash tests/galera/cluster.sh start)"
            );
            None
        }
    }
}

/// One way to open a fresh test database.
#[derive(Copy, Clone, Debug)]
pub struct Target {
    pub engine: &'static Engine,
    pub place: Place,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.place {
            Place::Server => write!(f, "{}", self.engine.name),
            Place::File => write!(f, "{} (file)", self.engine.name),
            Place::Memory => write!(f, "{} (memory)", self.engine.name),
            Place::Cluster => write!(f, "{} (Galera cluster)", self.engine.name),
        }
    }
}

/// Every way to open a test database of every registered engine: a server
/// engine's database, a file engine's file and memory.
pub fn targets() -> Vec<Target> {
    let mut targets = Vec::new();
    for engine in registry::ENGINES {
        if engine.capabilities.server {
            targets.push(Target { engine, place: Place::Server });
            if engine.name == "mysql" {
                targets.push(Target { engine, place: Place::Cluster });
            }
            continue;
        }
        if fixture(engine).memory_url().is_some() {
            targets.push(Target { engine, place: Place::Memory });
        }
        targets.push(Target { engine, place: Place::File });
    }
    targets
}

/// The targets of the engine the registry names `name`.
pub fn targets_of(name: &str) -> Vec<Target> {
    let targets: Vec<Target> = targets().into_iter().filter(|t| t.engine.name == name).collect();
    assert!(!targets.is_empty(), "this build has no engine named {name}");
    targets
}

/// Runs `scenario` on a fresh database of each target `wanted` keeps, one
/// after the other; a panic names the target it happened on.
pub async fn each_target<F, Fut>(wanted: impl Fn(&Target) -> bool, scenario: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    /// Says, while a panic unwinds, which target the scenario failed on.
    struct On(Target);
    impl Drop for On {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("the scenario failed on {}", self.0);
            }
        }
    }
    for target in targets().into_iter().filter(|t| wanted(t)) {
        let Some(db) = Db::open(target).await else { continue };
        let on = On(target);
        scenario(db).await;
        drop(on);
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Whether a server takes connections on loopback `port`. A connection
/// to a port nobody listens on can connect to itself (the kernel may pick
/// that very port as its source), which is not a server.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// Whether tests must fail rather than skip when a server is missing.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server of engine `name` that tests use: `EBBTIDE_TEST_<NAME>_URL`,
/// or the engine fixture's default.
pub fn admin_url(name: &str) -> String {
    let variable = format!("EBBTIDE_TEST_{}_URL", name.to_uppercase());
    let engine = registry::ENGINES.iter().find(|e| e.name == name).expect("a registered engine");
    std::env::var(variable).unwrap_or_else(|_| fixture(engine).default_server_url().into())
}

/// `url` naming the database `name` on the same server.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a server URL");
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

/// A database of one test's own on an engine's server; dropped when this
/// is dropped.
pub struct ServerDatabase {
    pub engine: &'static Engine,
    pub name: String,
    pub url: String,
    /// The server's URL it was created through.
    pub admin: String,
}

impl ServerDatabase {
    /// Creates a database on the server of the engine the registry names
    /// `name`, or returns `None` (after saying so) when the server is
    /// unreachable outside CI.
    pub async fn create(name: &str) -> Option<ServerDatabase> {
        ServerDatabase::create_on(name, &admin_url(name)).await
    }

    /// Creates a database on the server `admin` names, of the engine the
    /// registry names `name`.
    pub async fn create_on(name: &str, admin: &str) -> Option<ServerDatabase> {
        let engine = registry::ENGINES.iter().find(|e| e.name == name)?;
        let admin = admin.to_string();
        let server = match (engine.open)(&admin, Access::Read) {
            Ok(server) => server,
            Err(e) if !in_ci() => {
                let variable = format!("EBBTIDE_TEST_{}_URL", name.to_uppercase());
                eprintln!("skipped: {name} is not reachable at {} ({e}); set {variable}", registry::redact(&admin));
                return None;
            }
            Err(e) => panic!("{name} is required under CI=true: {e}"),
        };
        let database = unique_name("ebbtide_test");
        server.execute(&format!("CREATE DATABASE {database}")).expect("create the test database");
        Some(ServerDatabase { engine, url: with_database(&admin, &database), name: database, admin })
    }
}

impl Drop for ServerDatabase {
    fn drop(&mut self) {
        if let Ok(server) = (self.engine.open)(&self.admin, Access::Read) {
            let _ = server.execute(&fixture(self.engine).drop_database_sql(&self.name));
        }
    }
}

/// One fresh database of one target, opened through ebbtide's registry.
pub struct Db {
    pub target: Target,
    conn: Box<dyn Database>,
    url: String,
    /// For a file: the file.
    pub path: Option<PathBuf>,
    /// For a server: the test's database (dropped last).
    pub server: Option<ServerDatabase>,
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
    /// A fresh database, or `None` when its server is unreachable here.
    pub async fn open(target: Target) -> Option<Db> {
        let fixture = fixture(target.engine);
        let (url, path, server, dir) = match target.place {
            Place::Memory => (fixture.memory_url().expect("an engine with memory").to_string(), None, None, None),
            Place::File => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("app.db");
                (fixture.file_url(&path), Some(path), None, Some(dir))
            }
            Place::Server => {
                let server = ServerDatabase::create(target.engine.name).await?;
                (server.url.clone(), None, Some(server), None)
            }
            Place::Cluster => {
                let nodes = galera_urls()?;
                let server = ServerDatabase::create_on(target.engine.name, &nodes[0]).await?;
                (server.url.clone(), None, Some(server), None)
            }
        };
        Some(Db { target, conn: connect(&url), url, path, server, _dir: dir })
    }

    /// A fresh database, one that outlives a connection, of the engine
    /// the registry names `name`: for tests of one engine's own features.
    pub async fn of(name: &str) -> Option<Db> {
        let target = targets_of(name).into_iter().find(|t| t.place != Place::Memory).expect("a persistent target");
        Db::open(target).await
    }

    /// A second connection to the same database (not for memory).
    pub async fn reconnect(&self) -> Db {
        assert!(self.target.place != Place::Memory, "an in-memory database has one connection");
        Db {
            target: self.target,
            conn: connect(&self.url),
            url: self.url.clone(),
            path: self.path.clone(),
            server: None,
            _dir: None,
        }
    }

    /// A connection to the same database through node `i` of its Galera
    /// cluster (counted from 0).
    pub async fn on_node(&self, i: usize) -> Db {
        let url = self.node_urls()[i].clone();
        Db { target: self.target, conn: connect(&url), url, path: None, server: None, _dir: None }
    }

    /// Another fresh database of the same target.
    pub async fn sibling(&self) -> Db {
        Db::open(self.target).await.expect("the engine is there")
    }

    /// This database's URL through each node of its Galera cluster (its
    /// own URL alone elsewhere).
    pub fn node_urls(&self) -> Vec<String> {
        match (self.target.place, &self.server) {
            (Place::Cluster, Some(server)) => {
                galera_urls().unwrap_or_default().iter().map(|node| with_database(node, &server.name)).collect()
            }
            _ => vec![self.url.clone()],
        }
    }

    /// The URL the command line takes for this database.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// What the database's engine can do.
    pub fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.target.engine.capabilities;
        if self.target.place == Place::Cluster {
            // Galera runs DDL in total order: it never waits behind a
            // transaction (it aborts it), so there is no lock wait to bound.
            capabilities.lock_timeout = false;
        }
        capabilities
    }

    /// What differs on this database's engine.
    pub fn fixture(&self) -> &'static dyn Fixture {
        fixture(self.target.engine)
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

    pub async fn status(&self, m: &Migrator<'_>) -> Vec<ebbtide::status::Row> {
        self.conn.status(m).expect("read the status")
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
        self.exec_now(sql)
    }

    /// [`Db::exec`], from a thread of the test's own.
    pub fn exec_now(&self, sql: &str) -> Result<(), String> {
        self.conn.execute(sql).map_err(|e| e.to_string())
    }

    /// [`Db::run`], from a thread of the test's own.
    pub fn run_now(&self, m: &Migrator<'_>, request: Request) -> Result<Report, Error> {
        self.conn.run(m, request)
    }

    /// The first column of every row of a query, as text (`NULL` as `NULL`).
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        self.rows(sql)
    }

    /// [`Db::strings`], for the fixtures' probes.
    /// The first column of every row `sql` returns, or the error.
    pub fn try_rows(&self, sql: &str) -> Result<Vec<String>, String> {
        let rows = self.conn.strings(sql).map_err(|e| e.to_string())?;
        Ok(rows.into_iter().map(|v| v.unwrap_or_else(|| "NULL".into())).collect())
    }

    pub fn rows(&self, sql: &str) -> Vec<String> {
        let rows = self.conn.strings(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().map(|v| v.unwrap_or_else(|| "NULL".into())).collect()
    }

    /// The engine's own command-line client, reading SQL from its stdin
    /// into this database and stopping at the first error.
    pub fn client(&self) -> std::process::Command {
        let mut command = self.fixture().client(self);
        command.stdin(std::process::Stdio::piped());
        command
    }

    /// Whether a run's lock is held by this connection's session (where the
    /// server holds it) or by this process (a lock file beside the database).
    pub async fn run_lock_held(&self) -> bool {
        self.fixture().run_lock_held(self)
    }

    /// Whether no session or process holds a run lock on this database.
    pub async fn run_lock_free(&self) -> bool {
        self.fixture().run_lock_free(self)
    }

    /// How many sessions the server has open on this database (`None`
    /// without a server).
    pub async fn sessions(&self) -> Option<usize> {
        self.fixture().sessions(self)
    }

    /// The schema an unqualified table lands in (`public`, SQLite's `main`).
    pub fn default_schema(&self) -> &'static str {
        self.fixture().default_schema()
    }

    /// See [`Fixture::moment_sql`].
    pub fn moment_sql(&self) -> &'static str {
        self.fixture().moment_sql()
    }

    /// See [`Fixture::endless_sql`].
    pub fn endless_sql(&self) -> &'static str {
        self.fixture().endless_sql()
    }

    /// See [`Fixture::refused_in_transaction_sql`].
    pub fn refused_in_transaction_sql(&self) -> Option<&'static str> {
        self.fixture().refused_in_transaction_sql()
    }

    /// See [`Fixture::index_without_transaction`]: a run proves it honoured
    /// `no-transaction` (concurrently where the engine can; SQLite, which
    /// cannot, vacuums beside it).
    pub fn index_without_transaction(&self) -> (&'static str, &'static str) {
        self.fixture().index_without_transaction()
    }

    /// How a run waiting for the lock names the one that holds it: the
    /// server's session where the lock lives in the server, the process
    /// otherwise.
    /// The version table as ebbtide's scripts name it: quoted, in the
    /// schema (or, for MySQL, the database) the run found it in.
    pub fn version_table_in_script(&self) -> String {
        self.fixture().version_table_in_script(self)
    }

    pub fn lock_holder_prefix(&self, holder_pid: u32) -> String {
        if self.target.place == Place::Cluster {
            // The lock table's row names its owner and node.
            return "run ".into();
        }
        match self.capabilities().server_lock {
            true => "server process ".into(),
            false => format!("process {holder_pid}, for "),
        }
    }

    /// Every `table.column` and index of the application's schema, sorted
    /// (the version table excluded), to compare two databases.
    pub async fn schema(&self) -> Vec<String> {
        let mut items = self.rows(self.fixture().schema_sql());
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

/// The `ebbtide` binary (`env!("CARGO_BIN_EXE_ebbtide")`, in the tests of
/// package `ebbtide`, which builds it) on the migrations in `dir` and the
/// database `url`, as a user runs it: no `DATABASE_URL` from the
/// environment, no colour, nothing on stdin.
pub fn ebbtide_cli(binary: &str, dir: &Path, url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    command
        .arg("--dir")
        .arg(dir)
        .args(["--database", url])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    command
}

/// [`ebbtide_cli`] with `-q` and `args`, started with its output piped:
/// a run a test can kill.
pub fn spawn_cli(binary: &str, dir: &Path, url: &str, args: &[&str]) -> std::process::Child {
    ebbtide_cli(binary, dir, url)
        .arg("-q")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ebbtide")
}

/// Each lock retry a run told: its attempt, and the pids in the way.
pub type Told = std::sync::Arc<std::sync::Mutex<Vec<(u32, Vec<i64>)>>>;

/// `migrator`, telling its lock retries to the list it returns.
pub fn retries_told(migrator: Migrator<'_>) -> (Migrator<'_>, Told) {
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heard = told.clone();
    let migrator = migrator.observe(move |event| {
        if let ebbtide::Event::LockRetry { attempt, blockers, .. } = event {
            heard.lock().unwrap().push((*attempt, blockers.iter().map(|b| b.pid).collect()));
        }
    });
    (migrator, told)
}

/// Runs `run` while `holder` keeps its transaction open until the run has
/// retried `retries` times (or ended), then commits it.
pub fn release_after<T: Send>(
    holder: &Db,
    told: &std::sync::Mutex<Vec<(u32, Vec<i64>)>>,
    retries: usize,
    run: impl FnOnce() -> T + Send,
) -> T {
    let finished = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while told.lock().unwrap().len() < retries && !finished.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            holder.exec_now("COMMIT").unwrap();
        });
        let result = run();
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}

/// Polls `probe` every 10 ms until it is true, for at most `limit`.
pub async fn until(limit: std::time::Duration, mut probe: impl AsyncFnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if probe().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
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

/// Declares, for each `async fn(Db)` scenario, a `#[tokio::test]` that
/// runs it on every target of every registered engine.
#[macro_export]
macro_rules! on_every_engine {
    ($($scenario:ident),* $(,)?) => {
        $crate::scenario_tests!(every_engine, |_| true, $($scenario),*);
    };
}

/// The same, for databases that outlive a connection (a file, a server's):
/// what several processes share.
#[macro_export]
macro_rules! on_persistent_engines {
    ($($scenario:ident),* $(,)?) => {
        $crate::scenario_tests!(
            persistent_engines,
            |t: &$crate::support::Target| t.place != $crate::support::Place::Memory,
            $($scenario),*
        );
    };
}

/// The same, for the features of one engine, named as the registry names
/// it (a test module named after it holds the tests).
#[macro_export]
macro_rules! on_engine {
    ($engine:ident, $($scenario:ident),* $(,)?) => {
        $crate::scenario_tests!(
            $engine,
            |t: &$crate::support::Target| t.engine.name == stringify!($engine),
            $($scenario),*
        );
    };
}

/// A module of tests, one per scenario, each running on the targets
/// `wanted` keeps.
#[macro_export]
macro_rules! scenario_tests {
    ($module:ident, $wanted:expr, $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    $crate::support::each_target($wanted, super::$scenario).await;
                }
            )*
        }
    };
}

/// In `dir`, with the openssl CLI: a CA (`ca.pem`, `ca.key`) with a server
/// certificate for `localhost` only (`server.pem`, `server.key`), and an
/// unrelated CA (`other-ca.pem`): what the TLS tests give their scratch
/// servers.
#[allow(dead_code)]
pub fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    for (name, subject) in [("ca", "/CN=ebbtide test CA"), ("other-ca", "/CN=ebbtide unrelated CA")] {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", subject, "-keyout", &key, "-out", &pem];
        args.extend(ec);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
        openssl(&args);
    }
    let mut args = vec!["req", "-new", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"];
    args.extend(ec);
    openssl(&args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}
