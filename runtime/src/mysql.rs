//! MySQL and MariaDB, through mysql_async.
//!
//! Every operation is async and works on a [`Pool`]: a run takes one
//! connection for its statements and a second one that holds the run lock,
//! a `GET_LOCK` named after the version table, from its first write to its
//! end. The lock is released on every way out, errors included, and dies
//! with the connection if the process does, so concurrent starters apply
//! each migration exactly once.
//!
//! MySQL commits every DDL statement on its own, so a migration that holds
//! DDL cannot be rolled back: it is recorded as started before its first
//! statement, its progress after each one, and as applied at its end. One
//! that stops half-way stays marked, with the statement it reached and the
//! server's error, and nothing runs until an operator resolves it.
//!
//! What a migration sets for its session (`sql_mode`, `time_zone`,
//! `foreign_key_checks`, the current database, lock timeouts and the
//! others of [`RESTORED`]) ends with it.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, Value};

use crate::dialect::{Sql, TableName};
use crate::engine::{DbError, Driver, Guard, Lock, Placement};
use crate::error::DriverError;
use crate::ops::front_end;
use crate::record::Cell;
use crate::settings::Settings;
use crate::{Error, Script};

mod galera;
mod tls;

/// The operations of a [`Migrator`](crate::Migrator) on a MySQL or MariaDB
/// connection pool; see [`Migrator::mysql`](crate::Migrator::mysql).
///
/// Every operation is async, and takes its connections from the pool (two
/// for a run: one holds the run lock). At startup, apply what this release
/// adds, then refuse to serve a schema it cannot work with:
///
/// ```no_run
/// ebbtide::embed_migrations!("../migrations", engine = "mysql");
///
/// # async fn start() -> Result<(), ebbtide::Error> {
/// let pool = ebbtide::mysql::connect("mysql://app@localhost/app").await?;
/// let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
/// let db = migrator.mysql(&pool);
/// db.sync(ebbtide::Scope::Expand).await?; // one query when nothing is pending
/// let verdict = db.check().await?;
/// assert!(verdict.may_serve(), "{verdict}");
/// # Ok(())
/// # }
/// ```
pub struct Mysql<'c> {
    settings: &'c Settings<'c>,
    pool: &'c Pool,
}

impl<'c> Mysql<'c> {
    pub(crate) fn new(settings: &'c Settings<'c>, pool: &'c Pool) -> Self {
        Mysql { settings, pool }
    }

    fn driver(&self) -> MyDriver<'c> {
        MyDriver {
            pool: self.pool,
            conn: None,
            lock: None,
            claim: None,
            cluster: None,
            restore: String::new(),
            autocommit: None,
        }
    }
}

macro_rules! awaiting {
    ($e:expr) => {
        $e.await
    };
}

front_end!(Mysql, [async], awaiting);

