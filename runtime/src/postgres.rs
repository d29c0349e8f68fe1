//! PostgreSQL, through tokio-postgres.
//!
//! Every operation is async. A run holds a session-level advisory lock
//! (keyed on the version table's name) from its first write to its end, so
//! concurrent starters apply each migration exactly once; the lock is
//! released on every way out, errors included, and dies with the session
//! if the process does.
//!
//! Whatever a migration sets for its session (`search_path`, `role`,
//! timeouts, `session_replication_role`, temporary objects) ends with it:
//! the run reads the session's settings when it starts, and every step
//! returns to them before ebbtide writes its row, which addresses the
//! version table by its schema.

use std::sync::Mutex;
use std::time::Duration;

use futures_core::Stream;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::dialect::{Sql, TableName};
use crate::engine::{DbError, Driver, Guard, Lock, Placement};
use crate::error::DriverError;
use crate::ops::front_end;
use crate::record::Cell;
use crate::settings::Settings;
use crate::{Error, Script};

mod tls;

/// The operations of a [`Migrator`](crate::Migrator) on one PostgreSQL connection; see
/// [`Migrator::postgres`](crate::Migrator::postgres).
///
/// Every operation is async; the client is any tokio-postgres `Client`
/// (from [`connect`], or a pool's). At startup, apply what this release
/// adds, then refuse to serve a schema it cannot work with:
///
/// ```no_run
/// ebbtide::embed_migrations!("../migrations");
///
/// # async fn start() -> Result<(), ebbtide::Error> {
/// let client = ebbtide::postgres::connect("postgres://app@localhost/app").await?;
/// let migrator = ebbtide::Migrator::new(&migrations::MIGRATIONS);
/// let db = migrator.postgres(&client);
/// db.sync(ebbtide::Scope::Expand).await?; // one query when nothing is pending
/// let verdict = db.check().await?;
/// assert!(verdict.may_serve(), "{verdict}");
/// # Ok(())
/// # }
/// ```
pub struct Postgres<'c> {
    settings: &'c Settings<'c>,
    client: &'c Client,
    lock: Option<&'c Client>,
}

impl<'c> Postgres<'c> {
    pub(crate) fn new(settings: &'c Settings<'c>, client: &'c Client) -> Self {
        Postgres { settings, client, lock: None }
    }

    /// Holds the run lock on a second connection, in a transaction kept
    /// open for the run, instead of as a session lock on the first. A
    /// pooler in transaction mode (pgbouncer `pool_mode = transaction`)
    /// keeps a connection's server session only while a transaction is
    /// open, so this is how runs stay exactly-once through one; the CLI
    /// always does it. Without it, a run that finds its session handed
    /// between clients refuses, naming the pooler.
    pub fn lock_connection(mut self, lock: &'c Client) -> Self {
        self.lock = Some(lock);
        self
    }

    fn driver(&self) -> PgDriver<'c> {
        PgDriver { client: self.client, lock_client: self.lock, restore: Vec::new(), lock_pid: None, locked: false }
    }
}

macro_rules! awaiting {
    ($e:expr) => {
        $e.await
    };
}

front_end!(Postgres, [async], awaiting);