/// Opens a pool on `url` (`mysql://user:password@host:port/database`, or
/// `mariadb://...`) and checks that it reaches the server, within 10
/// seconds. The URL takes mysql_async's parameters (`?pool_min=...`).
/// Errors name the database without its password.
///
/// TLS takes the URL parameters PostgreSQL's URLs take (with the feature
/// `mysql-tls`, which the `cli` feature includes); `sslmode` also takes
/// MySQL's `--ssl-mode` names, in any case:
///
/// | `sslmode` | TLS | the server's certificate |
/// |---|---|---|
/// | `disable`, `DISABLED` (the default) | never | - |
/// | `prefer`, `PREFERRED` | if the server offers it | not checked |
/// | `require`, `REQUIRED` | always | not checked |
/// | `verify-ca`, `VERIFY_CA` | always | issued by a CA of `sslrootcert`, and (mysql_async 0.37) naming the URL's host |
/// | `verify-full`, `VERIFY_IDENTITY` | always | issued by a CA of `sslrootcert`, and naming the URL's host |
///
/// `sslrootcert=PATH` names a PEM file of CA certificates (MySQL's
/// `--ssl-ca`); alone it means `verify-ca`. Without it `verify-full` trusts
/// the Mozilla roots built into mysql_async (webpki-roots), and `verify-ca`,
/// which would then accept any publicly issued certificate, is refused, as
/// is an `sslrootcert` that `prefer` or `require` would not check. A
/// `sslrootcert` that cannot be read is an error naming it. The default is
/// no TLS, not MySQL's `PREFERRED`: mysql_async has no opportunistic TLS,
/// so `prefer` is ebbtide's: the pool's first connection tries TLS, and
/// the pool goes without it if that server does not offer it.
/// mysql_async's own `require_ssl`, `verify_ca`, `verify_identity` and
/// `built_in_roots` are refused for these. mysql_async 0.37 checks the host
/// name under `verify-ca` too (its rustls verifier misses the name errors
/// it means to let through). TLS is rustls with the ring provider, as for
/// PostgreSQL.
///
/// Connections go to the URL's host and port and stay there: mysql_async
/// would move each one to a Unix socket found at the path the server
/// reports, which on the client's machine may belong to another server
/// (and carries no TLS). `prefer_socket=true` in the URL asks for it.
///
/// ```no_run
/// # async fn run() -> Result<(), ebbtide::Error> {
/// let pool = ebbtide::mysql::connect("mysql://app:secret@db.example.com:3306/app").await?;
/// # drop(pool);
/// let pool =
///     ebbtide::mysql::connect("mysql://app@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
///         .await?;
/// # drop(pool);
/// # Ok(())
/// # }
/// ```
///
/// Without the feature `mysql-tls`, a URL asking for TLS (`require`,
/// `verify-ca`, `verify-full` or `sslrootcert`) is refused, naming the
/// feature, and `prefer` connects without TLS.
pub async fn connect(url: &str) -> Result<Pool, Error> {
    let target = redact(url);
    let failed = |message: String| Error::Connect { target: target.clone(), message };
    let (rest, tls) = tls::Tls::from_url(&mysql_url(url)).map_err(failed)?;
    let parsed = Opts::from_url(&rest).map_err(|e| failed(format!("invalid URL: {e}")))?;
    let mut builder = OptsBuilder::from_opts(parsed.clone());
    // mysql_async moves a connection to a Unix socket found at the path
    // the server reports, which on this machine may be another server's.
    if !rest.contains("prefer_socket=") {
        builder = builder.prefer_socket(false);
    }
    // The run lock's connection idles while a long migration runs: keepalive
    // probes keep a load balancer or NAT from dropping it as idle.
    if parsed.tcp_keepalive().is_none() {
        builder = builder.tcp_keepalive(Some(Duration::from_secs(30)));
    }
    let opts: Opts = builder.into();
    if opts.db_name().is_none_or(str::is_empty) {
        return Err(failed("the URL names no database: add it as its path, mysql://user@host/database".into()));
    }
    let Some(ssl) = tls.ssl_opts().map_err(failed)? else {
        return open(opts).await.map_err(|e| failed(e.map_or_else(no_answer, |e| message(&e))));
    };
    #[cfg(feature = "mysql-tls")]
    tls::install_provider();
    let secured = OptsBuilder::from_opts(opts.clone()).ssl_opts(ssl).prefer_socket(false);
    match open(secured.into()).await {
        Ok(pool) => Ok(pool),
        Err(Some(e)) if tls.mode == tls::SslMode::Prefer && tls::not_offered(&e) => {
            open(opts).await.map_err(|e| failed(e.map_or_else(no_answer, |e| message(&e))))
        }
        Err(None) => Err(failed(no_answer())),
        #[cfg(feature = "mysql-tls")]
        Err(Some(e)) => Err(failed(tls::explain(&tls, &e).unwrap_or_else(|| message(&e)))),
        #[cfg(not(feature = "mysql-tls"))]
        Err(Some(e)) => Err(failed(message(&e))),
    }
}

/// A pool on `opts` whose first connection has succeeded; `None`: no answer
/// within 10 seconds.
async fn open(opts: Opts) -> Result<Pool, Option<mysql_async::Error>> {
    let pool = Pool::new(opts);
    match tokio::time::timeout(Duration::from_secs(10), pool.get_conn()).await {
        Ok(Ok(conn)) => {
            drop(conn);
            Ok(pool)
        }
        Ok(Err(e)) => Err(Some(e)),
        Err(_) => Err(None),
    }
}

fn no_answer() -> String {
    "no answer within 10 seconds".into()
}

/// mysql_async knows the `mysql://` scheme only.
fn mysql_url(url: &str) -> String {
    match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    crate::database::redact(url)
}