/// Connects to `url` (`postgres://user:password@host:port/database`),
/// spawning the connection's task on the current tokio runtime. Gives up
/// after 10 seconds unless the URL sets `connect_timeout`.
///
/// TLS follows libpq's URL parameters (with the feature `postgres-tls`,
/// which the `cli` feature includes):
///
/// | `sslmode` | TLS | the server's certificate |
/// |---|---|---|
/// | `disable` | never | - |
/// | `prefer` (the default) | if the server offers it | not checked, unless `sslrootcert` is given |
/// | `require` | always | not checked, unless `sslrootcert` is given |
/// | `verify-ca` | always | issued by a CA of `sslrootcert` |
/// | `verify-full` | always | issued by a CA of `sslrootcert`, and naming the URL's host |
///
/// `sslrootcert=PATH` names a PEM file of CA certificates; without it the
/// verifying modes trust the Mozilla roots built into ebbtide
/// (webpki-roots), as does `sslrootcert=system`, which implies
/// `verify-full`. Where libpq would go on without checking, a given
/// `sslrootcert` that cannot be read is an error. Under `prefer`, a failed
/// handshake is tried again without TLS, as libpq does. TLS is rustls with
/// the ring provider; SCRAM authentication binds itself to the TLS channel
/// when the server offers it.
///
/// ```no_run
/// # async fn run() -> Result<(), ebbtide::Error> {
/// let client =
///     ebbtide::postgres::connect("postgres://app@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
///         .await?;
/// # drop(client);
/// # Ok(())
/// # }
/// ```
///
/// Without the feature `postgres-tls`, a URL asking for TLS (`require`,
/// `verify-ca`, `verify-full` or `sslrootcert`) is refused, naming the
/// feature, and `prefer` connects without TLS. Errors name the database
/// without its password.
pub async fn connect(url: &str) -> Result<Client, Error> {
    let target = redact(url);
    let failed = |message: String| Error::Connect { target: target.clone(), message };
    let (rest, asked) = tls::Asked::from_url(url).map_err(failed)?;
    let mut config: tokio_postgres::Config =
        rest.parse().map_err(|e: tokio_postgres::Error| failed(format!("invalid URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let tls = asked.settle(config.get_ssl_mode()).map_err(failed)?;
    config.ssl_mode(tls.wire());
    let client = open(&mut config, &tls).await.map_err(failed)?;
    // If this process dies in the middle of a long statement, the server
    // notices within a second and ends the session, releasing its locks
    // (PostgreSQL 14+ on Linux; older servers refuse the setting, harmlessly).
    let _ = client.batch_execute("SET client_connection_check_interval = 1000").await;
    Ok(client)
}

/// Opens a connection under `tls`; its task runs on the current runtime.
async fn open(config: &mut tokio_postgres::Config, tls: &tls::Tls) -> Result<Client, String> {
    #[cfg(feature = "postgres-tls")]
    if tls.wanted() {
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls::client_config(tls)?);
        match config.connect(connector).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return Ok(client);
            }
            Err(e) if tls.mode == tls::SslMode::Prefer && tls::handshake_failed(&e) => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            }
            Err(e) => return Err(tls::explain(tls, &e)),
        }
    }
    #[cfg(not(feature = "postgres-tls"))]
    let _ = tls;
    let (client, connection) = config.connect(NoTls).await.map_err(|e| message(&e))?;
    tokio::spawn(connection);
    Ok(client)
}

/// The URL of another database on the same server: `url` with its database
/// replaced by `database` (for tools and tests that create scratch databases).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    crate::database::redact(url)
}

/// The most useful text of a tokio-postgres error: the server's message
/// with its code, detail and hint, or the client's cause chain.
fn message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

pub(crate) fn db_error(e: tokio_postgres::Error) -> DbError {
    let undefined_table =
        matches!(e.code(), Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME);
    let lock_timeout = e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE);
    let code = e.code().map(|c| c.code().to_string());
    DbError { message: message(&e), undefined_table, lock_timeout, code, source: Some(DriverError::new(e)) }
}

/// PostgreSQL's SQL for ebbtide's own statements.
struct PostgresSql;

impl Sql for PostgresSql {
    /// Dollar quoting when the text holds quotes or backslashes, so the
    /// result does not depend on `standard_conforming_strings`.
    fn literal(&self, text: &str) -> String {
        if !text.contains(['\'', '\\']) {
            return format!("'{text}'");
        }
        let mut tag = "$ebbtide$".to_string();
        let mut n = 0;
        // The closing tag must be the first occurrence after the opening one.
        while format!("{text}{tag}").find(&tag) != Some(text.len()) {
            n += 1;
            tag = format!("$ebbtide{n}$");
        }
        format!("{tag}{text}{tag}")
    }

    // No index beside the primary key: PostgreSQL reads the two columns in
    // a sequential scan either way, and each index is one more to open when
    // a new session plans the startup check.
    fn version_columns(&self) -> &'static str {
        "\x20 version BIGINT PRIMARY KEY,\n\
         \x20 branch TEXT NOT NULL CHECK (branch IN ('initial', 'expand', 'contract')),\n\
         \x20 name TEXT NOT NULL,\n\
         \x20 checksum TEXT NOT NULL,\n\
         \x20 fingerprint TEXT NOT NULL,\n\
         \x20 how TEXT NOT NULL CHECK (how IN ('applied', 'stamped')),\n\
         \x20 applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n\
         \x20 duration_ms BIGINT NOT NULL,\n\
         \x20 down_sql TEXT"
    }

    fn applied_at_text(&self) -> &'static str {
        "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    /// From the arrival of the batch that ran the script and carries this
    /// insert to the insert itself.
    fn server_duration(&self) -> Option<&'static str> {
        Some("(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint")
    }

    fn lock_timeout(&self, ms: u32, local: bool) -> Option<String> {
        Some(format!("SET {}lock_timeout = '{ms}ms'", if local { "LOCAL " } else { "" }))
    }

    fn reset_lock_timeout(&self) -> Option<&'static str> {
        Some("RESET lock_timeout")
    }

    /// On a table, the holders whose transaction is older than the lock
    /// timeout come first: the application's short statements that hold a
    /// lock for a moment are listed only when no older holder is there.
    fn blockers(&self, table: Option<&str>, older_than_ms: u32) -> Option<String> {
        let old = format!("a.xact_start < now() - interval '{older_than_ms} milliseconds'");
        let holders = match table {
            Some(table) => format!(
                "a.pid IN (SELECT l.pid FROM pg_catalog.pg_locks l WHERE l.granted AND l.relation = pg_catalog.to_regclass({})) \
                 AND ({old} OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity o JOIN pg_catalog.pg_locks ol ON ol.pid = o.pid \
                 WHERE ol.granted AND ol.relation = pg_catalog.to_regclass({}) AND o.pid <> pg_catalog.pg_backend_pid() \
                 AND o.xact_start < now() - interval '{older_than_ms} milliseconds'))",
                self.literal(table),
                self.literal(table)
            ),
            None => old,
        };
        Some(format!(
            "SELECT a.pid::text, coalesce(a.application_name, ''), coalesce(a.state, ''), \
             (extract(epoch FROM now() - a.xact_start) * 1000)::bigint::text, left(coalesce(a.query, ''), 200) \
             FROM pg_catalog.pg_stat_activity a \
             WHERE a.pid <> pg_catalog.pg_backend_pid() AND a.datname = current_database() AND {holders} \
             ORDER BY a.xact_start LIMIT 5"
        ))
    }

    fn invalid_index(&self, name: &str) -> Option<String> {
        Some(format!(
            "SELECT 1 FROM pg_catalog.pg_index WHERE NOT indisvalid AND indexrelid = pg_catalog.to_regclass({})",
            self.literal(name)
        ))
    }

    fn drop_index_concurrently(&self, name: &str) -> Option<String> {
        Some(format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
    }
}

pub(crate) struct PgDriver<'c> {
    client: &'c Client,
    /// The connection whose open transaction holds the run lock, if any.
    lock_client: Option<&'c Client>,
    /// That transaction is open and holds the lock.
    locked: bool,
    /// The statements that return the session to the state the run found
    /// it in (empty until [`Driver::capture_session`]).
    restore: Vec<String>,
    /// The server process that holds this run's advisory lock.
    lock_pid: Option<i64>,
}

/// Why a run cannot work through a pooler in transaction mode.
const POOLED: &str = "a pooler in transaction mode (pgbouncer pool_mode = transaction) hands server sessions from client to client, \
    and a run on one connection needs one session for its run lock: give the run a second connection for the lock \
    (Postgres::lock_connection; the CLI does), or connect directly or through a pool in session mode";

/// The advisory lock's key as `pg_locks` shows it: `classid`, `objid`.
fn lock_columns(key: i64) -> (u64, u64) {
    let key = key as u64;
    (key >> 32, key & 0xffff_ffff)
}

/// What a run reads of its session before the first step, as rows of
/// (kind, name, value): the settings set for the session, its role and
/// session user, whether it has temporary objects, and the schema that
/// holds (or would hold) the version table, `$1` here.
const CAPTURE: &str = "\
SELECT 'setting', name, pg_catalog.current_setting(name) FROM pg_catalog.pg_settings WHERE source = 'session' AND name NOT LIKE 'transaction%' \
UNION ALL SELECT 'authorization', '', pg_catalog.current_setting('session_authorization') \
UNION ALL SELECT 'role', '', pg_catalog.current_setting('role') \
UNION ALL SELECT 'temporary', '', pg_catalog.count(*)::text FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema() \
UNION ALL SELECT 'schema', '', COALESCE(\
  (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
   WHERE c.oid = pg_catalog.to_regclass($1)), pg_catalog.current_schema())";