/// The server's message with its error number and SQLSTATE; for the
/// client's errors, the last of its causes, which mysql_async's messages
/// each repeat ("Input/output error: Input/output error: Connection
/// refused").
fn message(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} (error {}, SQLSTATE {})", s.message, s.code, s.state),
        other => {
            let mut last = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                last = s.to_string();
                source = s.source();
            }
            last
        }
    }
}

/// MySQL's error numbers that ebbtide tells apart.
mod code {
    /// ER_DUP_ENTRY: a duplicate key.
    pub const DUPLICATE_KEY: u16 = 1062;
    /// ER_LOCK_DEADLOCK: a deadlock, or on Galera a failed certification.
    pub const DEADLOCK: u16 = 1213;
    /// ER_BAD_DB_ERROR: unknown database (a schema-qualified table).
    pub const BAD_DB: u16 = 1049;
    /// ER_NO_SUCH_TABLE.
    pub const NO_SUCH_TABLE: u16 = 1146;
    /// ER_LOCK_WAIT_TIMEOUT: a row lock or a metadata lock.
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    /// ER_LOCK_NOWAIT (`NOWAIT`).
    pub const LOCK_NOWAIT: u16 = 3572;
}

/// The server's error number of `e`, when the server refused something.
fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

fn db_error(e: mysql_async::Error) -> DbError {
    let number = server_code(&e);
    DbError {
        message: message(&e),
        undefined_table: matches!(number, Some(code::NO_SUCH_TABLE | code::BAD_DB)),
        lock_timeout: matches!(number, Some(code::LOCK_WAIT_TIMEOUT | code::LOCK_NOWAIT)),
        code: number.map(|n| n.to_string()),
        source: Some(DriverError::new(e)),
    }
}

/// The session variables a run returns to after each migration: what
/// migrations commonly set, and what ebbtide's own statements depend on.
/// Temporary tables are not listed (MariaDB 10.11 cannot list a session's
/// temporary tables): ebbtide's own statements name the version table by
/// its database, which no temporary table hides.
pub const RESTORED: &[&str] = &[
    "sql_mode",
    "time_zone",
    "foreign_key_checks",
    "unique_checks",
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "lock_wait_timeout",
    "innodb_lock_wait_timeout",
    "sql_safe_updates",
    "group_concat_max_len",
    "sql_select_limit",
];

/// MySQL's SQL for ebbtide's own statements.
struct MysqlSql;

impl Sql for MysqlSql {
    fn quote(&self, part: &str) -> String {
        format!("`{}`", part.replace('`', "``"))
    }

    /// Text with a quote or a backslash goes as a hexadecimal literal, which
    /// means the same whatever `NO_BACKSLASH_ESCAPES` says.
    fn literal(&self, text: &str) -> String {
        if !text.contains(['\'', '\\']) {
            return format!("'{text}'");
        }
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        format!("_utf8mb4 X'{hex}'")
    }

    /// InnoDB, and utf8mb4 whatever the database's default, so that names
    /// and down scripts keep every character.
    fn table_options(&self) -> &'static str {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }

    /// The portable columns, plus where a migration that stopped half-way
    /// stopped: the statement it reached, how many it has, and the
    /// server's error.
    fn version_columns(&self) -> &'static str {
        "\x20 version BIGINT PRIMARY KEY,\n\
         \x20 branch VARCHAR(16) NOT NULL CHECK (branch IN ('initial', 'expand', 'contract')),\n\
         \x20 name VARCHAR(255) NOT NULL,\n\
         \x20 checksum VARCHAR(64) NOT NULL,\n\
         \x20 fingerprint VARCHAR(16) NOT NULL,\n\
         \x20 how VARCHAR(16) NOT NULL CHECK (how IN ('applied', 'stamped')),\n\
         \x20 applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n\
         \x20 duration_ms BIGINT NOT NULL,\n\
         \x20 down_sql LONGTEXT,\n\
         \x20 reached INT NULL,\n\
         \x20 statements INT NULL,\n\
         \x20 failure TEXT NULL"
    }

    /// From the instant itself (`UNIX_TIMESTAMP` of a `TIMESTAMP` is exact),
    /// not through the session's time zone, which is ambiguous for an hour
    /// when daylight saving time ends.
    fn applied_at_text(&self) -> &'static str {
        "CONCAT(LEFT(DATE_FORMAT(DATE_ADD('1970-01-01 00:00:00', INTERVAL UNIX_TIMESTAMP(applied_at) SECOND), \
         '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')"
    }

    fn begin(&self) -> &'static str {
        "START TRANSACTION"
    }

    /// MySQL counts lock waits in whole seconds (at least one), for
    /// metadata locks (`lock_wait_timeout`) and row locks alike; there is
    /// no transaction-local form, and the run's session guard restores both.
    fn lock_timeout(&self, ms: u32, _local: bool) -> Option<String> {
        let seconds = ms.div_ceil(1000).max(1);
        Some(format!("SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}"))
    }

    fn reset_lock_timeout(&self) -> Option<&'static str> {
        Some("SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT")
    }

    /// The sessions of this database with a transaction open for longer
    /// than the lock timeout, oldest first: MySQL tells which session
    /// holds a metadata lock only through a plugin, so a table's blockers
    /// are the old transactions.
    fn blockers(&self, _table: Option<&str>, older_than_ms: u32) -> Option<String> {
        Some(format!(
            "SELECT p.ID, CONCAT(p.USER, '@', p.HOST), p.COMMAND, \
             CAST(TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)) DIV 1000 AS CHAR), LEFT(COALESCE(p.INFO, ''), 200) \
             FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
             WHERE p.ID <> CONNECTION_ID() AND p.DB = DATABASE() AND t.trx_started < NOW(6) - INTERVAL {} MICROSECOND \
             ORDER BY t.trx_started LIMIT 5",
            u64::from(older_than_ms) * 1000
        ))
    }

    fn statement_progress(
        &self,
        table: &TableName,
        version: crate::Version,
        reached: usize,
        of: usize,
    ) -> Option<String> {
        Some(format!(
            "UPDATE {} SET reached = {reached}, statements = {of}, failure = NULL WHERE version = {}",
            self.table(table),
            version.get()
        ))
    }

    fn statement_failure(
        &self,
        table: &TableName,
        version: crate::Version,
        failure: &str,
        of: usize,
    ) -> Option<String> {
        Some(format!(
            "UPDATE {} SET failure = {}, statements = {of} WHERE version = {}",
            self.table(table),
            self.literal(failure),
            version.get()
        ))
    }

    /// The progress of an earlier script (the up script's, before a down
    /// script starts) is not this one's.
    fn start_record(&self, table: &TableName, version: crate::Version) -> String {
        format!(
            "UPDATE {} SET fingerprint = '{}', reached = NULL, statements = NULL, failure = NULL WHERE version = {}",
            self.table(table),
            crate::record::STARTED,
            version.get()
        )
    }

    fn select_partial(&self, table: &TableName) -> Option<String> {
        Some(format!(
            "SELECT version, reached, statements, failure FROM {} WHERE fingerprint = '{}' ORDER BY version",
            self.table(table),
            crate::record::STARTED
        ))
    }
}

pub(crate) struct MyDriver<'c> {
    pool: &'c Pool,
    /// The connection that runs the statements, taken at the first one.
    conn: Option<Conn>,
    /// The connection that holds the run lock, and the lock's name.
    lock: Option<(Conn, String)>,
    /// On a Galera cluster, the run's claim on the lock table's row.
    claim: Option<galera::Claim>,
    /// Whether the server is a Galera node, once known.
    cluster: Option<bool>,
    /// The statements that return the session to the state the run found
    /// it in (empty until [`Driver::capture_session`]), and the one that
    /// returns `autocommit`, which may only run outside a transaction.
    restore: String,
    autocommit: Option<String>,
}

/// The name of the run lock of `table`: `GET_LOCK` names are the server's,
/// across databases, so the name is the database's and the table's,
/// hashed to fit MySQL's 64 characters.
fn lock_name(dialect: &dyn Sql, table: &TableName) -> String {
    let qualified = match table.schema() {
        Some(schema) => dialect.literal(&format!("{schema}.{}", table.name())),
        None => format!("CONCAT(DATABASE(), '.', {})", dialect.literal(table.name())),
    };
    format!("CONCAT('ebbtide:', LEFT(SHA2({qualified}, 256), 40))")
}