impl PgDriver<'_> {
    /// Who holds the run lock, for runs that wait: its server process,
    /// application, client, state and for how long.
    async fn holder(&mut self, ours: &str) -> Result<Option<String>, DbError> {
        let mut holder = None;
        let who = format!(
            "SELECT 'server process ' || a.pid || coalesce(' (' || nullif(a.application_name, '') || ')', '') \
                     || coalesce(', client ' || host(a.client_addr), ', local') || ', ' || coalesce(a.state, 'unknown') \
                     || ' for ' || coalesce(extract(epoch FROM now() - a.state_change)::bigint, 0) || ' s' \
                     || CASE WHEN a.state = 'idle' AND now() - a.state_change > interval '5 seconds' THEN \
                        ': a session that holds the migration lock and does nothing is most likely a pooled server session whose client \
                        went away (pgbouncer pool_mode = transaction); if so, end it with SELECT pg_terminate_backend(' || a.pid || ')' \
                        ELSE '' END \
                     FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid WHERE {ours}"
        );
        self.query(&who, &mut |row| holder = Some(Cell::at(row, 0).text().into_owned())).await?;
        Ok(holder)
    }

    async fn unlock_session(&mut self, table: &TableName) -> Result<(), DbError> {
        let Some(locked) = self.lock_pid.take() else {
            return Ok(());
        };
        // Through a pooler in transaction mode this statement may reach
        // another server process than the one that holds the lock, which
        // then only that process can release. Pools hand out the server
        // process released last first, so a few more tries reach it.
        let sql = format!("SELECT pg_catalog.pg_advisory_unlock({}), pg_catalog.pg_backend_pid()", table.lock_key());
        let mut reached = Vec::new();
        for _ in 0..50 {
            let (mut released, mut pid) = (false, None);
            self.query(&sql, &mut |row| {
                released = Cell::at(row, 0).truthy();
                pid = Cell::at(row, 1).int();
            })
            .await?;
            if released {
                return Ok(());
            }
            reached.extend(pid.filter(|p| !reached.contains(p)));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reached: Vec<String> = reached.iter().map(ToString::to_string).collect();
        Err(DbError::new(format!(
            "server process {locked} holds the migration lock, but the connection now reaches server process(es) {}: \
                 the lock stays until that process ends (SELECT pg_terminate_backend({locked})). {POOLED}",
            reached.join(", ")
        )))
    }
}

impl Driver for PgDriver<'_> {
    fn sql(&self) -> &'static dyn Sql {
        &PostgresSql
    }

    fn batches(&self) -> bool {
        true
    }

    fn exclusive_lock(&self) -> bool {
        true
    }

    fn joins_statements(&self) -> bool {
        true
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).await.map_err(db_error)
    }

    async fn execute_parts(&mut self, parts: &[&str]) -> Result<(), (usize, DbError)> {
        // One simple query. PostgreSQL parses the whole text before running
        // any of it, so a syntax error comes back with a position in the
        // text (in characters); an error while running comes after one
        // CommandComplete per statement that succeeded.
        let mut batch = String::with_capacity(parts.iter().map(|p| p.len() + 2).sum());
        let mut ends = Vec::with_capacity(parts.len());
        let mut chars = 0;
        for part in parts {
            let start = batch.len();
            batch.push_str(part);
            if !part.trim_end().ends_with(';') {
                batch.push(';');
            }
            batch.push('\n');
            chars += batch[start..].chars().count();
            ends.push(chars);
        }
        let failed = |e: tokio_postgres::Error, completed: usize| {
            let at = match e.as_db_error().and_then(|db| db.position()) {
                Some(ErrorPosition::Original(position)) => ends.partition_point(|&end| end < *position as usize),
                _ => completed,
            };
            (at.min(parts.len().saturating_sub(1)), db_error(e))
        };
        let stream = self.client.simple_query_raw(&batch).await.map_err(|e| failed(e, 0))?;
        let mut stream = std::pin::pin!(stream);
        let mut completed = 0;
        while let Some(message) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            match message {
                Ok(SimpleQueryMessage::CommandComplete(_)) => completed += 1,
                Ok(_) => {}
                Err(e) => return Err(failed(e, completed)),
            }
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str, visit: &mut (dyn FnMut(&[Cell<'_>]) + Send)) -> Result<(), DbError> {
        let messages = self.client.simple_query(sql).await.map_err(db_error)?;
        let mut cells: Vec<Cell<'_>> = Vec::new();
        for message in &messages {
            if let SimpleQueryMessage::Row(row) = message {
                cells.clear();
                cells.extend((0..row.len()).map(|i| row.get(i).map_or(Cell::Null, |t| Cell::Text(t.as_bytes()))));
                visit(&cells);
            }
        }
        Ok(())
    }

    async fn try_lock(&mut self, table: &TableName) -> Result<Lock, DbError> {
        let key = table.lock_key();
        let (classid, objid) = lock_columns(key);
        let ours = format!(
            "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.classid::bigint = {classid} AND l.objid::bigint = {objid} \
             AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())"
        );
        if let Some(lock) = self.lock_client {
            // A transaction lock in a transaction kept open: it lives as
            // long as the transaction, whatever happens to the sessions of
            // the other connection, and dies with this one. A waiting run
            // keeps no transaction (nor a pooler's server session) open.
            // READ COMMITTED: idle between statements, the transaction holds
            // no snapshot, which CREATE INDEX CONCURRENTLY would wait for;
            // and the server's idle-in-transaction timeout must not end it.
            let take = format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL idle_in_transaction_session_timeout = 0; \
                 SELECT pg_catalog.pg_try_advisory_xact_lock({key})"
            );
            let messages = match lock.simple_query(&take).await {
                Ok(messages) => messages,
                Err(e) => {
                    let _ = lock.batch_execute("ROLLBACK").await;
                    return Err(db_error(e));
                }
            };
            let taken = messages.iter().any(|m| matches!(m, SimpleQueryMessage::Row(row) if row.get(0) == Some("t")));
            if taken {
                self.locked = true;
                return Ok(Lock::Taken);
            }
            lock.batch_execute("ROLLBACK").await.map_err(db_error)?;
            return Ok(Lock::Busy(self.holder(&ours).await?));
        }
        // Two statements in a row must reach the same server process before
        // the lock is taken there: through a pooler in transaction mode
        // they seldom do, and the lock would stay with a process this
        // client may never reach again. And a session that holds the lock
        // already would take it again: another client's, handed over.
        let mut probe = None;
        self.query("SELECT pg_catalog.pg_backend_pid()", &mut |row| probe = Cell::at(row, 0).int()).await?;
        let sql = format!(
            "SELECT CASE WHEN pg_catalog.pg_backend_pid() <> {probe} THEN 'moved' \
             WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE {ours} AND l.pid = pg_catalog.pg_backend_pid()) THEN 'held' \
             WHEN pg_catalog.pg_try_advisory_lock({key}) THEN 'taken' ELSE 'busy' END, pg_catalog.pg_backend_pid()",
            probe = probe.unwrap_or_default()
        );
        let (mut outcome, mut pid) = (String::new(), None);
        self.query(&sql, &mut |row| {
            outcome = Cell::at(row, 0).text().into_owned();
            pid = Cell::at(row, 1).int();
        })
        .await?;
        match outcome.as_str() {
            "taken" => {
                self.lock_pid = pid;
                Ok(Lock::Taken)
            }
            "held" => Err(DbError::new(format!(
                "server process {} already holds ebbtide's migration lock, taken by another client: {POOLED}",
                pid.unwrap_or_default()
            ))),
            "moved" => Err(DbError::new(format!(
                "two statements in a row reached server processes {} and {}: {POOLED}",
                probe.unwrap_or_default(),
                pid.unwrap_or_default()
            ))),
            _ => Ok(Lock::Busy(self.holder(&ours).await?)),
        }
    }

    async fn unlock(&mut self, table: &TableName) -> Result<(), DbError> {
        if let Some(lock) = self.lock_client.filter(|_| self.locked) {
            self.locked = false;
            return lock.batch_execute("COMMIT").await.map_err(db_error);
        }
        self.unlock_session(table).await
    }

    async fn pause(&mut self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn lock_held(&mut self, table: &TableName) -> Result<bool, DbError> {
        let (classid, objid) = lock_columns(table.lock_key());
        let mut held = false;
        self.query(
            &format!(
                "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
                 AND classid::bigint = {classid} AND objid::bigint = {objid} \
                 AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())"
            ),
            &mut |_| held = true,
        )
        .await?;
        Ok(held)
    }

    fn session_check(&self) -> Option<String> {
        let pid = self.lock_pid?;
        Some(format!(
            "SELECT CASE WHEN pg_catalog.pg_backend_pid() = {pid} THEN 0 ELSE ('the connection moved from server process {pid}, \
             which holds the migration lock, to server process ' || pg_catalog.pg_backend_pid() || '; {}')::int END",
            POOLED.replace('\'', "''")
        ))
    }

    async fn capture_session(&mut self, table: &TableName) -> Result<TableName, DbError> {
        let dialect = self.sql();
        let sql = CAPTURE.replace("$1", &dialect.literal(&table.quoted()));
        let (mut settings, mut authorization, mut temporary, mut schema) = (Vec::new(), None, 0, None);
        self.query(&sql, &mut |row| {
            let value = Cell::at(row, 2);
            match &*Cell::at(row, 0).text() {
                "setting" => settings.push((Cell::at(row, 1).text().into_owned(), value.text().into_owned())),
                "authorization" => authorization = Some(value.text().into_owned()),
                "role" => settings.push(("role".to_string(), value.text().into_owned())),
                "temporary" => temporary = value.int().unwrap_or(0),
                _ => schema = (value != Cell::Null).then(|| value.text().into_owned()),
            }
        })
        .await?;
        // RESET ALL takes every setting back to the session's defaults, but
        // for the session user and the role; then what differs from what
        // the session had set is set again, the session user first (a new
        // session user resets the role). The rows are filtered and set one
        // at a time, in order; in the common case nothing differs.
        let mut restore = vec!["RESET ALL".to_string()];
        let values: Vec<String> = authorization
            .map(|user| ("session_authorization".to_string(), user))
            .into_iter()
            .chain(settings)
            .map(|(name, value)| format!("({}, {})", dialect.literal(&name), dialect.literal(&value)))
            .collect();
        restore.push(format!(
            "SELECT pg_catalog.set_config(name, value, false) FROM (VALUES {}) AS settings (name, value) \
             WHERE pg_catalog.current_setting(name) IS DISTINCT FROM value",
            values.join(", ")
        ));
        // Temporary objects the run did not find are a migration's own.
        if temporary == 0 {
            restore.push("DISCARD TEMP".to_string());
        }
        self.restore = restore;
        match (table.schema(), schema) {
            (Some(_), _) => Ok(table.clone()),
            (None, Some(schema)) => Ok(table.in_schema(&schema)),
            (None, None) => Err(DbError::new(format!(
                "the session's search_path names no schema that exists, so there is nowhere to keep the version table; \
                     set search_path, or name the table as schema.{table}"
            ))),
        }
    }

    async fn existing_objects(&mut self) -> Result<Vec<String>, DbError> {
        // Tables and views of every schema but the system's, those of
        // extensions left out; another migration tool's history table first.
        let mut objects = Vec::new();
        self.query(
            &format!(
                "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e') \
                 ORDER BY c.relname NOT IN {}, 1 LIMIT 6",
                crate::dialect::other_tools_tables()
            ),
            &mut |row| objects.push(Cell::at(row, 0).text().into_owned()),
        )
        .await?;
        Ok(objects)
    }

    fn portable_guard(&self, script: &Script, placement: Placement) -> Guard {
        if !script.sets_session {
            return Guard::default();
        }
        let restore = vec!["RESET ALL".to_string(), "SET SESSION AUTHORIZATION DEFAULT".to_string()];
        match placement {
            Placement::None => Guard { after: restore, ..Guard::default() },
            Placement::Own | Placement::Run => Guard { inside: restore, ..Guard::default() },
        }
    }

    fn guard(&self, _script: &Script, placement: Placement) -> Guard {
        // The whole session, whatever the script: a function it calls can
        // change settings as well as a statement of its own.
        match placement {
            Placement::None => Guard { after: self.restore.clone(), ..Guard::default() },
            Placement::Own | Placement::Run => Guard { inside: self.restore.clone(), ..Guard::default() },
        }
    }
}

/// PostgreSQL in the registry: `postgres://` and `postgresql://` URLs.
pub(crate) const ENGINE: crate::database::Engine = crate::database::Engine {
    name: "postgres",
    urls: "postgres://user@host/database",
    capabilities: crate::database::Capabilities {
        transactional_ddl: true,
        schemas: true,
        lock_timeout: true,
        server: true,
        server_lock: true,
        databases: true,
    },
    accepts: |url| url.starts_with("postgres://") || url.starts_with("postgresql://"),
    open: open_url,
};

/// A PostgreSQL database opened from a URL, with a runtime of its own that
/// drives its connections; a writer holds the run lock on a second
/// connection (see [`Postgres::lock_connection`]).
struct Opened {
    client: Client,
    lock: Option<Client>,
    /// Always there but while dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Held by the operation under way.
    busy: Mutex<()>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        // Without waiting: it may be dropped inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn open_url(url: &str, access: crate::database::Access) -> Result<Box<dyn crate::database::Database>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Connect { target: redact(url), message: format!("cannot start the async runtime: {e}") })?;
    let connected = crate::database::blocking(&runtime, async {
        let client = connect(url).await?;
        let lock = match access {
            crate::database::Access::Write => Some(connect(url).await?),
            crate::database::Access::Read => None,
        };
        Ok((client, lock))
    });
    match connected {
        Ok((client, lock)) => Ok(Box::new(Opened { client, lock, runtime: Some(runtime), busy: Mutex::new(()) })),
        Err(e) => {
            // Without waiting: this may run inside another runtime.
            runtime.shutdown_background();
            Err(e)
        }
    }
}

impl Opened {
    /// One operation at a time: two runs on one session would share its
    /// lock. An observer must not call back into the same database.
    fn block<T: Send>(&self, future: impl Future<Output = T> + Send) -> T {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        crate::database::blocking(self.runtime.as_ref().expect("the runtime lives as long as the connections"), future)
    }

    fn front<'c>(&'c self, m: &'c crate::Migrator<'c>) -> Postgres<'c> {
        match &self.lock {
            Some(lock) => m.postgres(&self.client).lock_connection(lock),
            None => m.postgres(&self.client),
        }
    }
}