impl MyDriver<'_> {
    async fn conn(&mut self) -> Result<&mut Conn, DbError> {
        if self.conn.is_none() {
            let mut conn = self.pool.get_conn().await.map_err(db_error)?;
            self.cluster = Some(galera::is_cluster(&mut conn).await.map_err(db_error)?);
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just taken"))
    }

    /// On a Galera cluster, an error once the run lock is no longer the
    /// run's: another run may be migrating.
    fn still_locked(&self) -> Result<(), DbError> {
        match &self.claim {
            Some(claim) if claim.lost() => Err(DbError::new(format!(
                "the run lock expired while this run held it (it was not renewed for {} s): another run may be \
                 migrating; check `ebbtide status` before running again",
                galera::expiry().as_secs_f64()
            ))),
            _ => Ok(()),
        }
    }

    /// The run lock of a Galera cluster, through `conn`: refused through a
    /// node that is not `Synced` in the Primary component.
    async fn try_cluster_lock(&mut self, mut conn: Conn, table: &TableName) -> Result<Lock, DbError> {
        let node = galera::node(&mut conn).await.map_err(db_error)?;
        if let Some(node) = node.filter(|n| !n.ready()) {
            return Err(DbError::new(format!(
                "this node of the Galera cluster is {} in a {} component of {} node(s): it may be behind or cut \
                 off, so ebbtide does not migrate through it; use a node that is Synced in the Primary component",
                node.state, node.component, node.size
            )));
        }
        match galera::try_lock(&mut conn, self.pool, self.sql(), table).await.map_err(db_error)? {
            Ok(claim) => {
                self.claim = Some(claim);
                self.lock = Some((conn, String::new()));
                Ok(Lock::Taken)
            }
            Err(holder) => Ok(Lock::Busy(Some(holder))),
        }
    }

    /// Who holds the run lock, as far as the server tells.
    async fn holder(&mut self, name: &str) -> Result<Option<String>, DbError> {
        let mut who = None;
        self.query(
            &format!(
                "SELECT p.ID, CONCAT(p.USER, '@', p.HOST), p.TIME FROM information_schema.PROCESSLIST p \
                 WHERE p.ID = IS_USED_LOCK({name})"
            ),
            &mut |row| {
                who = Some(format!(
                    "server process {} ({}, connected for {} s)",
                    Cell::at(row, 0).text(),
                    Cell::at(row, 1).text(),
                    Cell::at(row, 2).text()
                ));
            },
        )
        .await?;
        Ok(who)
    }
}

/// A value of the text protocol as a cell, borrowed.
fn cell(value: &Value) -> Cell<'_> {
    match value {
        Value::NULL => Cell::Null,
        Value::Bytes(bytes) => Cell::Text(bytes),
        Value::Int(n) => Cell::Int(*n),
        Value::UInt(n) => i64::try_from(*n).map_or(Cell::Null, Cell::Int),
        // The text protocol sends every other value as bytes.
        _ => Cell::Null,
    }
}