impl crate::database::Database for Opened {
    crate::database::migrator_operations!(|self, m| self.front(m), |done| self.block(done));

    fn execute(&self, sql: &str) -> Result<(), Error> {
        self.block(self.client.batch_execute(sql)).map_err(|e| Error::database("cannot run SQL", db_error(e)))
    }

    fn strings(&self, sql: &str) -> Result<Vec<Option<String>>, Error> {
        let messages =
            self.block(self.client.simple_query(sql)).map_err(|e| Error::database("cannot run SQL", db_error(e)))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
                _ => None,
            })
            .collect())
    }

    fn rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Error> {
        use tokio_postgres::types::Type;
        let fail = |e| Error::database("cannot run SQL", db_error(e));
        // The types from the statement's description, the values as the
        // server writes them as text (every type has a text form).
        let (statement, messages) = self
            .block(async {
                let statement = self.client.prepare(sql).await?;
                Ok::<_, tokio_postgres::Error>((statement, self.client.simple_query(sql).await?))
            })
            .map_err(fail)?;
        let types: Vec<Type> = statement.columns().iter().map(|c| c.type_().clone()).collect();
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| {
                            let text = row.get(i)?;
                            Some(match types.get(i) {
                                Some(&Type::BOOL) => (text == "t").to_string(),
                                // `bytea_output = hex`, the default: `\x` and the hex digits.
                                Some(&Type::BYTEA) => text.strip_prefix("\\x").unwrap_or(text).to_string(),
                                _ => text.to_string(),
                            })
                        })
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{PostgresSql, redact, with_database};
    use crate::dialect::Sql;

    #[test]
    fn with_database_swaps_only_the_database() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "t1"), "postgres://u@h/t1?sslmode=disable");
    }

    #[test]
    fn literals_survive_quotes_and_backslashes() {
        assert_eq!(PostgresSql.literal("plain"), "'plain'");
        assert_eq!(PostgresSql.literal("it's \\n"), "$ebbtide$it's \\n$ebbtide$");
        assert_eq!(PostgresSql.literal("'$ebbtide$'"), "$ebbtide1$'$ebbtide$'$ebbtide1$");
        assert_eq!(PostgresSql.literal("'x$ebbtide"), "$ebbtide1$'x$ebbtide$ebbtide1$");
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/app"), "postgres://app:***@db:5432/app");
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("postgres://db"), "postgres://db");
    }
}