impl Driver for MyDriver<'_> {
    fn sql(&self) -> &'static dyn Sql {
        &MysqlSql
    }

    fn exclusive_lock(&self) -> bool {
        true
    }

    fn joins_statements(&self) -> bool {
        true
    }

    fn transactional_ddl(&self) -> bool {
        false
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.still_locked()?;
        self.conn().await?.query_drop(sql).await.map_err(db_error)
    }

    /// On the run lock's connection, idle for the whole run and in the
    /// state the pool gave it: the script's session may hold `LOCK TABLES`
    /// (which refuses any other table) or have turned `autocommit` off.
    async fn execute_aside(&mut self, sql: &str) -> Result<(), DbError> {
        self.still_locked()?;
        let transaction = format!("START TRANSACTION; {sql}; COMMIT");
        match self.lock.as_mut() {
            Some((conn, _)) => conn.query_drop(transaction).await.map_err(db_error),
            None => self.execute(&transaction).await,
        }
    }

    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError> {
        self.conn().await?;
        // A read through one node of a cluster sees what was committed
        // through another.
        let causal = (self.cluster == Some(true)).then(|| galera::causal(sql));
        let conn = self.conn.as_mut().expect("just taken");
        let mut result = conn.query_iter(causal.as_deref().unwrap_or(sql)).await.map_err(db_error)?;
        while let Some(row) = result.next().await.map_err(db_error)? {
            let values: Vec<Value> = row.unwrap();
            let cells: Vec<Cell<'_>> = values.iter().map(cell).collect();
            visit(&cells);
        }
        result.drop_result().await.map_err(db_error)
    }

    async fn try_lock(&mut self, table: &TableName) -> Result<Lock, DbError> {
        let name = lock_name(self.sql(), table);
        let mut conn = match self.lock.take() {
            Some((conn, _)) => conn,
            None => match tokio::time::timeout(Duration::from_secs(10), self.pool.get_conn()).await {
                Ok(conn) => conn.map_err(db_error)?,
                Err(_) => {
                    return Err(DbError::new(
                        "no second connection from the pool within 10 s for the run lock: a run holds two \
                         (its statements, and the lock); give the pool room for both (pool_max of at least 2)",
                    ));
                }
            },
        };
        if galera::is_cluster(&mut conn).await.map_err(db_error)? {
            return self.try_cluster_lock(conn, table).await;
        }
        let taken: Option<Option<i64>> =
            conn.query_first(format!("SELECT GET_LOCK({name}, 0)")).await.map_err(db_error)?;
        if taken.flatten() == Some(1) {
            self.lock = Some((conn, name));
            return Ok(Lock::Taken);
        }
        drop(conn);
        Ok(Lock::Busy(self.holder(&name).await?))
    }

    async fn unlock(&mut self, _table: &TableName) -> Result<(), DbError> {
        let Some((mut conn, name)) = self.lock.take() else {
            return Ok(());
        };
        if let Some(claim) = self.claim.take() {
            return galera::unlock(&mut conn, claim).await.map_err(db_error);
        }
        let released = conn.query_drop(format!("DO RELEASE_LOCK({name})")).await.map_err(db_error);
        if released.is_err() {
            // The lock dies with its connection.
            let _ = conn.disconnect().await;
        }
        released
    }

    async fn lock_held(&mut self, table: &TableName) -> Result<bool, DbError> {
        self.conn().await?;
        if self.cluster == Some(true) {
            let dialect = self.sql();
            let conn = self.conn.as_mut().expect("just taken");
            return galera::held(conn, dialect, table).await.map_err(db_error);
        }
        let mut held = false;
        let name = lock_name(self.sql(), table);
        self.query(&format!("SELECT IS_USED_LOCK({name}) IS NOT NULL"), &mut |row| held = Cell::at(row, 0).truthy())
            .await?;
        Ok(held)
    }

    async fn pause(&mut self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn capture_session(&mut self, table: &TableName) -> Result<TableName, DbError> {
        let columns: Vec<String> = RESTORED.iter().map(|name| format!("@@SESSION.{name}")).collect();
        let sql = format!("SELECT DATABASE(), {}", columns.join(", "));
        let mut database = None;
        let mut values = Vec::new();
        self.query(&sql, &mut |row| {
            database = (Cell::at(row, 0) != Cell::Null).then(|| Cell::at(row, 0).text().into_owned());
            values = (1..=RESTORED.len())
                .map(|i| (Cell::at(row, i) != Cell::Null).then(|| Cell::at(row, i).text().into_owned()))
                .collect();
        })
        .await?;
        let dialect = self.sql();
        let (mut set, mut autocommit) = (Vec::new(), None);
        for (name, value) in RESTORED.iter().zip(&values) {
            let statement =
                format!("{name} = {}", value.as_deref().map_or_else(|| "NULL".into(), |v| setting(dialect, v)));
            match *name {
                "autocommit" => autocommit = Some(format!("SET SESSION {statement}")),
                _ => set.push(statement),
            }
        }
        self.autocommit = autocommit;
        // One round trip: the statements go together.
        let mut restore = format!("SET SESSION {}", set.join(", "));
        if let Some(database) = &database {
            restore.push_str(&format!("; USE {}", dialect.quote(database)));
        }
        self.restore = restore;
        match (table.schema(), database) {
            (Some(_), _) => Ok(table.clone()),
            (None, Some(database)) => Ok(table.in_schema(&database)),
            (None, None) => Err(DbError::new(format!(
                "the connection has no current database, so there is nowhere to keep the version table; \
                 name the database in the URL, or the table as database.{table}"
            ))),
        }
    }

    /// `autocommit` comes back once the step's transaction is over: set
    /// inside it, it would commit the transaction before the step's row.
    fn guard(&self, _script: &Script, placement: Placement) -> Guard {
        if self.restore.is_empty() {
            return Guard::default();
        }
        let autocommit = self.autocommit.iter().cloned();
        match placement {
            Placement::None => {
                let all = std::iter::once(self.restore.clone()).chain(autocommit).collect::<Vec<_>>().join("; ");
                Guard { after: vec![all], ..Guard::default() }
            }
            Placement::Own | Placement::Run => {
                Guard { inside: vec![self.restore.clone()], after: autocommit.collect(), ..Guard::default() }
            }
        }
    }

    fn portable_guard(&self, script: &Script, placement: Placement) -> Guard {
        if !script.sets_session {
            return Guard::default();
        }
        // The character sets are the client's who replays the script.
        let defaults: Vec<String> = RESTORED
            .iter()
            .filter(|name| {
                **name != "autocommit" && !name.starts_with("character_set") && !name.starts_with("collation")
            })
            .map(|name| format!("{name} = DEFAULT"))
            .collect();
        let restore = format!("SET SESSION {}", defaults.join(", "));
        let autocommit = "SET SESSION autocommit = DEFAULT".to_string();
        match placement {
            Placement::None => Guard { after: vec![restore, autocommit], ..Guard::default() },
            Placement::Own | Placement::Run => {
                Guard { inside: vec![restore], after: vec![autocommit], ..Guard::default() }
            }
        }
    }

    async fn cluster(&mut self) -> Result<Option<String>, DbError> {
        self.conn().await?;
        if self.cluster != Some(true) {
            return Ok(None);
        }
        let conn = self.conn.as_mut().expect("just taken");
        let node = galera::node(conn).await.map_err(db_error)?;
        Ok(node.map(|n| {
            format!("Galera cluster of {} nodes; this node {}, in the {} component", n.size, n.state, n.component)
        }))
    }

    async fn existing_objects(&mut self) -> Result<Vec<String>, DbError> {
        let mut objects = Vec::new();
        self.query(
            &format!(
                "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'ebbtide_run_locks' \
                 ORDER BY TABLE_NAME NOT IN {}, TABLE_NAME LIMIT 6",
                crate::dialect::other_tools_tables()
            ),
            &mut |row| objects.push(Cell::at(row, 0).text().into_owned()),
        )
        .await?;
        Ok(objects)
    }
}

/// A session variable's value as `SET` takes it: numbers bare (MySQL
/// refuses `foreign_key_checks = '1'`), text quoted.
fn setting(dialect: &dyn Sql, value: &str) -> String {
    match value.parse::<u64>() {
        Ok(_) => value.to_string(),
        Err(_) => dialect.literal(value),
    }
}

/// MySQL and MariaDB in the registry: `mysql://` and `mariadb://` URLs.
pub(crate) const ENGINE: crate::database::Engine = crate::database::Engine {
    name: "mysql",
    urls: "mysql://user@host/database (or mariadb://)",
    capabilities: crate::database::Capabilities {
        transactional_ddl: false,
        schemas: false,
        lock_timeout: true,
        server: true,
        server_lock: true,
        databases: true,
    },
    accepts: |url| url.starts_with("mysql://") || url.starts_with("mariadb://"),
    open: open_url,
};

/// A MySQL database opened from a URL, with a runtime of its own that
/// drives its pool.
struct Opened {
    pool: Pool,
    /// The connection of [`Database::execute`](crate::database::Database::execute)
    /// and `strings`: the caller's own session, kept from one call to the next.
    own: tokio::sync::Mutex<Option<Conn>>,
    /// Always there but while dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Held by the operation under way.
    busy: std::sync::Mutex<()>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        let own = self.own.get_mut().take();
        let pool = self.pool.clone();
        // Closes the connections politely when it can; without waiting
        // otherwise (it may be dropped inside another runtime).
        if tokio::runtime::Handle::try_current().is_err() {
            runtime.block_on(async {
                if let Some(conn) = own {
                    let _ = conn.disconnect().await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), pool.disconnect()).await;
            });
        } else {
            let _inside = runtime.enter();
            drop(own);
        }
        runtime.shutdown_background();
    }
}

fn open_url(url: &str, _access: crate::database::Access) -> Result<Box<dyn crate::database::Database>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Connect { target: redact(url), message: format!("cannot start the async runtime: {e}") })?;
    match crate::database::blocking(&runtime, connect(url)) {
        Ok(pool) => Ok(Box::new(Opened {
            pool,
            own: tokio::sync::Mutex::new(None),
            runtime: Some(runtime),
            busy: std::sync::Mutex::new(()),
        })),
        Err(e) => {
            runtime.shutdown_background();
            Err(e)
        }
    }
}

impl Opened {
    fn block<T: Send>(&self, future: impl Future<Output = T> + Send) -> T {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        crate::database::blocking(self.runtime.as_ref().expect("the runtime lives as long as the pool"), future)
    }

    fn front<'c>(&'c self, m: &'c crate::Migrator<'c>) -> Mysql<'c> {
        m.mysql(&self.pool)
    }

    /// Runs `work` on the caller's own connection, opened at the first call.
    async fn on_own<T>(&self, work: impl AsyncFnOnce(&mut Conn) -> Result<T, mysql_async::Error>) -> Result<T, Error> {
        let mut own = self.own.lock().await;
        if own.is_none() {
            *own = Some(self.pool.get_conn().await.map_err(|e| Error::database("cannot connect", db_error(e)))?);
        }
        let conn = own.as_mut().expect("just opened");
        work(conn).await.map_err(|e| Error::database("cannot run SQL", db_error(e)))
    }
}

impl crate::database::Database for Opened {
    crate::database::migrator_operations!(|self, m| self.front(m), |done| self.block(done));

    fn execute(&self, sql: &str) -> Result<(), Error> {
        self.block(self.on_own(async |conn| conn.query_drop(sql).await))
    }

    fn strings(&self, sql: &str) -> Result<Vec<Option<String>>, Error> {
        let rows: Vec<mysql_async::Row> = self.block(self.on_own(async |conn| conn.query(sql).await))?;
        Ok(rows
            .into_iter()
            .map(|row| match row.as_ref(0) {
                Some(Value::NULL) | None => None,
                Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(other) => Some(other.as_sql(true)),
            })
            .collect())
    }

    fn rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Error> {
        use mysql_async::consts::{ColumnFlags, ColumnType};
        let rows: Vec<mysql_async::Row> = self.block(self.on_own(async |conn| conn.query(sql).await))?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let columns = row.columns_ref();
                (0..row.len())
                    .map(|i| {
                        // Bits, and binary strings and blobs (the `binary` collation, 63).
                        let column = &columns[i];
                        let binary = column.column_type() == ColumnType::MYSQL_TYPE_BIT
                            || column.character_set() == 63
                                && column.flags().contains(ColumnFlags::BINARY_FLAG)
                                && matches!(
                                    column.column_type(),
                                    ColumnType::MYSQL_TYPE_TINY_BLOB
                                        | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
                                        | ColumnType::MYSQL_TYPE_LONG_BLOB
                                        | ColumnType::MYSQL_TYPE_BLOB
                                        | ColumnType::MYSQL_TYPE_VAR_STRING
                                        | ColumnType::MYSQL_TYPE_STRING
                                        | ColumnType::MYSQL_TYPE_VARCHAR
                                );
                        match row.as_ref(i) {
                            Some(Value::NULL) | None => None,
                            Some(Value::Bytes(b)) if binary => Some(ebbtide_core::checksum::hex(b)),
                            Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                            Some(other) => Some(other.as_sql(true)),
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{MysqlSql, mysql_url};
    use crate::dialect::{Sql, TableName};

    #[test]
    fn literals_and_names_do_not_depend_on_the_sql_mode() {
        assert_eq!(MysqlSql.literal("plain"), "'plain'");
        assert_eq!(MysqlSql.literal("it's"), "_utf8mb4 X'69742773'");
        assert_eq!(MysqlSql.literal("a\\b"), "_utf8mb4 X'615C62'");
        assert_eq!(MysqlSql.quote("we`ird"), "`we``ird`");
        assert_eq!(MysqlSql.table(&TableName::default().in_schema("app")), "`app`.`ebbtide_migrations`");
    }

    #[test]
    fn mariadb_urls_are_mysql_urls() {
        assert_eq!(mysql_url("mariadb://root@h/db"), "mysql://root@h/db");
        assert_eq!(mysql_url("mysql://root@h/db"), "mysql://root@h/db");
    }

    #[test]
    fn lock_waits_are_whole_seconds() {
        assert!(MysqlSql.lock_timeout(250, true).unwrap().contains("lock_wait_timeout = 1,"));
        assert!(MysqlSql.lock_timeout(2500, false).unwrap().contains("= 3"));
    }
}
